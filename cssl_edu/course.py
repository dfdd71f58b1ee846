"""Course tooling: generate exercises from solutions, list lessons, copy the course, render it to HTML.

The course has three folders of notebooks:

- ``notebooks/`` — the lessons, ``00_welcome.ipynb`` … ``14_measuring_honestly.ipynb``; a lesson in two
  parts has a second file with a letter after its number (``06b_…`` after ``06_…``);
- ``solutions/`` — problem sets with their solutions (run under nbval like the lessons);
- ``exercises/`` — generated from ``solutions/`` by :func:`make_exercises`; never edit by hand.

**Solution markers.** In a code cell of a solution notebook, the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` become one
``raise NotImplementedError("…")`` at the indentation of the BEGIN line; a hint written on
the BEGIN line (``### BEGIN SOLUTION hint: use torch.logsumexp``) is carried into the
message. Code cells tagged ``hidden-test`` (cell metadata tags) or whose source starts with
``### HIDDEN TEST`` are removed, and so is any cell — Markdown or code — tagged ``solution``
(e.g. the written answers to a problem set's questions). Outputs and execution counts are
cleared. Put solution
blocks inside functions (or make every later use of their names call a function), so that
an exercise notebook fails with ``NotImplementedError`` only, never with a ``NameError``.

**Lesson metadata.** A notebook's title and time estimates come from its notebook-level
metadata::

    "metadata": {"cssl_edu": {"title": "NT-Xent and temperature", "minutes_cpu": 1.5, "minutes_gpu": 1}}

falling back to the first Markdown heading, then to the file name. For a lesson the minutes
are its measured run time, top to bottom (CPU: the ``cpu`` profile on 2 cores, as CI runs the
lessons in order); for a problem set they are a learner's working time.

**Where the course is found** (:func:`course_root`): ``$CSSL_EDU_COURSE_DIR`` if set; the
copy inside an installed wheel (``cssl_edu/_course/``, put there by ``setup.py``'s build
step); or the repository root of a source checkout / editable install.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COURSE_DIRS: tuple[str, ...] = ("notebooks", "exercises", "solutions")
META_KEY = "cssl_edu"
HIDDEN_TAG = "hidden-test"
SOLUTION_TAG = "solution"  # any cell kept only in solutions/ (written answers)
HIDDEN_PREFIX = "### HIDDEN TEST"
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
DEFAULT_HINT = "replace this line with your code"


# --------------------------------------------------------------------------- where the course is


def course_root() -> Path:
    """The folder that holds ``notebooks/``, ``exercises/`` and ``solutions/``.

    Raises:
        FileNotFoundError: when none of the places described in the module docstring has them.
    """
    env = os.environ.get("CSSL_EDU_COURSE_DIR")
    if env:
        root = Path(env)
        if not any((root / d).is_dir() for d in COURSE_DIRS):
            raise FileNotFoundError(
                f"$CSSL_EDU_COURSE_DIR={env} holds none of {', '.join(COURSE_DIRS)}; point it at the "
                "folder that contains them."
            )
        return root
    pkg = Path(__file__).resolve().parent
    candidates = [pkg / "_course", pkg.parent]
    for root in candidates:
        if any((root / d).is_dir() for d in COURSE_DIRS):
            return root
    raise FileNotFoundError(
        "cannot find the course notebooks: this installation of cssl-edu has no cssl_edu/_course "
        "folder and is not a source checkout. Reinstall from a wheel built by `python -m build`, "
        "or set CSSL_EDU_COURSE_DIR to a folder holding notebooks/, exercises/, solutions/."
    )


def notebooks_in(folder: Path) -> list[Path]:
    """The ``.ipynb`` files directly in ``folder``, sorted by name (checkpoints skipped)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file())


# --------------------------------------------------------------------------- reading and writing


