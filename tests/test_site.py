"""`cssl-edu course site`: the rendered course, and the lesson headers that link to it.

One build of a small part of the real course (lesson 01, which has sliders, and problem set 01),
executed by nbval and rendered from those executed copies as CI does, is checked page by page: outputs, figures, links, the landing page, the zoo and the API
reference. Small fixture courses check that a broken page fails the build.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import tomllib

from cssl_edu import course
from cssl_edu.cli import main
from cssl_edu.course_site import (
    SITE_MARKER,
    SiteBuildError,
    _retarget_links,
    _select,
    build_site,
    escape_bars,
    missing_site_packages,
)
from cssl_edu.executed_notebooks import (
    EXECUTED_KEY,
    SAVE_EXECUTED_ENV,
    ExecutedNotebookError,
    executed_copy,
    fingerprint,
    load_executed,
    write_executed,
)

REPO = Path(__file__).resolve().parents[1]
needs_site_tools = pytest.mark.skipif(
    bool(missing_site_packages()), reason="the site extra (sphinx, myst-nb, furo) is not installed"
)


class _Page(HTMLParser):
    """The images, links and text of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: Path) -> _Page:
    p = _Page()
    p.feed(page.read_text(encoding="utf-8"))
    return p


def _local_target(page: Path, href: str) -> Path | None:
    """The file a relative link of ``page`` points at (None for external or same-page links)."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    return (page.parent / unquote(parts.path)).resolve()


# --------------------------------------------------------------------------- unit tests (no build)


def test_bars_in_plain_text_docstrings_are_escaped_but_tables_and_literals_are_not() -> None:
    assert escape_bars("the bank size |D| and |A| crops") == r"the bank size \|D\| and \|A\| crops"
    assert escape_bars("window |i − j| ≤ w") == r"window \|i − j\| ≤ w"
    assert escape_bars("| a | b |") == "| a | b |"  # a line block / table row
    assert escape_bars("+---+---+") == "+---+---+"
    assert escape_bars("see ``|D|`` here") == "see ``|D|`` here"
    assert escape_bars("a || b and ‖p‖") == "a || b and ‖p‖"


def test_partial_build_links_left_out_notebooks_to_the_published_site() -> None:
    staged = {"notebooks/01_a.ipynb", "exercises/01_a.ipynb"}
    text = (
        "[next](02_b.ipynb) [here](01_a.ipynb#sec) [set](../exercises/01_a.ipynb) "
        "[sol](../solutions/01_a.ipynb) [ext](https://x.org/a.ipynb)"
    )
    out = _retarget_links(text, "notebooks", staged)
    assert f"[next]({course.SITE_BASE_URL}notebooks/02_b.html)" in out
    assert "[here](01_a.ipynb#sec)" in out and "[set](../exercises/01_a.ipynb)" in out
    assert f"[sol]({course.SITE_BASE_URL}solutions/01_a.html)" in out
    assert "[ext](https://x.org/a.ipynb)" in out


def test_site_base_url_follows_from_the_configured_repository() -> None:
    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Homepage"] == course.REPOSITORY_URL
    owner, name = course.REPOSITORY_URL.removeprefix("https://github.com/").split("/")
    assert course.SITE_BASE_URL == f"https://{owner}.github.io/{name}/"  # GitHub Pages of that repository
    assert urls["Documentation"] == course.SITE_BASE_URL
    assert course.PREVIEW_INSTALL_SPEC == f"cssl-edu @ git+{course.REPOSITORY_URL}"


@pytest.mark.parametrize(
    ("make_dest", "message"),
    [
        (lambda tmp: tmp / "missing" / "site", "does not exist"),
        (lambda tmp: (tmp / "file.txt", (tmp / "file.txt").write_text("x"))[0], "is not a folder"),
        (
            lambda tmp: (tmp / "mine", (tmp / "mine").mkdir(), (tmp / "mine" / "notes.txt").write_text("x"))[
                0
            ],
            "not an earlier course site",
        ),
    ],
)
def test_unusable_out_dir_is_one_clear_line(
    make_dest,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("cssl_edu.course_site.missing_site_packages", lambda: [])
    dest = make_dest(tmp_path)
    assert main(["course", "site", str(dest)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cssl-edu: error:") and message in err and "\n" not in err
    if dest.name == "mine":
        assert (dest / "notes.txt").read_text() == "x", "a folder that is not a site is never replaced"


def test_unwritable_out_dir_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cssl_edu.course_site.missing_site_packages", lambda: [])
    monkeypatch.setattr("cssl_edu.course_site.os.access", lambda path, mode: False)  # root may write anywhere
    assert main(["course", "site", str(tmp_path / "site")]) == 1
    err = capsys.readouterr().err.strip()
    assert "permission denied" in err and "\n" not in err


def test_missing_site_tools_name_the_extra_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cssl_edu.course_site.missing_site_packages", lambda: ["myst-nb"])
    assert main(["course", "site", str(tmp_path / "site")]) == 1
    err = capsys.readouterr().err.strip()
    assert "myst-nb" in err and 'pip install "cssl-edu[site]"' in err and "\n" not in err
    assert not (tmp_path / "site").exists()


def test_site_extra_lists_what_the_build_imports() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.match(r"[A-Za-z0-9_.\-]+", r).group(0).lower() for r in extras["site"]}
    assert names == {"sphinx", "myst-nb", "furo"}
    dev = {re.match(r"[A-Za-z0-9_.\-]+", r).group(0).lower() for r in extras["dev"]}
    assert names <= dev, "the dev extra builds the site in tests and CI"


def test_unknown_lesson_number_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cssl_edu.course_site.missing_site_packages", lambda: [])
    with pytest.raises(SiteBuildError, match=r"no notebook .* matches 99"):
        build_site(tmp_path / "site", lessons=["99"], problem_sets=[], source=REPO)


def test_a_lesson_id_selects_that_lesson_and_not_its_later_part(tmp_path: Path) -> None:
    for name in ("06_moco_a", "06b_moco_b", "07_c"):
        _lesson(tmp_path, name)
    folder = tmp_path / "notebooks"
    assert [p.stem for p in _select(folder, ["06"])] == ["06_moco_a"]
    assert [p.stem for p in _select(folder, ["06b"])] == ["06b_moco_b"]
    assert [p.stem for p in _select(folder, ["06", "06b", "07_c"])] == ["06_moco_a", "06b_moco_b", "07_c"]
    with pytest.raises(SiteBuildError, match="matches 06c"):
        _select(folder, ["06c"])


# --------------------------------------------------------------------------- lesson headers


def _lesson(tmp: Path, name: str, install: str = "%pip install -q cssl-edu") -> Path:
    nb = {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "h",
                "metadata": {},
                "source": [
                    "# 05 — A lesson\n",
                    "\n",
                    "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                    "(https://colab.research.google.com/github/someone/else/blob/main/notebooks/x.ipynb)\n",
                    "\n",
                    "**Learning objectives.** …",
                ],
            },
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "i",
                "metadata": {},
                "outputs": [],
                "source": ["try:\n", "    import cssl_edu\n", "except ImportError:\n", f"    {install}"],
            },
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "c",
                "metadata": {},
                "outputs": [],
                "source": ["print(1)"],
            },
        ],
        "metadata": {"kernelspec": {"name": "python3"}, "cssl_edu": {"title": "A lesson"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp / "notebooks").mkdir(parents=True, exist_ok=True)
    path = tmp / "notebooks" / f"{name}.ipynb"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_headers_link_the_rendered_page_and_install_from_the_repository_idempotently(tmp_path: Path) -> None:
    path = _lesson(tmp_path, "05_lesson")
    assert course.update_notebook_headers(tmp_path, check=True) == [path]
    assert course.update_notebook_headers(tmp_path) == [path]
    once = path.read_text(encoding="utf-8")
    assert course.update_notebook_headers(tmp_path) == [], "a second run changes nothing"
    assert path.read_text(encoding="utf-8") == once
    nb = json.loads(once)
    header = "".join(nb["cells"][0]["source"])
    url = f"{course.SITE_BASE_URL}notebooks/05_lesson.html"
    assert f"({url})" in header and header.count("Read it rendered") == 1
    assert "colab.research.google.com/github/cssl-edu/cssl-edu/blob/main/notebooks/05_lesson.ipynb" in header
    assert (
        header.index("colab-badge") < header.index("Read it rendered") < header.index("Learning objectives")
    )
    install = "".join(nb["cells"][1]["source"])
    assert f'%pip install -q "{course.PREVIEW_INSTALL_SPEC}"' in install and "except ImportError:" in install
    assert nb["cells"][2]["source"] == ["print(1)"], "other cells are left alone"
    compile(install.replace("%pip", "pass  #"), "install-cell", "exec")  # valid Python around the magic


def test_headers_replace_an_earlier_link_instead_of_adding_a_second(tmp_path: Path, monkeypatch) -> None:
    path = _lesson(tmp_path, "05_lesson")
    monkeypatch.setattr(course, "SITE_BASE_URL", "https://old.example/")
    course.update_notebook_headers(tmp_path)
    monkeypatch.undo()
    course.update_notebook_headers(tmp_path)
    header = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert header.count("Read it rendered") == 1 and "old.example" not in header


def test_headers_without_an_install_cell_are_an_error(tmp_path: Path) -> None:
    _lesson(tmp_path, "05_lesson", install="print('no install here')")
    with pytest.raises(ValueError, match="no code cell with '%pip install'"):
        course.update_notebook_headers(tmp_path)


def test_every_lesson_links_its_rendered_page_and_installs_from_the_repository() -> None:
    """`cssl-edu course headers` has been applied to notebooks/ (run it after editing a header)."""
    stale = course.update_notebook_headers(REPO, check=True)
    assert not stale, (
        f"{len(stale)} lessons lack the Colab install cell or the 'Read it rendered' link: "
        + ", ".join(p.name for p in stale)
        + " — run `cssl-edu course headers`."
    )


# --------------------------------------------------------------------------- a broken page fails


def _fixture_notebook(folder: Path, name: str, cells: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nb = {
        "cells": [{"id": f"c{i}", "metadata": {}, **c} for i, c in enumerate(cells)],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "cssl_edu": {"title": name.replace("_", " "), "minutes_cpu": 0.1},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / f"{name}.ipynb").write_text(json.dumps(nb), encoding="utf-8")


def _code(src: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "outputs": [], "source": src}


def _md(src: str) -> dict:
    return {"cell_type": "markdown", "source": src}


def _site_cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cssl_edu.cli", "course", "site", *args, "--no-api", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )


@needs_site_tools
def test_a_broken_page_fails_the_build_and_every_broken_page_is_named(tmp_path: Path) -> None:
    """One build of three broken notebooks (one Sphinx run: --keep-going reports them all)."""
    src = tmp_path / "course"
    broken = {
        "00_failed_cell": ([_md("# Fails"), _code("raise ValueError('planted failure')")], "planted failure"),
        "01_missing_image": (
            [_md("# Image\n\n![a figure](figure_that_is_not_there.png)")],
            "figure_that_is_not_there.png",
        ),
        "02_broken_link": (
            [_md("# Link\n\nSee [the next lesson](99_not_a_lesson.ipynb).")],
            "99_not_a_lesson",
        ),
    }
    for name, (cells, _) in broken.items():
        _fixture_notebook(src / "notebooks", name, cells)
    res = _site_cli([str(tmp_path / "site"), "--source", str(src)])
    out = res.stdout + res.stderr
    assert res.returncode == 1, out[-3000:]
    for name, (_, symptom) in broken.items():
        assert symptom in out, f"the warnings name what is broken in {name}"
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("cssl-edu: error: the site build failed"), last
    assert not (tmp_path / "site").exists(), "nothing is written when the build fails"


# --------------------------------------------------------------------------- part of the real course


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lesson 01 (with sliders) and problem set 01 as CI builds them: executed once by the test
    command under nbval (``CSSL_EDU_SAVE_EXECUTED``, the repository's conftest.py), then rendered
    from those executed copies with ``--executed``; built once through the CLI."""
    if missing_site_packages():
        pytest.skip("the site extra (sphinx, myst-nb, furo) is not installed")
    executed = tmp_path_factory.mktemp("executed")
    env = {**os.environ, SAVE_EXECUTED_ENV: str(executed)}
    env.pop("MPLBACKEND", None)  # the kernels draw inline, as in JupyterLab (Agg would show no figure)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "notebooks/01_contrastive_idea.ipynb",
            "solutions/01_contrastive_idea.ipynb",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for rel in ("notebooks/01_contrastive_idea.ipynb", "solutions/01_contrastive_idea.ipynb"):
        assert (executed / rel).is_file(), f"the nbval run wrote no executed copy of {rel}"
    out = tmp_path_factory.mktemp("site") / "site"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "cssl_edu.cli",
            "course",
            "site",
            str(out),
            "--source",
            str(REPO),
            "--lessons",
            "01",
            "--problem-sets",
            "01",
            "--executed",
            str(executed),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "built the course site" in res.stdout
    return out


