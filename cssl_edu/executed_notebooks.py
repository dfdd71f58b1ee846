"""Executed copies of the course notebooks: written once by the test run, read by the site build.

The CI test run executes every lesson and solution under ``pytest --nbval-lax``. With
``CSSL_EDU_SAVE_EXECUTED=DIR`` set, the repository's ``conftest.py`` keeps what each cell printed
and drew and writes, per notebook, an *executed copy* ``DIR/notebooks/<name>.ipynb`` (and
``DIR/solutions/...``): the source notebook with its outputs filled in, plus a record under the
metadata key :data:`EXECUTED_KEY`::

    {"fingerprint": "<sha256 of the cells' types and sources>",
     "code_cells": 41, "failed": [], "skipped": [3], "profile": "cpu", "written": "2026-12-06T07:10:00Z"}

``cssl-edu course site OUT --executed DIR`` then renders those copies instead of running every
notebook a second time. :func:`load_executed` refuses a copy that does not show its source as
it stands: a missing copy, a stale one (the source's cells changed since the run: its fingerprint
differs), one where a cell failed, or one that was not run to the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: the environment variable that makes a pytest run save executed copies (read by conftest.py)
SAVE_EXECUTED_ENV = "CSSL_EDU_SAVE_EXECUTED"
#: the notebook-metadata key of an executed copy's record
EXECUTED_KEY = "cssl_edu_executed"


class ExecutedNotebookError(RuntimeError):
    """An executed copy is missing, stale, incomplete or records a failed cell (the message says which)."""


def _source_text(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def fingerprint(nb: Mapping[str, Any]) -> str:
    """SHA-256 of a notebook's cells (type and source, in order): what a reader sees apart from outputs.

    Outputs, execution counts and metadata are left out, so a notebook stored without outputs and
    its executed copy have the same fingerprint, and any edit to a cell changes it.
    """
    cells = [[c.get("cell_type", ""), _source_text(c)] for c in nb.get("cells", [])]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode("utf-8")).hexdigest()


def _plain_output(out: Mapping[str, Any]) -> dict[str, Any]:
    """One output as nbformat v4 stores it (nbval's records carry the message fields only)."""
    kind = out.get("output_type")
    if kind == "stream":
        return {"output_type": "stream", "name": out.get("name", "stdout"), "text": out.get("text", "")}
    if kind in ("display_data", "execute_result"):
        res: dict[str, Any] = {
            "output_type": kind,
            "data": dict(out.get("data", {})),
            "metadata": dict(out.get("metadata", {})),
        }
        if kind == "execute_result":
            res["execution_count"] = out.get("execution_count")
        return res
    if kind == "error":
        return {
            "output_type": "error",
            "ename": out.get("ename", ""),
            "evalue": out.get("evalue", ""),
            "traceback": list(out.get("traceback", [])),
        }
    raise ValueError(f"unknown output type {kind!r} (expected stream, display_data, execute_result, error)")


def executed_copy(
    source: Path,
    outputs: Mapping[int, Sequence[Mapping[str, Any]]],
    *,
    failed: Sequence[int] = (),
    skipped: Sequence[int] = (),
) -> dict[str, Any]:
    """The notebook at ``source`` with the outputs of its code cells filled in, and its record.

    Args:
        source: the notebook as stored (without outputs).
        outputs: code-cell number (0 = the first code cell, as nbval counts) → that cell's outputs.
        failed: the code cells that raised (their error output is among ``outputs``).
        skipped: the code cells the run skipped (``# NBVAL_SKIP``): no outputs, counted as run.
    """
    nb = json.loads(Path(source).read_text(encoding="utf-8"))
    code_cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    count = 0
    for i, cell in enumerate(code_cells):
        cell["outputs"] = [_plain_output(o) for o in outputs.get(i, [])]
        if i in outputs and i not in skipped:
            count += 1
            cell["execution_count"] = count
            for o in cell["outputs"]:
                if o["output_type"] == "execute_result":
                    o["execution_count"] = count
        else:
            cell["execution_count"] = None
    nb.setdefault("metadata", {})[EXECUTED_KEY] = {
        "fingerprint": fingerprint(nb),
        "code_cells": len(code_cells),
        "run": sorted(set(outputs) | set(skipped)),
        "failed": sorted(set(failed)),
        "skipped": sorted(set(skipped)),
        "profile": os.environ.get("CSSL_EDU_PROFILE", "cpu"),
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return nb


def write_executed(nb: Mapping[str, Any], dest: Path) -> Path:
    """Write an executed copy atomically (a temporary file, then a rename): never a half-written file."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def load_executed(source: Path, executed_dir: Path) -> dict[str, Any]:
    """The executed copy of ``source`` (``executed_dir/<folder>/<name>``), checked against ``source``.

    Raises:
        ExecutedNotebookError: the copy is missing or unreadable, has no record, is stale (``source``'s
            cells changed since it ran), was not run to the end, or records a failed cell.
    """
    source = Path(source)
    rel = Path(source.parent.name, source.name)
    copy = Path(executed_dir) / rel
    remedy = (
        f"run the notebooks again with {SAVE_EXECUTED_ENV}={executed_dir} "
        f"(e.g. {SAVE_EXECUTED_ENV}={executed_dir} python -m pytest {rel.parent}), or build without --executed"
    )
    if not copy.is_file():
        raise ExecutedNotebookError(f"{rel}: no executed copy in {executed_dir}; {remedy}.")
    try:
        nb = json.loads(copy.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExecutedNotebookError(f"{rel}: the executed copy {copy} cannot be read ({e}); {remedy}.") from e
    record = nb.get("metadata", {}).get(EXECUTED_KEY)
    if not isinstance(record, dict):
        raise ExecutedNotebookError(
            f"{rel}: {copy} is not an executed copy (no {EXECUTED_KEY} record); {remedy}."
        )
    current = json.loads(source.read_text(encoding="utf-8"))
    if record.get("fingerprint") != fingerprint(current) or fingerprint(nb) != fingerprint(current):
        raise ExecutedNotebookError(
            f"{rel}: the executed copy is stale — the notebook's cells changed after it ran ({record.get('written')}); "
            f"{remedy}."
        )
    n_code = sum(1 for c in current.get("cells", []) if c.get("cell_type") == "code")
    missing = sorted(set(range(n_code)) - set(record.get("run", [])))
    if missing:
        raise ExecutedNotebookError(
            f"{rel}: the run stopped before the end — code cells {_cells(missing)} of {n_code} never ran; {remedy}."
        )
    if record.get("failed"):
        raise ExecutedNotebookError(
            f"{rel}: code cells {_cells(record['failed'])} raised in the run that wrote this copy; fix them, then "
            f"{remedy[0].lower()}{remedy[1:]}."
        )
    return nb


def _cells(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:8])
    return shown + (f" (+{len(numbers) - 8} more)" if len(numbers) > 8 else "")