def read_notebook(path: Path) -> Any:
    """Read a notebook as nbformat v4."""
    import nbformat

    with open(path, encoding="utf-8") as f:
        return nbformat.read(f, as_version=4)


def notebook_text(nb: Any) -> str:
    """Serialise ``nb`` exactly as nbformat writes it (v4, sorted keys, indent 1), newline-terminated."""
    import nbformat

    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


# --------------------------------------------------------------------------- lessons


@dataclass(frozen=True)
class Lesson:
    """One notebook of the course, as ``course list`` shows it."""

    path: Path
    title: str
    minutes_cpu: float | None = None
    minutes_gpu: float | None = None

    @property
    def name(self) -> str:
        return self.path.stem


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _first_heading(nb: dict[str, Any]) -> str | None:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        for line in _source(cell).splitlines():
            m = re.match(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
            if m:
                return m.group(1).strip()
        return None  # only the first Markdown cell counts
    return None


def _minutes(value: Any, path: Path, key: str) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{path}: metadata {META_KEY}.{key} must be a number of minutes, got {value!r}."
        ) from None
    return int(out) if out.is_integer() else out


def lesson_info(path: Path) -> Lesson:
    """Title and time estimates of one notebook (metadata, else first heading, else file name)."""
    # plain JSON: listing needs no validation, and importing nbformat costs seconds
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not a valid notebook (JSON error: {e}).") from None
    meta = nb.get("metadata", {}).get(META_KEY, {}) or {}
    if not isinstance(meta, dict):
        raise ValueError(
            f"{path}: notebook metadata '{META_KEY}' must be an object, got {type(meta).__name__}."
        )
    title = meta.get("title") or _first_heading(nb) or path.stem.replace("_", " ")
    return Lesson(
        path=path,
        title=str(title),
        minutes_cpu=_minutes(meta.get("minutes_cpu"), path, "minutes_cpu"),
        minutes_gpu=_minutes(meta.get("minutes_gpu"), path, "minutes_gpu"),
    )


def list_lessons(folder: Path) -> list[Lesson]:
    """:func:`lesson_info` of every notebook in ``folder``."""
    return [lesson_info(p) for p in notebooks_in(folder)]


def format_lessons(lessons: Sequence[Lesson]) -> str:
    """A plain-text table: name, title, CPU and GPU minutes (and the totals)."""

    def fmt(m: float | None) -> str:
        return "-" if m is None else f"{m:g} min"

    rows = [(ls.name, ls.title, fmt(ls.minutes_cpu), fmt(ls.minutes_gpu)) for ls in lessons]
    tot_cpu = sum(ls.minutes_cpu or 0 for ls in lessons)
    tot_gpu = sum(ls.minutes_gpu or 0 for ls in lessons)
    rows.append(("", "total", fmt(tot_cpu) if tot_cpu else "-", fmt(tot_gpu) if tot_gpu else "-"))
    header = ("lesson", "title", "CPU", "GPU")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- exercises from solutions


def _is_hidden(cell: Any) -> bool:
    tags = cell.get("metadata", {}).get("tags", []) or []
    return HIDDEN_TAG in tags or str(cell.source).lstrip().startswith(HIDDEN_PREFIX)


def _hint_of(marker_line: str) -> str:
    rest = marker_line.strip()[len(BEGIN) :].strip()
    m = re.match(r"^hint\s*:\s*(.*)$", rest, flags=re.IGNORECASE)
    return m.group(1).strip() if m else ""


