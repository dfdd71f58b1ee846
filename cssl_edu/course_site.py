"""The rendered course site: every lesson and problem set executed, with its outputs, as static HTML.

``cssl-edu course site OUT_DIR`` (:func:`build_site`) stages the course into a Sphinx project and
builds it with `myst-nb <https://myst-nb.readthedocs.io>`_, which executes each notebook (the
``cpu`` profile) and renders its outputs; the pages are Sphinx's, themed by Furo:

- ``notebooks/<name>.html`` — the lessons, with printed numbers and figures; a slider's figure
  shows as its PNG fallback (no widget JavaScript is loaded);
- ``exercises/<name>.html`` — the problem sets as a student gets them (not executed: their
  stubs raise ``NotImplementedError`` by design), and ``solutions/<name>.html``, executed, as a
  separate section;
- ``index.html`` — the landing page with the course map and times, ``zoo.html`` — the zoo's
  table from its cards, ``api.html`` — the package's API from its docstrings.

A warning that means a broken page — a cell that raises, a missing image, a link to a page that
does not exist, a docstring Sphinx cannot parse — fails the build (``-W --keep-going``: every
such warning is listed, then the build fails). Why Sphinx + myst-nb: ``docs/site.md``.

The site's tools are the ``site`` extra (``pip install "cssl-edu[site]"``; the ``dev`` extra
has them too).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cssl_edu.course import (
    COURSE_DIRS,
    REPOSITORY_URL,
    SITE_BASE_URL,
    course_root,
    lesson_info,
    notebooks_in,
)
from cssl_edu.executed_notebooks import EXECUTED_KEY, ExecutedNotebookError, load_executed

#: the optional-dependency group that installs the site's tools
SITE_EXTRA = "site"
#: module that must import → the PyPI package that provides it
SITE_MODULES = {"sphinx": "sphinx", "myst_nb": "myst-nb", "furo": "furo"}
#: the package's modules documented on the API page, in the order shown
API_MODULES: tuple[str, ...] = (
    "cssl_edu.data",
    "cssl_edu.augment",
    "cssl_edu.models",
    "cssl_edu.losses",
    "cssl_edu.methods",
    "cssl_edu.train",
    "cssl_edu.eval",
    "cssl_edu.text",
    "cssl_edu.analysis",
    "cssl_edu.checks",
    "cssl_edu.zoo",
    "cssl_edu.notebook",
    "cssl_edu.course",
)

#: written into every built site; only a folder holding it (or an empty one) is replaced
SITE_MARKER = ".cssl-edu-site"

_NB_LINK = re.compile(r"\]\((?P<target>[^)\s#]+\.ipynb)(?P<anchor>#[^)\s]*)?\)")


class SiteBuildError(RuntimeError):
    """The site could not be built: the message says why in one line."""


@dataclass(frozen=True)
class SiteReport:
    """What :func:`build_site` built."""

    out_dir: Path
    pages: dict[str, list[Path]]  # course folder → its HTML pages

    @property
    def index(self) -> Path:
        return self.out_dir / "index.html"


# --------------------------------------------------------------------------- checks


def missing_site_packages() -> list[str]:
    """The PyPI names of the site's tools that are not importable here (empty when all are)."""
    import importlib.util

    return [pkg for mod, pkg in SITE_MODULES.items() if importlib.util.find_spec(mod) is None]


def _check_out_dir(out_dir: Path) -> Path:
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise SiteBuildError(f"{out_dir} exists and is not a folder; give `course site` a folder to write.")
    parent = out_dir if out_dir.exists() else out_dir.parent
    if not parent.is_dir():
        raise SiteBuildError(
            f"the folder {parent} does not exist; create it first or choose another OUT_DIR."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SiteBuildError(f"cannot write to {parent} (permission denied); choose another OUT_DIR.")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / SITE_MARKER).is_file():
        raise SiteBuildError(
            f"{out_dir} holds files that are not an earlier course site; choose an empty or new OUT_DIR."
        )
    return out_dir