LESSON = "notebooks/01_contrastive_idea.html"
PAGES = [
    "index.html",
    LESSON,
    "exercises/01_contrastive_idea.html",
    "solutions/01_contrastive_idea.html",
    "zoo.html",
    "api.html",
    "genindex.html",
]


def test_site_has_every_page(site: Path) -> None:
    for page in PAGES:
        assert (site / page).is_file(), page
    assert (site / SITE_MARKER).is_file()
    assert not (site / "notebooks" / "00_welcome.html").exists(), "only the chosen lessons are built"


def test_lesson_page_shows_its_printed_numbers_and_figures(site: Path) -> None:
    page = _parse(site / LESSON)
    text = "".join(page.text)
    stored = json.loads((REPO / "notebooks" / "01_contrastive_idea.ipynb").read_text())
    assert not any(c.get("outputs") for c in stored["cells"]), "the stored notebook has no outputs"
    html = (site / LESSON).read_text(encoding="utf-8")
    outputs = re.findall(r'<div class="cell_output docutils container">(.*?)</div>\s*</div>', html, re.S)
    assert len(outputs) >= 5, "executed cells show their outputs"
    assert re.search(r"\d+\.\d+", " ".join(outputs)), "printed numbers appear in the outputs"
    figures = [src for src in page.images if "_images/" in src]
    assert len(figures) >= 3, page.images
    for src in figures:
        target = _local_target(site / LESSON, src)
        assert target is not None and target.is_file(), src
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 2000, src
    assert "Contrastive" in text or "contrastive" in text