def strip_solutions(source: str, where: str = "cell") -> str:
    """Replace every ``### BEGIN SOLUTION`` … ``### END SOLUTION`` block of ``source`` by a ``raise``.

    Raises:
        ValueError: an unclosed block, an END without BEGIN, or nested blocks.
    """
    out: list[str] = []
    inside: str | None = None
    for n, line in enumerate(source.split("\n"), start=1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside is not None:
                raise ValueError(
                    f"{where}, line {n}: '{BEGIN}' inside another solution block (opened at {inside})."
                )
            inside = f"line {n}"
            indent = line[: len(line) - len(line.lstrip())]
            hint = _hint_of(line)
            message = f"Exercise: {DEFAULT_HINT}." + (f" Hint: {hint}" if hint else "")
            out.append(f"{indent}raise NotImplementedError({json.dumps(message, ensure_ascii=False)})")
        elif stripped.startswith(END):
            if inside is None:
                raise ValueError(f"{where}, line {n}: '{END}' without a matching '{BEGIN}'.")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise ValueError(f"{where}: '{BEGIN}' at {inside} is never closed by '{END}'.")
    return "\n".join(out)


def _cell_id(stem: str, index: int, cell: Any) -> str:
    cid = cell.get("id")
    if isinstance(cid, str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", cid):
        return cid
    return hashlib.sha1(f"{stem}:{index}".encode()).hexdigest()[:8]


def make_exercise(nb: Any, name: str = "notebook") -> Any:
    """The exercise version of solution notebook ``nb`` (a new notebook; ``nb`` is not changed)."""
    import copy

    import nbformat

    src = copy.deepcopy(nb)
    cells = []
    for i, cell in enumerate(src.cells):
        cell["id"] = _cell_id(name, i, cell)
        if SOLUTION_TAG in (cell.get("metadata", {}).get("tags", []) or []):
            continue
        if cell.cell_type == "code":
            if _is_hidden(cell):
                continue
            cell.source = strip_solutions(str(cell.source), where=f"{name}, cell {i}")
            cell.outputs = []
            cell.execution_count = None
        cell.get("metadata", {}).pop("execution", None)  # timestamps written by nbclient
        cells.append(cell)
    src.cells = cells
    src.nbformat, src.nbformat_minor = 4, max(5, int(src.get("nbformat_minor", 5)))
    nbformat.validate(src)
    return src


@dataclass(frozen=True)
class SyncReport:
    """What :func:`make_exercises` wrote (or, with ``check``, found out of date)."""

    written: list[Path]
    differing: list[Path]
    stale: list[Path]
    unchanged: list[Path]

    @property
    def in_sync(self) -> bool:
        return not self.differing and not self.stale


def make_exercises(solutions: Path, exercises: Path, *, check: bool = False) -> SyncReport:
    """Generate ``exercises/<name>.ipynb`` from every ``solutions/<name>.ipynb``.

    Args:
        solutions: folder of solution notebooks.
        exercises: folder to write into (created if missing).
        check: write nothing; report the exercise files that differ from what would be
            generated (``differing``) and exercise notebooks with no solution (``stale``).

    The output is deterministic: running twice gives byte-identical files, and a file whose
    content would not change is not rewritten.
    """
    solutions, exercises = Path(solutions), Path(exercises)
    if not solutions.is_dir():
        raise FileNotFoundError(f"solutions folder not found: {solutions}")
    written, differing, unchanged = [], [], []
    sources = notebooks_in(solutions)
    for sol in sources:
        text = notebook_text(make_exercise(read_notebook(sol), name=sol.stem))
        target = exercises / sol.name
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current == text:
            unchanged.append(target)
        elif check:
            differing.append(target)
        else:
            exercises.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(target)
    names = {s.name for s in sources}
    stale = [p for p in notebooks_in(exercises) if p.name not in names]
    return SyncReport(written=written, differing=differing, stale=stale, unchanged=unchanged)


# --------------------------------------------------------------------------- copy and render


def copy_course(dest: Path, kinds: Iterable[str] = COURSE_DIRS, *, force: bool = False) -> list[Path]:
    """Copy the chosen course folders from :func:`course_root` into ``dest``; return the folders written.

    Raises:
        FileExistsError: ``dest/<kind>`` exists and is not empty, unless ``force``.
        FileNotFoundError: none of the chosen folders exists in this installation.
    """
    root, dest = course_root(), Path(dest)
    kinds = list(kinds)
    found = [k for k in kinds if (root / k).is_dir()]
    if not found:
        raise FileNotFoundError(f"{root} has none of {', '.join(kinds)}.")
    for k in found:
        target = dest / k
        if target.exists() and any(target.iterdir()) and not force:
            raise FileExistsError(f"{target} exists and is not empty; pass --force to overwrite it.")
    out = []
    for k in found:
        shutil.copytree(
            root / k,
            dest / k,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
        out.append(dest / k)
    return out


def render_html(
    dest: Path,
    kinds: Iterable[str] = ("notebooks",),
    *,
    execute: bool = True,
    timeout: int = 1200,
    kernel_name: str = "python3",
    source: Path | None = None,
) -> list[Path]:
    """Render the course's notebooks to ``dest/<kind>/<name>.html`` (executing them first by default).

    Notebooks run with ``dest/<kind>`` as their working directory (checkpoints and data they
    write land there). Exercise notebooks are executed with errors allowed — they stop at
    ``NotImplementedError`` by design; an error in a lesson or solution notebook is raised.

    Args:
        dest: output folder.
        kinds: which of ``notebooks``, ``exercises``, ``solutions``.
        execute: run the notebooks before rendering (``False``: render as stored).
        timeout: seconds allowed per cell.
        kernel_name: Jupyter kernel to execute with.
        source: folder holding the ``kinds`` folders (default :func:`course_root`).
    """
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    root = Path(source) if source is not None else course_root()
    exporter = HTMLExporter()
    written = []
    for kind in kinds:
        out_dir = Path(dest) / kind
        for path in notebooks_in(root / kind):
            nb = read_notebook(path)
            out_dir.mkdir(parents=True, exist_ok=True)
            if execute:
                ep = ExecutePreprocessor(
                    timeout=timeout, kernel_name=kernel_name, allow_errors=(kind == "exercises")
                )
                ep.preprocess(nb, {"metadata": {"path": str(out_dir)}})
            # no widget state in the page: a widget's output then shows its static MIME type (the
            # PNG that notebook.interactive_figure adds), which needs no JavaScript or network
            nb.metadata.pop("widgets", None)
            body, _ = exporter.from_notebook_node(
                nb, resources={"metadata": {"name": lesson_info(path).title}}
            )
            target = out_dir / f"{path.stem}.html"
            target.write_text(body, encoding="utf-8")
            written.append(target)
    return written


# --------------------------------------------------------------------------- where the course lives online

#: The project's repository: ``[project.urls] Homepage`` in pyproject.toml (a test keeps them equal).
REPOSITORY_URL = "https://github.com/cssl-edu/cssl-edu"

#: Where the rendered course is published: the GitHub Pages address that follows from
#: :data:`REPOSITORY_URL` (``https://<owner>.github.io/<name>/``), deployed there by
#: ``.github/workflows/pages.yml``. Every "Read it rendered" link is built from this one constant.
SITE_BASE_URL = "https://cssl-edu.github.io/cssl-edu/"

#: What a fresh environment (Colab) installs until the first release is on PyPI: the package
#: straight from the repository. Once released, this becomes plain ``cssl-edu``.
PREVIEW_INSTALL_SPEC = f"cssl-edu @ git+{REPOSITORY_URL}"

INSTALL_CELL_MARK = "%pip install"
RENDERED_LINK_PREFIX = "Read it rendered"


def rendered_url(kind: str, name: str) -> str:
    """The address of notebook ``<kind>/<name>.ipynb`` on the published course site."""
    return f"{SITE_BASE_URL}{kind}/{name}.html"


def colab_url(kind: str, filename: str) -> str:
    """The *Open in Colab* address of ``<kind>/<filename>`` on the repository's main branch."""
    repo = REPOSITORY_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{repo}/blob/main/{kind}/{filename}"


def install_cell_source() -> str:
    """The source of a lesson's first code cell: install the package only where it is missing.

    The install line names :data:`PREVIEW_INSTALL_SPEC` (a direct reference to the repository,
    which pip builds from source: the wheel's build step ships the course and the zoo with it)
    because ``pip install cssl-edu`` fails until the first release is on PyPI. The ``try`` guard
    leaves an environment that already has the package (a clone, ``cssl-edu lab``) untouched.
    """
    return (
        "# On Colab (or any fresh environment) install the course package — only when it is missing.\n"
        "# Until the first release is on PyPI it comes from the repository; after it: %pip install cssl-edu\n"
        "try:\n"
        "    import cssl_edu  # noqa: F401\n"
        "except ImportError:\n"
        f'    %pip install -q "{PREVIEW_INSTALL_SPEC}"'
    )


def rendered_link_line(kind: str, name: str) -> str:
    """The header line of a lesson that links to its rendered page (outputs and figures, nothing to run)."""
    url = rendered_url(kind, name)
    return f"{RENDERED_LINK_PREFIX}, with every output and figure: [{url.removeprefix('https://')}]({url})"


def _with_header(source: str, kind: str, path: Path) -> str:
    lines = [ln for ln in source.split("\n") if not ln.startswith(RENDERED_LINK_PREFIX)]
    badge = next((i for i, ln in enumerate(lines) if "colab-badge" in ln), None)
    if badge is not None:
        lines[badge] = (
            f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(kind, path.name)})"
        )
        at = badge + 1
    else:  # no badge: right after the title
        at = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("#")), 0)
    # the link is its own paragraph: one blank line before and after it
    while at < len(lines) and not lines[at].strip():
        del lines[at]
    lines[at:at] = ["", rendered_link_line(kind, path.stem), ""]
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _lines(text: str) -> list[str]:
    """A cell source as nbformat stores it: a list of lines, each but the last ending in a newline."""
    return text.splitlines(keepends=True)