def _select(folder: Path, wanted: Sequence[str] | None) -> list[Path]:
    """The notebooks of ``folder`` whose name starts with one of ``wanted`` (all when ``None``)."""
    found = notebooks_in(folder)
    if wanted is None:
        return found
    chosen = [p for p in found if any(p.stem == w or p.stem.startswith(f"{w}_") for w in wanted)]
    unknown = [w for w in wanted if not any(p.stem == w or p.stem.startswith(f"{w}_") for p in found)]
    if unknown:
        raise SiteBuildError(
            f"no notebook in {folder} matches {', '.join(unknown)} (give an id such as 01 or 06b, or a file stem)."
        )
    return chosen


# --------------------------------------------------------------------------- staging


def _retarget_links(text: str, here: str, staged: set[str]) -> str:
    """Links to course notebooks left out of a partial build go to their page on the published site."""

    def repl(m: re.Match[str]) -> str:
        target = m.group("target")
        if "://" in target:
            return m.group(0)
        parts = Path(here, target).parts
        norm: list[str] = []
        for part in parts:
            if part == "..":
                if norm:
                    norm.pop()
            elif part != ".":
                norm.append(part)
        rel = "/".join(norm)
        if len(norm) != 2 or norm[0] not in COURSE_DIRS or rel in staged:
            return m.group(0)
        return f"]({SITE_BASE_URL}{rel.removesuffix('.ipynb')}.html{m.group('anchor') or ''})"

    return _NB_LINK.sub(repl, text)


def _stage_notebook(
    src: Path, dest: Path, kind: str, staged: set[str], partial: bool, executed: Path | None = None
) -> None:
    if executed is not None and kind != "exercises":
        try:
            nb = load_executed(src, executed)
        except ExecutedNotebookError as e:
            raise SiteBuildError(str(e)) from e
        nb["metadata"].pop(EXECUTED_KEY, None)
    else:
        nb = json.loads(src.read_text(encoding="utf-8"))
    # widget state would make the page load the widget manager from a CDN; without it a widget's
    # output shows its static fallback (the PNG that notebook.interactive_figure adds)
    nb.get("metadata", {}).pop("widgets", None)
    if partial:
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "markdown":
                src_text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                cell["source"] = _retarget_links(src_text, kind, staged)
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _fmt_minutes(m: float | None) -> str:
    if m is None:
        return "—"
    return f"{round(m * 60)} s" if m < 1 else f"{m:g} min"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _index_md(staged: dict[str, list[Path]], *, api: bool = True) -> str:
    lines = [
        "# cssl-edu — contrastive self-supervised learning, from scratch and for real",
        "",
        "A Jupyter-first course on contrastive self-supervised learning (SimCLR, MoCo, hard negatives, "
        "SupCon, their non-contrastive cousins and beyond), backed by the tested Python package "
        "`cssl_edu`. Every page here is a notebook executed on the `cpu` profile, shown with all its "
        "printed numbers and figures: read it without running anything. Sliders show as the figure "
        "at their initial values; run the notebook in JupyterLab to move them.",
        "",
        f"To run it yourself, install the package and start the course (see the [repository]({REPOSITORY_URL})):",
        "",
        "```bash",
        f"git clone {REPOSITORY_URL} && cd cssl-edu",
        "python3 -m venv .venv && . .venv/bin/activate",
        "pip install .",
        "cssl-edu lab",
        "```",
        "",
    ]
    lessons = staged.get("notebooks", [])
    if lessons:
        lines += [
            "## Course map",
            "",
            "Times are each lesson's measured run time, top to bottom, on a quiet 2-core CPU "
            "(`cpu` profile, lessons in order).",
            "",
            "| lesson | CPU profile | GPU profile |",
            "|---|---|---|",
        ]
        for p in lessons:
            info = lesson_info(p)
            lines.append(
                f"| [{_md_cell(info.title)}](notebooks/{p.name}) | {_fmt_minutes(info.minutes_cpu)} "
                f"| {_fmt_minutes(info.minutes_gpu) if info.minutes_gpu is not None else 'not measured'} |"
            )
        lines.append("")
    sets = staged.get("solutions", []) or staged.get("exercises", [])
    if sets:
        lines += [
            "## Problem sets",
            "",
            "Each set takes a lesson's idea one step further. Work through the exercise; the solution, "
            "executed, is in its own section. Times are a learner's working time.",
            "",
            "| problem set | exercise | solution | working time |",
            "|---|---|---|---|",
        ]
        ex = {p.name for p in staged.get("exercises", [])}
        sol = {p.name for p in staged.get("solutions", [])}
        for p in sets:
            info = lesson_info(p)
            lines.append(
                f"| {_md_cell(info.title)} "
                f"| {f'[exercise](exercises/{p.name})' if p.name in ex else '—'} "
                f"| {f'[solution](solutions/{p.name})' if p.name in sol else '—'} "
                f"| {_fmt_minutes(info.minutes_cpu)} |"
            )
        lines.append("")
    lines += [
        "## Reference",
        "",
        "- [The zoo](zoo.md): one encoder per method, trained to a fixed CPU budget, with its card's accuracy and training-seed spread.",
    ]
    if api:
        lines.append("- [API reference](api.md): the `cssl_edu` package, from its docstrings.")
    lines.append("")
    captions = {"notebooks": "Lessons", "exercises": "Problem sets", "solutions": "Solutions"}
    for kind in COURSE_DIRS:
        if staged.get(kind):
            lines += [f"```{{toctree}}\n:hidden:\n:caption: {captions[kind]}\n"]
            lines += [f"{kind}/{p.stem}" for p in staged[kind]]
            lines += ["```", ""]
    lines += ["```{toctree}\n:hidden:\n:caption: Reference\n", "zoo", *(["api"] if api else []), "```", ""]
    return "\n".join(lines)