def test_sliders_show_their_png_and_no_widget_javascript(site: Path) -> None:
    html = (site / LESSON).read_text(encoding="utf-8")
    source = (REPO / "notebooks" / "01_contrastive_idea.ipynb").read_text()
    assert "interactive_figure" in source, "lesson 01 has sliders (the fallback is what this checks)"
    assert "application/vnd.jupyter.widget-view+json" not in html
    assert not any("widget" in s or "require" in s for s in _parse(site / LESSON).scripts)


def test_every_local_link_and_image_resolves(site: Path) -> None:
    checked = 0
    for page in sorted(site.rglob("*.html")):
        parsed = _parse(page)
        for ref in parsed.links + parsed.images:
            target = _local_target(page, ref)
            if target is None:
                continue
            assert target.exists(), f"{page.relative_to(site)} links to missing {ref}"
            checked += 1
    assert checked > 50


def test_links_between_notebooks_become_links_between_pages(site: Path) -> None:
    links = _parse(site / LESSON).links
    assert any(link.split("#")[0] == "../exercises/01_contrastive_idea.html" for link in links), links
    for page in sorted(site.rglob("*.html")):
        for link in _parse(page).links:
            if urlsplit(link).netloc in ("colab.research.google.com", "github.com"):
                continue  # the Colab badge and the repository open the notebook itself
            assert not urlsplit(link).path.endswith(".ipynb"), f"{page.relative_to(site)}: {link}"


