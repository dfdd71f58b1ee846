"""No lesson or solution reads a file that an installed course lacks.

`cssl-edu course copy` / `cssl-edu lab` give a student the notebooks and nothing else of the
repository: a lesson that opened ``../bench/results/...`` would print a different page for a
pip-installed student than for CI. Every table a lesson reads ships as package data (e.g.
``cssl_edu.zoo.tuning_runs()``); this checks the code cells for paths into the repository.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*.ipynb"))

#: a path that leaves the notebook's folder, or names a repository-only folder
REPO_PATH = re.compile(
    r"""Path\(\s*["']\.\.["']\s*\)"""  # Path("..") / ...
    r"""|["'](?:\.\./)+[\w.-]"""  # "../bench/…", "../../x"
    r"""|["'](?:bench|tests|docs|\.ci|\.github)/"""  # "bench/results/…"
)


def repository_paths(nb: dict) -> list[str]:
    """The code lines of ``nb`` that open a path outside what an installed course holds."""
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        found += [line.strip() for line in src.splitlines() if REPO_PATH.search(line.split("#", 1)[0])]
    return found


def test_the_scan_finds_paths_into_the_repository_and_passes_package_data() -> None:
    def nb(src: str) -> dict:
        return {"cells": [{"cell_type": "code", "source": src}]}

    for bad in (
        'path = Path("..") / "bench" / "results" / "x.jsonl"',
        'TUNING = "bench/results/zoo-tuning-cpu.jsonl"',
        "open('../data/table.csv')",
        'json.load(open("../../shared/x.json"))',
    ):
        assert repository_paths(nb(bad)) == [bad], bad
    for good in (
        "runs = zoo.tuning_runs('byol')",
        'ckpt = Path("checkpoints") / "run"',
        "x = a / b  # see ../bench/results in the repository",
    ):
        assert repository_paths(nb(good)) == [], good


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_notebook_opens_a_repository_only_file(path: Path) -> None:
    found = repository_paths(json.loads(path.read_text(encoding="utf-8")))
    assert not found, (
        f"{path.relative_to(REPO)} reads files an installed course lacks (ship them as package data): "
        + "; ".join(found)
    )
