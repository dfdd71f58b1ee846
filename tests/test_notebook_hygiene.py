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


#: a lesson's file name: its id — two digits, plus a letter for a later part of a lesson (``06b``) —
#: then ``_`` and a snake_case name
LESSON_NAME = re.compile(r"\d\d[a-z]?_[a-z0-9_]+")


def lesson_id(path: Path) -> str:
    """The part of a notebook's file name before its first ``_``: ``06`` for ``06_…``, ``06b`` for ``06b_…``."""
    return path.stem.split("_", 1)[0]


def test_the_course_has_notebooks() -> None:
    assert LESSONS, "no lesson notebooks found in notebooks/"
    assert SOLUTIONS, "no problem sets found in solutions/"


@pytest.mark.parametrize("path", ALL, ids=_rel)
def test_every_cell_has_a_unique_id(path: Path) -> None:
    # nbformat ≥ 4.5 requires cell ids (a missing one is a warning today, an error in later nbformat)
    nb = _load(path)
    ids = [c.get("id") for c in nb["cells"]]
    missing = [i for i, cid in enumerate(ids) if not cid]
    assert not missing, f"{_rel(path)}: cells {missing} have no id; run nbformat.validator.normalize on it"
    assert len(set(ids)) == len(ids), f"{_rel(path)}: cell ids repeat"


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
    assert LESSON_NAME.fullmatch(path.stem), (
        f"{path.name}: lessons are named NN_snake_case.ipynb (NNb_snake_case.ipynb: the second part of NN)"
    )
    intro = "".join(nb["cells"][0]["source"])
    assert intro.startswith(f"# {lesson_id(path)} — "), (
        f"{path.name}: the first cell starts with '# {lesson_id(path)} — Title'"
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


def test_lesson_ids_are_unique_and_each_later_part_follows_its_lesson() -> None:
    examples = {"06_moco_x.ipynb": "06", "06b_moco_y.ipynb": "06b", "14_a_b_c.ipynb": "14"}
    assert {name: lesson_id(Path(name)) for name in examples} == examples
    ids = [lesson_id(p) for p in LESSONS]  # in file-name order, the order of the course
    assert len(ids) == len(set(ids)), f"two lessons share an id: {ids}"
    for i, lid in enumerate(ids):
        if not lid[-1].isalpha():
            continue
        before = lid[:2] if lid[-1] == "b" else lid[:2] + chr(ord(lid[-1]) - 1)
        assert i > 0 and ids[i - 1] == before, f"lesson {lid} must sort right after lesson {before}: {ids}"
        intro = "".join(_load(LESSONS[i])["cells"][0]["source"])
        prerequisites = re.search(r"\*\*Prerequisites\.\*\*(.*?)(?:\n\n|$)", intro, re.S)
        assert prerequisites and re.search(rf"\b{before}\b", prerequisites.group(1)), (
            f"{LESSONS[i].name}: its prerequisites name lesson {before}, the part before it"
        )


@pytest.mark.parametrize("path", SOLUTIONS, ids=_rel)
def test_problem_set_belongs_to_a_lesson(path: Path) -> None:
    lessons = {lesson_id(p) for p in LESSONS}
    assert lesson_id(path) in lessons, (
        f"{path.name}: no lesson notebooks/{lesson_id(path)}_*.ipynb to go with it"
    )
    assert "### BEGIN SOLUTION" in _code(_load(path)), (
        f"{path.name}: a problem set has at least one solution block"
    )