def test_exercises_are_shown_unexecuted_and_solutions_executed(site: Path) -> None:
    exercise = (site / "exercises" / "01_contrastive_idea.html").read_text(encoding="utf-8")
    solution = (site / "solutions" / "01_contrastive_idea.html").read_text(encoding="utf-8")
    assert "NotImplementedError" in exercise
    assert 'class="cell_output' not in exercise, "exercises are not executed"
    assert solution.count('class="cell_output') >= 3


def test_landing_page_has_the_course_map_with_times_and_the_sections(site: Path) -> None:
    page = _parse(site / "index.html")
    text = " ".join("".join(page.text).split())
    info = course.lesson_info(REPO / "notebooks" / "01_contrastive_idea.ipynb")
    assert "Course map" in text and info.title in text
    assert f"{round(info.minutes_cpu * 60)} s" in text
    for caption in ("Lessons", "Problem sets", "Solutions", "Reference"):
        assert caption in text
    for href in (
        "notebooks/01_contrastive_idea.html",
        "exercises/01_contrastive_idea.html",
        "solutions/01_contrastive_idea.html",
        "zoo.html",
        "api.html",
    ):
        assert href in page.links, href


def test_zoo_page_is_the_table_from_the_cards(site: Path) -> None:
    from cssl_edu import zoo

    text = "".join(_parse(site / "zoo.html").text)
    for name in zoo.names():
        assert name in text
        assert f"{100 * zoo.card(name)['knn_acc']:.1f} %" in text


