"""The course notebooks as files: committed without outputs, with the parts every lesson promises."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LESSONS = sorted((REPO / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((REPO / "solutions").glob("*.ipynb"))
EXERCISES = sorted((REPO / "exercises").glob("*.ipynb"))
ALL = LESSONS + SOLUTIONS + EXERCISES


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _markdown(nb: dict) -> str:
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def _code(nb: dict) -> str:
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_course_has_notebooks() -> None:
    assert LESSONS, "no lesson notebooks found in notebooks/"
    assert SOLUTIONS, "no problem sets found in solutions/"


@pytest.mark.parametrize("path", ALL, ids=_rel)
def test_committed_without_outputs(path: Path) -> None:
    nb = _load(path)
    dirty = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, (
        f"{_rel(path)} has outputs in cells {dirty}; clear them with "
        f"`jupyter nbconvert --clear-output --inplace {_rel(path)}` (the .githooks/pre-commit hook reminds you)"
    )


@pytest.mark.parametrize("path", LESSONS, ids=_rel)
def test_lesson_structure(path: Path) -> None:
    nb = _load(path)
    assert re.fullmatch(r"\d\d_[a-z0-9_]+", path.stem), f"{path.name}: lessons are named NN_snake_case.ipynb"
    intro = "".join(nb["cells"][0]["source"])
    assert intro.startswith(f"# {path.stem[:2]} — "), (
        f"{path.name}: the first cell starts with '# {path.stem[:2]} — Title'"
    )
    for part in ("Learning objectives", "Prerequisites", "Time", "colab.research.google.com"):
        assert part in intro, f"{path.name}: the opening cell lacks '{part}'"
    text = _markdown(nb)
    for heading in ("What you learned", "Go further"):
        assert re.search(rf"^##+ .*{heading}", text, re.M | re.I), f"{path.name}: no '## {heading}' section"
    assert re.search(r"setup\(seed=\d+", _code(nb)), (
        f"{path.name}: call `env = setup(seed=...)` so runs are seeded"
    )
    meta = nb["metadata"].get("cssl_edu", {})
    assert meta.get("title") and meta.get("minutes_cpu"), (
        f"{path.name}: set notebook metadata cssl_edu.title and cssl_edu.minutes_cpu (measured run time)"
    )


@pytest.mark.parametrize("path", SOLUTIONS, ids=_rel)
def test_problem_set_belongs_to_a_lesson(path: Path) -> None:
    lessons = {p.stem[:2] for p in LESSONS}
    assert path.stem[:2] in lessons, f"{path.name}: no lesson notebooks/{path.stem[:2]}_*.ipynb to go with it"
    assert "### BEGIN SOLUTION" in _code(_load(path)), (
        f"{path.name}: a problem set has at least one solution block"
    )