def update_notebook_headers(root: Path, *, kind: str = "notebooks", check: bool = False) -> list[Path]:
    """Give each lesson in ``root/<kind>`` the Colab install cell and the "Read it rendered" link.

    In every notebook: the first code cell that runs ``%pip install`` becomes
    :func:`install_cell_source`; in the first Markdown cell, the Colab badge points at
    :data:`REPOSITORY_URL` and the line below it links to the lesson's page under
    :data:`SITE_BASE_URL` (:func:`rendered_link_line`), replacing an earlier such line. Only those
    two cells change, and the file keeps its JSON layout (key order, one-space indent), so the
    diff is those lines alone; running it again changes nothing.

    Args:
        root: the folder holding ``notebooks/`` (a source checkout).
        kind: which course folder to update.
        check: write nothing; return the notebooks that would change.

    Returns:
        the notebooks written (or, with ``check``, those that are out of date).

    Raises:
        ValueError: a notebook has no Markdown cell or no install cell to update.
    """
    changed = []
    for path in notebooks_in(Path(root) / kind):
        before = path.read_text(encoding="utf-8")
        try:
            nb = json.loads(before)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not a valid notebook (JSON error: {e}).") from None
        cells = nb.get("cells", [])
        md = next((c for c in cells if c.get("cell_type") == "markdown"), None)
        install = next(
            (c for c in cells if c.get("cell_type") == "code" and INSTALL_CELL_MARK in _source(c)), None
        )
        if md is None or install is None:
            missing = "Markdown header cell" if md is None else f"code cell with '{INSTALL_CELL_MARK}'"
            raise ValueError(f"{path}: no {missing} to update.")
        md["source"] = _lines(_with_header(_source(md), kind, path))
        install["source"] = _lines(install_cell_source())
        after = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if after != before:
            if not check:
                path.write_text(after, encoding="utf-8")
            changed.append(path)
    return changed