def test_api_reference_is_generated_from_the_docstrings(site: Path) -> None:
    from cssl_edu.losses import nt_xent

    pages = {p.name for p in (site / "api").glob("*.html")}
    assert {"cssl_edu.losses.html", "cssl_edu.methods.html", "cssl_edu.zoo.html"} <= pages
    page = site / "api" / "cssl_edu.losses.nt_xent.html"
    text = " ".join("".join(_parse(page).text).split()).replace("’", "'")  # Sphinx's smart quotes
    first_line = " ".join(nt_xent.__doc__.strip().splitlines()[0].split())
    assert first_line in text, "the docstring's summary is on the page"
    assert 'id="cssl_edu.losses.nt_xent"' in page.read_text(encoding="utf-8")
    assert "Parameters" in text and "temperature" in text, "Google-style Args: become a field list"


# --------------------------------------------------------------------------- executed copies


def test_an_executed_copy_carries_the_outputs_and_validates_against_its_source(tmp_path: Path) -> None:
    import nbformat

    _fixture_notebook(tmp_path / "notebooks", "00_a", [_md("# A"), _code("print(1)"), _code("2 + 2")])
    src = tmp_path / "notebooks" / "00_a.ipynb"
    outputs = {
        0: [{"output_type": "stream", "name": "stdout", "text": "1\n"}],
        1: [
            {
                "output_type": "execute_result",
                "data": {"text/plain": "4"},
                "metadata": {},
                "execution_count": 9,
            }
        ],
    }
    nb = executed_copy(src, outputs)
    write_executed(nb, tmp_path / "exe" / "notebooks" / "00_a.ipynb")
    loaded = load_executed(src, tmp_path / "exe")
    nbformat.validate(nbformat.from_dict(loaded))
    code = [c for c in loaded["cells"] if c["cell_type"] == "code"]
    assert code[0]["outputs"][0]["text"] == "1\n" and code[1]["outputs"][0]["data"]["text/plain"] == "4"
    assert [c["execution_count"] for c in code] == [1, 2]
    assert code[1]["outputs"][0]["execution_count"] == 2, "counts are the copy's own, in order"
    assert fingerprint(loaded) == fingerprint(json.loads(src.read_text())), "outputs do not change it"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no executed copy"),
        ("stale", "is stale"),
        ("failed", "code cells 1 raised"),
        ("incomplete", "code cells 1 of 2 never ran"),
        ("not-a-copy", "is not an executed copy"),
        ("corrupt", "cannot be read"),
    ],
)
def test_a_copy_that_does_not_show_its_source_as_it_stands_is_refused(
    tmp_path: Path, case: str, message: str
) -> None:
    _fixture_notebook(tmp_path / "notebooks", "00_a", [_md("# A"), _code("print(1)"), _code("print(2)")])
    src = tmp_path / "notebooks" / "00_a.ipynb"
    dest = tmp_path / "exe" / "notebooks" / "00_a.ipynb"
    outputs: dict[int, list] = {0: [], 1: []}
    failed: list[int] = []
    if case == "incomplete":
        del outputs[1]
    if case == "failed":
        failed = [1]
    if case != "missing":
        write_executed(executed_copy(src, outputs, failed=failed), dest)
    if case == "stale":
        nb = json.loads(src.read_text())
        nb["cells"][1]["source"] = "print(10)"
        src.write_text(json.dumps(nb))
    if case == "not-a-copy":
        dest.write_text(src.read_text())
    if case == "corrupt":
        dest.write_text('{"cells": [')
    with pytest.raises(ExecutedNotebookError, match=re.escape(message)) as err:
        load_executed(src, tmp_path / "exe")
    assert "notebooks/00_a.ipynb" in str(err.value) and SAVE_EXECUTED_ENV in str(err.value), (
        "names it and the fix"
    )


