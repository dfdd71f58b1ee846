"""Course tooling: exercises from solutions, lesson listing, copy, HTML, and the wheel shipping the course.

Tests build their own small notebooks in tmp_path; only ``test_exercises_in_sync`` and
``test_real_exercises_fail_only_with_not_implemented_error`` look at the repository's folders
(and skip while they are empty).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cssl_edu import course
from cssl_edu.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- fixtures


def _code(source: str, **kw) -> nbformat.NotebookNode:
    cell = new_code_cell(source, **kw)
    return cell


def solution_notebook() -> nbformat.NotebookNode:
    """A small problem set using every marker the generator knows."""
    nb = new_notebook()
    nb.metadata["cssl_edu"] = {"title": "Fixture problems", "minutes_cpu": 10, "minutes_gpu": 5}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_markdown_cell("# Fixture: squares\n\nImplement `square`.\n### BEGIN SOLUTION\nmarkdown stays"),
        _code(
            "def square(x):\n"
            '    """x squared."""\n'
            "    ### BEGIN SOLUTION hint: multiply x by itself\n"
            "    y = x * x\n"
            "    return y\n"
            "    ### END SOLUTION\n"
            "\n"
            "def cube(x):\n"
            "    ### BEGIN SOLUTION\n"
            "    return x ** 3\n"
            "    ### END SOLUTION",
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="hi\n")],
            execution_count=3,
        ),
        _code("### HIDDEN TEST\nassert square(3) == 9"),
        _code("assert cube(2) == 8", metadata={"tags": ["hidden-test"]}),
        _code("print('square(4) =', square(4))", execution_count=5),
        new_markdown_cell("**Answer.** Squares grow fastest.", metadata={"tags": ["solution"]}),
        _code("print('the end')"),
    ]
    return nb


def lesson_notebook(
    title: str | None, heading: str | None, body: str = "print(6 * 7)"
) -> nbformat.NotebookNode:
    nb = new_notebook()
    if title:
        nb.metadata["cssl_edu"] = {"title": title, "minutes_cpu": 20, "minutes_gpu": 7.5}
    cells = [new_markdown_cell(f"Intro\n\n## {heading}\n")] if heading else []
    nb.cells = [*cells, _code(body)]
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def make_course(root: Path) -> Path:
    """A tiny course: two lessons, one problem set and its generated exercise."""
    write(
        lesson_notebook("Fixture welcome", "ignored heading"), root / "notebooks" / "00_fixture_welcome.ipynb"
    )
    write(lesson_notebook(None, "Heading title"), root / "notebooks" / "01_fixture_heading.ipynb")
    write(solution_notebook(), root / "solutions" / "01_fixture_problems.ipynb")
    report = course.make_exercises(root / "solutions", root / "exercises")
    assert len(report.written) == 1
    return root


def execution_errors(path: Path, cwd: Path) -> list[tuple[int, str, str]]:
    """Run a notebook with errors allowed; the (cell, ename, evalue) of every error it raised."""
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return [
        (i, out.ename, out.evalue)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]


# --------------------------------------------------------------------------- solution markers


def test_strip_solutions_keeps_indentation_and_carries_the_hint() -> None:
    src = "def f(x):\n    ### BEGIN SOLUTION hint: use torch.logsumexp\n    return x\n    ### END SOLUTION\nprint(1)"
    out = course.strip_solutions(src)
    assert out.splitlines() == [
        "def f(x):",
        '    raise NotImplementedError("Exercise: replace this line with your code. Hint: use torch.logsumexp")',
        "print(1)",
    ]
    top = course.strip_solutions('### BEGIN SOLUTION\nx = "a \\"quoted\\" hint"\n### END SOLUTION')
    assert top == 'raise NotImplementedError("Exercise: replace this line with your code.")'
    quoted = course.strip_solutions('    ### BEGIN SOLUTION Hint: say "hi"\n    pass\n    ### END SOLUTION')
    assert (
        quoted
        == '    raise NotImplementedError("Exercise: replace this line with your code. Hint: say \\"hi\\"")'
    )
    compile(quoted.strip(), "<exercise>", "exec")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without a matching"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
    ],
)
def test_malformed_markers_are_reported_with_their_line(source: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        course.strip_solutions(source, where="nb.ipynb, cell 3")


def test_make_exercise_strips_solutions_hidden_tests_and_outputs() -> None:
    nb = solution_notebook()
    ex = course.make_exercise(nb, name="fixture")
    sources = [c.source for c in ex.cells]
    assert len(ex.cells) == 4  # both hidden-test cells and the solution-only answer are gone
    assert not any("assert" in s for s in sources)
    assert not any("Answer" in s for s in sources)
    assert ex.cells[0].source == nb.cells[0].source  # markdown untouched, markers and all
    code = ex.cells[1].source
    assert "x * x" not in code and "x ** 3" not in code
    assert (
        '    raise NotImplementedError("Exercise: replace this line with your code. Hint: multiply x by itself")'
        in code
    )
    assert code.count("raise NotImplementedError") == 2 and '"""x squared."""' in code
    assert all(c.outputs == [] and c.execution_count is None for c in ex.cells if c.cell_type == "code")
    assert ex.metadata["cssl_edu"]["title"] == "Fixture problems"
    assert nb.cells[1].outputs, "the solution notebook itself is not modified"
    nbformat.validate(ex)


def test_make_exercises_is_deterministic_and_check_finds_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    write(solution_notebook(), sol / "01_problems.ipynb")
    args = ["course", "make-exercises", "--solutions", str(sol), "--exercises", str(ex)]
    assert main(args) == 0
    target = ex / "01_problems.ipynb"
    first, mtime = target.read_bytes(), target.stat().st_mtime_ns
    text = first.decode()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    assert nbformat.reads(text, as_version=4).nbformat == 4

    time.sleep(0.01)
    assert main(args) == 0
    assert target.read_bytes() == first and target.stat().st_mtime_ns == mtime  # not even rewritten
    assert (
        course.notebook_text(
            course.make_exercise(nbformat.read(str(sol / "01_problems.ipynb"), 4), "01_problems")
        )
        == text
    )

    capsys.readouterr()
    assert main([*args, "--check"]) == 0
    assert "in sync" in capsys.readouterr().out

    target.write_text(text.replace("Exercise:", "Exercise (edited by hand):"))
    write(solution_notebook(), ex / "99_orphan.ipynb")
    assert main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert str(target) in err and "99_orphan.ipynb" in err
    assert "differs from what the command generates" in err
    assert "Exercise (edited by hand)" in target.read_text(), "--check writes nothing"


def test_missing_solutions_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        ["course", "make-exercises", "--solutions", str(tmp_path / "nope"), "--exercises", str(tmp_path)]
    )
    assert rc == 2 and "solutions folder not found" in capsys.readouterr().err


def test_generated_exercise_fails_only_with_not_implemented_error(tmp_path: Path) -> None:
    root = make_course(tmp_path / "course")
    errors = execution_errors(root / "exercises" / "01_fixture_problems.ipynb", tmp_path)
    assert errors, "the exercise should stop at its NotImplementedError"
    assert {e[1] for e in errors} == {"NotImplementedError"}
    assert any("multiply x by itself" in e[2] for e in errors)


# --------------------------------------------------------------------------- list, copy, html


def test_course_list_reads_metadata_then_heading_then_filename(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_course(tmp_path / "course")
    write(lesson_notebook(None, None), root / "notebooks" / "02_no_title.ipynb")
    assert main(["course", "list", "--dir", str(root / "notebooks")]) == 0
    out = capsys.readouterr().out
    assert "00_fixture_welcome" in out and "Fixture welcome" in out and "ignored heading" not in out
    assert "20 min" in out and "7.5 min" in out
    assert "Heading title" in out and "02 no title" in out
    total = next(line for line in out.splitlines() if "total" in line)
    assert "20 min" in total and "7.5 min" in total  # only the first lesson has estimates

    monkeypatch.setenv("CSSL_EDU_COURSE_DIR", str(root))
    assert main(["course", "list"]) == 0
    out = capsys.readouterr().out
    for folder in ("notebooks", "exercises", "solutions"):
        assert str(root / folder) in out
    assert out.count("Fixture problems") == 2  # the exercise and its solution
    assert main(["course", "list", "--solutions"]) == 0
    out = capsys.readouterr().out
    assert "Fixture problems" in out and "Fixture welcome" not in out


def test_course_copy_selected_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_course(tmp_path / "course")
    monkeypatch.setenv("CSSL_EDU_COURSE_DIR", str(root))
    dest = tmp_path / "mine"
    assert main(["course", "copy", str(dest), "--exercises"]) == 0
    assert (dest / "exercises" / "01_fixture_problems.ipynb").is_file()
    assert not (dest / "solutions").exists() and not (dest / "notebooks").exists()
    capsys.readouterr()
    assert main(["course", "copy", str(dest), "--exercises"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["course", "copy", str(dest), "--force"]) == 0
    assert {p.name for p in dest.iterdir()} == {"notebooks", "exercises", "solutions"}


def test_course_root_of_a_source_checkout_is_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSSL_EDU_COURSE_DIR", raising=False)
    if (Path(course.__file__).parent / "_course").is_dir():
        pytest.skip("running from an installed wheel")
    if not any((REPO / d).is_dir() for d in course.COURSE_DIRS):
        pytest.skip("the repository has no course folders yet")
    assert course.course_root() == REPO


def test_course_html_with_and_without_execution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_course(tmp_path / "course")
    monkeypatch.setenv("CSSL_EDU_COURSE_DIR", str(root))
    out = tmp_path / "html"
    assert main(["course", "html", str(out), "--no-execute", "--exercises"]) == 0
    page = (out / "exercises" / "01_fixture_problems.html").read_text()
    assert "<html" in page and "NotImplementedError" in page and "Fixture problems" in page
    assert not (out / "notebooks").exists()

    assert main(["course", "html", str(out), "--source", str(root), "--timeout", "120"]) == 0
    page = (out / "notebooks" / "00_fixture_welcome.html").read_text()
    assert "42" in page  # print(6 * 7) ran
    assert "wrote" in capsys.readouterr().out


def test_every_course_flag_has_help() -> None:
    course_parser = build_parser()._subparsers._group_actions[0].choices["course"]  # type: ignore[union-attr]
    subs = course_parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(subs) == {"list", "copy", "html", "site", "make-exercises", "headers"}
    for name, p in subs.items():
        for action in p._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"course {name} {action.option_strings} has no help"
        text = p.format_help()
        for action in p._actions:
            for flag in action.option_strings:
                assert flag in text


# --------------------------------------------------------------------------- the wheel ships the course


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


def test_wheel_and_sdist_ship_the_course(tmp_path: Path) -> None:
    """Build sdist + wheel (wheel from the sdist) of a copy of the repo with a fixture course,
    install the wheel into a fresh venv, and find the course there with `cssl-edu course`."""
    src = tmp_path / "src"
    shutil.copytree(
        REPO / "cssl_edu", src / "cssl_edu", ignore=shutil.ignore_patterns("__pycache__", "_course")
    )
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    make_course(src)
    (src / "notebooks" / ".ipynb_checkpoints").mkdir()
    (src / "notebooks" / ".ipynb_checkpoints" / "00_fixture_welcome-checkpoint.ipynb").write_text("{}")

    dist = tmp_path / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--skip-dependency-check",
            "--outdir",
            str(dist),
            str(src),
        ],
        cwd=tmp_path,
    )
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
    assert any(n.endswith("solutions/01_fixture_problems.ipynb") for n in names)
    assert not any(".ipynb_checkpoints" in n for n in names)
    (wheel,) = dist.glob("*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CSSL_EDU_COURSE_DIR")}
    _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", str(wheel)],
        tmp_path,
        env,
    )
    # the dev venv's packages (torch, nbformat, ...) become visible only now, after pip ran, so
    # pip never saw the dev venv's editable cssl-edu; no network is needed
    (new_site,) = venv.glob("lib/python*/site-packages")
    dev_site = next(p for p in site.getsitepackages() if p.endswith("site-packages"))
    (new_site / "zz_dev_venv.pth").write_text(dev_site + "\n")

    where = _run(
        [str(py), "-c", "import cssl_edu.course as c; print(c.course_root())"], tmp_path, env
    ).strip()
    assert Path(where).is_relative_to(venv) and where.endswith("_course")
    listing = _run([str(venv / "bin" / "cssl-edu"), "course", "list"], tmp_path, env)
    assert "Fixture welcome" in listing and "Fixture problems" in listing and "Heading title" in listing
    _run(
        [str(venv / "bin" / "cssl-edu"), "course", "copy", str(tmp_path / "out"), "--solutions"],
        tmp_path,
        env,
    )
    copied = tmp_path / "out" / "solutions" / "01_fixture_problems.ipynb"
    assert copied.read_bytes() == (src / "solutions" / "01_fixture_problems.ipynb").read_bytes()
    assert not (tmp_path / "out" / "notebooks").exists()
    assert not list((Path(where) / "notebooks").glob(".ipynb_checkpoints"))


# --------------------------------------------------------------------------- the real course


def _real_solutions() -> list[Path]:
    return course.notebooks_in(REPO / "solutions")


def test_exercises_in_sync() -> None:
    """exercises/ is exactly what `cssl-edu course make-exercises` generates from solutions/."""
    if not _real_solutions():
        pytest.skip("solutions/ has no notebooks yet")
    report = course.make_exercises(REPO / "solutions", REPO / "exercises", check=True)
    assert report.in_sync, (
        "exercises/ differs from what the command generates: "
        + ", ".join(str(p) for p in report.differing + report.stale)
        + " — run `cssl-edu course make-exercises`."
    )


@pytest.mark.parametrize("name", [p.name for p in course.notebooks_in(REPO / "exercises")] or ["<none>"])
def test_real_exercises_fail_only_with_not_implemented_error(name: str, tmp_path: Path) -> None:
    if name == "<none>":
        pytest.skip("exercises/ has no notebooks yet")
    errors = execution_errors(REPO / "exercises" / name, tmp_path)
    assert errors, f"{name} ran without any NotImplementedError: does it have exercises?"
    others = [e for e in errors if e[1] != "NotImplementedError"]
    assert not others, f"{name}: errors other than NotImplementedError: {others}"