def _zoo_md() -> str:
    from cssl_edu import zoo

    return "\n".join(
        [
            "# The zoo",
            "",
            "One `cpu`-profile encoder per method the course teaches (ConvNet, 32 px), trained to a fixed "
            "CPU budget (not to convergence) by the package's own trainer with `cssl-edu zoo build NAME`. Each row comes from the entry's "
            "card (`cssl-edu zoo show NAME`): weighted kNN (k = 200) and linear-probe accuracy of the "
            "frozen encoder on the test split, beside the same architecture at random initialisation "
            "(3 seeds); entries the lessons compare also give mean ± sd over 3 training seeds. Load one with `cssl_edu.zoo.load_backbone(NAME)`.",
            "",
            zoo.table(),
            "",
        ]
    )


def _api_md() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings of the `cssl_edu` package.",
        "",
        "```{eval-rst}",
        ".. autosummary::",
        "   :toctree: api",
        "   :recursive:",
        "",
    ]
    lines += [f"   {m}" for m in API_MODULES]
    lines += ["```", ""]
    return "\n".join(lines)


def _conf_py(*, execute: bool, timeout: int, kernel_name: str) -> str:
    settings = {
        "project": "cssl-edu",
        "author": "cssl-edu contributors",
        "extensions": [
            "cssl_edu.course_site",  # its setup(): plain-text docstrings' |x| is text
            "myst_nb",
            "sphinx.ext.autodoc",
            "sphinx.ext.autosummary",
            "sphinx.ext.napoleon",
            "sphinx.ext.mathjax",
        ],
        "html_theme": "furo",
        "html_title": "cssl-edu",
        "html_baseurl": SITE_BASE_URL,
        "exclude_patterns": ["_build", "**/.ipynb_checkpoints", "**/runs", "**/checkpoints", "**/data"],
        "autosummary_generate": True,
        "autosummary_imported_members": False,
        # each object is documented where it is defined, not again where a package re-exports it
        "autodoc_default_options": {"members": True, "show-inheritance": True, "ignore-module-all": True},
        "autodoc_typehints": "description",
        "autodoc_member_order": "bysource",
        "napoleon_google_docstring": True,
        "napoleon_numpy_docstring": False,
        "myst_enable_extensions": ["dollarmath", "amsmath"],
        "myst_heading_anchors": 3,
        "nb_execution_mode": "force" if execute else "off",
        "nb_execution_timeout": timeout,
        # a cell that raises stops its notebook and is reported as a warning with the traceback,
        # which -W turns into a failed build after every notebook ran (--keep-going): all the
        # failing notebooks are listed, each with its error (raising at once would name only the
        # first notebook, without its traceback)
        "nb_execution_raise_on_error": False,
        "nb_execution_allow_errors": False,
        "nb_execution_show_tb": True,
        "nb_execution_in_temp": False,
        # the exercises stop at NotImplementedError by design: shown as a student gets them
        "nb_execution_excludepatterns": ["exercises/*"],
        "nb_kernel_rgx_aliases": {".*": kernel_name},
        # a widget's output shows its PNG fallback; no widget JavaScript from a CDN
        "nb_mime_priority_overrides": [("html", "application/vnd.jupyter.widget-view+json", None)],
        "nb_ipywidgets_js": {},
        "nb_merge_streams": True,
        # "docutils": reStructuredText layout notes about the package's docstrings, which are written
        # as plain text for help(); every page still renders. What breaks a page (a cell that
        # raised, a missing image, a broken link or toctree entry) has other types and fails.
        "suppress_warnings": ["mystnb.unknown_mime_type", "docutils"],
    }
    lines = [
        '"""Sphinx configuration, generated by cssl_edu.course_site (do not edit: it is rebuilt)."""',
        "",
    ]
    lines += [f"{k} = {v!r}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


def _kernel_env(root: Path) -> dict[str, str]:
    """The environment of the Sphinx process and so of the kernels it starts."""
    env = dict(os.environ)
    env["CSSL_EDU_PROFILE"] = "cpu"  # the site shows the cpu profile, whatever the machine
    # figures are captured by the inline backend; a non-interactive MPLBACKEND (CI sets Agg)
    # would make every plt.show() draw nothing
    env.pop("MPLBACKEND", None)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    if not any(env.get(k) for k in ("CSSL_EDU_CIFAR_NPZ", "CSSL_EDU_CIFAR_SUBSET")):
        # the lessons look for the real CIFAR-10 subset relative to their folder; they run in a
        # staging folder here, so say where the course's own copy would have found it
        from cssl_edu.notebook import CIFAR_SUBSET_CANDIDATES

        for cand in CIFAR_SUBSET_CANDIDATES:
            path = (root / "notebooks" / cand).resolve()
            if path.is_file():
                env["CSSL_EDU_CIFAR_NPZ"] = str(path)
                break
    return env


# --------------------------------------------------------------------------- Sphinx extension

_SUBSTITUTION = re.compile(r"(?<![\\`|])\|(?=[^|\s`])([^|`\n]*?[^|\s`\\])\|(?![|`])")


def escape_bars(line: str) -> str:
    """``|D|`` in a plain-text docstring means a size or a norm, not a reST substitution: escape it.

    Grid-table rows and borders, line blocks (``| text``) and inline literals are left alone.
    """
    if re.match(r"\s*(\+[-=+]|\| )", line):
        return line
    parts = re.split(r"(``[^`]*``)", line)
    return "".join(part if part.startswith("``") else _SUBSTITUTION.sub(r"\\|\1\\|", part) for part in parts)


def _escape_docstring(
    app: object, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    lines[:] = [escape_bars(line) for line in lines]


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point (listed in the generated conf.py's ``extensions``)."""
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", _escape_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# --------------------------------------------------------------------------- build


def build_site(
    out_dir: Path,
    *,
    lessons: Sequence[str] | None = None,
    problem_sets: Sequence[str] | None = None,
    source: Path | None = None,
    execute: bool = True,
    executed: Path | None = None,
    timeout: int = 1200,
    kernel_name: str = "python3",
    api: bool = True,
    quiet: bool = False,
) -> SiteReport:
    """Build the course site into ``out_dir`` (HTML; ``out_dir/index.html`` is the landing page).

    Args:
        out_dir: the folder to write (created; its parent must exist). An earlier site there is
            replaced.
        lessons: lesson ids or stems to include (``["00", "01", "06b"]``; an id is the part of the
            file name before its first ``_``, so ``"06"`` is ``06_…``, not ``06b_…``); ``None``: all,
            ``[]``: none. A partial build links the left-out notebooks to the published site.
        problem_sets: the same for the problem sets (their exercise and solution pages).
        source: the folder holding ``notebooks/``, ``exercises/``, ``solutions/`` (default:
            :func:`cssl_edu.course.course_root`).
        execute: run the lessons and solutions (``False``: render them as stored, which shows no
            outputs).
        executed: a folder of executed copies written by the test run
            (``CSSL_EDU_SAVE_EXECUTED=DIR python -m pytest``; :mod:`cssl_edu.executed_notebooks`):
            render those instead of running the notebooks again. Every chosen lesson and solution
            must have a copy that is complete, passed, and not stale (its source unchanged since).
        timeout: seconds allowed per cell.
        kernel_name: the Jupyter kernel that runs every notebook.
        api: include the API reference (``False``: a quicker build, e.g. to check notebooks).
        quiet: print only warnings and errors.

    Raises:
        SiteBuildError: a missing tool (names the extra to install), an unusable ``out_dir``, a
            selection that matches nothing, a missing, stale or failed executed copy, or a failed
            build (a warning in strict mode: a cell that raised, a missing image, a broken link),
            with the reason in one line.
    """
    missing = missing_site_packages()
    if missing:
        raise SiteBuildError(
            f"building the site needs {', '.join(missing)}, not installed here; install the site extra: "
            f'pip install "cssl-edu[{SITE_EXTRA}]" (from a clone: pip install ".[{SITE_EXTRA}]").'
        )
    out_dir = _check_out_dir(out_dir)
    root = Path(source) if source is not None else course_root()
    chosen = {
        "notebooks": _select(root / "notebooks", lessons),
        "solutions": _select(root / "solutions", problem_sets),
        "exercises": _select(root / "exercises", problem_sets),
    }
    if not any(chosen.values()):
        raise SiteBuildError(f"no notebooks to build: {root} has none of the chosen lessons or problem sets.")
    if executed is not None:
        executed = Path(executed).expanduser().resolve()
        if not executed.is_dir():
            raise SiteBuildError(
                f"--executed {executed}: no such folder; run the tests with CSSL_EDU_SAVE_EXECUTED={executed} "
                "first (python -m pytest notebooks solutions), or build without --executed."
            )
        execute = False
    partial = lessons is not None or problem_sets is not None
    staged_names = {f"{kind}/{p.name}" for kind, paths in chosen.items() for p in paths}

    with tempfile.TemporaryDirectory(prefix="cssl-edu-site-") as tmp:
        src = Path(tmp) / "source"
        for kind, paths in chosen.items():
            if paths:
                (src / kind).mkdir(parents=True)
            for p in paths:
                _stage_notebook(p, src / kind / p.name, kind, staged_names, partial, executed)
        staged = {kind: [src / kind / p.name for p in paths] for kind, paths in chosen.items()}
        (src / "index.md").write_text(_index_md(staged, api=api), encoding="utf-8")
        (src / "zoo.md").write_text(_zoo_md(), encoding="utf-8")
        if api:
            (src / "api.md").write_text(_api_md(), encoding="utf-8")
        (src / "conf.py").write_text(
            _conf_py(execute=execute, timeout=timeout, kernel_name=kernel_name), encoding="utf-8"
        )
        build = Path(tmp) / "html"
        cmd = [
            sys.executable,
            "-m",
            "sphinx",
            "-b",
            "html",
            "-W",
            "--keep-going",
            "-d",
            str(Path(tmp) / "doctrees"),
            str(src),
            str(build),
        ]
        if quiet:
            cmd.insert(3, "-q")
        res = subprocess.run(cmd, env=_kernel_env(root), cwd=tmp, check=False)
        if res.returncode != 0:
            raise SiteBuildError(
                f"the site build failed (Sphinx exit {res.returncode}): the warnings and errors above "
                "name each broken page (a cell that raised, a missing image, a broken link)."
            )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(build, out_dir, ignore=shutil.ignore_patterns(".buildinfo", ".doctrees"))
        (out_dir / SITE_MARKER).write_text("built by `cssl-edu course site`\n", encoding="utf-8")
    pages = {kind: [out_dir / kind / f"{p.stem}.html" for p in paths] for kind, paths in chosen.items()}
    return SiteReport(out_dir=out_dir, pages=pages)