@needs_site_tools
def test_the_site_refuses_a_stale_copy_and_contradictory_options_without_a_traceback(tmp_path: Path) -> None:
    src = tmp_path / "course"
    _fixture_notebook(src / "notebooks", "00_a", [_md("# A"), _code("print(1)")])
    write_executed(
        executed_copy(src / "notebooks" / "00_a.ipynb", {0: []}),
        tmp_path / "exe" / "notebooks" / "00_a.ipynb",
    )
    nb = json.loads((src / "notebooks" / "00_a.ipynb").read_text())
    nb["cells"][0]["source"] = "# A, edited"
    (src / "notebooks" / "00_a.ipynb").write_text(json.dumps(nb))
    res = _site_cli([str(tmp_path / "site"), "--source", str(src), "--executed", str(tmp_path / "exe")])
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "notebooks/00_a.ipynb: the executed copy is stale" in res.stderr
    assert not (tmp_path / "site").exists()
    res = _site_cli([str(tmp_path / "site"), "--source", str(src), "--executed", str(tmp_path / "nowhere")])
    assert res.returncode == 1 and "no such folder" in res.stderr and "Traceback" not in res.stderr
    res = _site_cli(
        [str(tmp_path / "site"), "--source", str(src), "--executed", str(tmp_path / "exe"), "--no-execute"]
    )
    assert res.returncode == 2 and "contradict" in res.stderr


def test_the_nbval_run_writes_outputs_failures_and_skips_into_the_copy(tmp_path: Path) -> None:
    """The repository's conftest.py under a real `pytest --nbval-lax` run of a scratch course."""
    (tmp_path / "conftest.py").write_text((REPO / "conftest.py").read_text())
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    cells = [
        _md("# Scratch"),
        _code("print('hello from the run')"),
        _code("from IPython.display import display, HTML\ndisplay(HTML('<b>shown</b>'))\n21 * 2"),
        _code("# NBVAL_SKIP\nprint('skipped')"),
        _code("raise ValueError('planted')"),
        _code("print('after the failure')"),
    ]
    _fixture_notebook(tmp_path / "notebooks", "00_scratch", cells)
    exe = tmp_path / "exe"
    env = {**os.environ, SAVE_EXECUTED_ENV: str(exe)}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-q",
            "notebooks/00_scratch.ipynb",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1, res.stdout[-3000:]  # the planted failure fails the run
    nb = json.loads((exe / "notebooks" / "00_scratch.ipynb").read_text())
    record = nb["metadata"][EXECUTED_KEY]
    assert record["failed"] == [3] and record["skipped"] == [2] and record["run"] == [0, 1, 2, 3, 4]
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code[0]["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "hello from the run\n"}]
    kinds = [o["output_type"] for o in code[1]["outputs"]]
    assert kinds == ["display_data", "execute_result"] and code[1]["outputs"][1]["data"]["text/plain"] == "42"
    assert code[2]["outputs"] == [] and code[3]["outputs"][0]["ename"] == "ValueError"
    assert code[4]["outputs"][0]["text"] == "after the failure\n"
    with pytest.raises(ExecutedNotebookError, match="code cells 3 raised"):
        load_executed(tmp_path / "notebooks" / "00_scratch.ipynb", exe)
