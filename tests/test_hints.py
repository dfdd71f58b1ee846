"""Every problem-set task has three hint tiers, in its solution and in its generated exercise.

A **task** is a code cell holding ``### BEGIN SOLUTION`` blocks (in ``solutions/``) or the
``raise NotImplementedError("Exercise: …")`` lines the generator puts in their place (in
``exercises/``). Its three tiers:

1. the **nudge** — the ``hint:`` text of every BEGIN line of the cell (in an exercise, the
   ``Hint:`` part of every raise message); non-empty for every block;
2. **Hint 2** — a Markdown cell whose ``<summary>`` says ``Hint 2``: the idea, the shapes of
   the intermediate tensors and the key operation, and *no code* (rule below);
3. **Hint 3** — a Markdown cell whose ``<summary>`` says ``Hint 3``: the code, so it holds at
   least one inline code span or fence.

Both hint cells come after the task cell and before the next task cell or the next Markdown
heading (``# …``), Hint 2 first; neither is tagged ``solution`` (that would drop it from the
exercise).

**"No code" in Hint 2**, precisely: outside the ``<summary>``, the cell has no fence (a run of
three backticks or tildes), no ``<code>`` / ``<pre>`` element, no indented code line (a
non-blank line starting with a tab or four spaces), and no inline code span (text between
backticks) that contains ``=`` (an assignment or a comparison) or a name directly followed by
``(`` or ``[`` (a call or an indexing expression with its arguments). Spans that are only a
name (a function, a variable) or a shape such as ``(2N, d)`` are allowed.

The checks read the notebooks as JSON only (no kernel, no nbformat validation), so they are fast.
A notebook that is not valid JSON yet (a set being written) is skipped with its name.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cssl_edu import course

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((REPO / "solutions").glob("*.ipynb"))
EXERCISES = sorted((REPO / "exercises").glob("*.ipynb"))

EXERCISE_PREFIX = f"Exercise: {course.DEFAULT_HINT}."
_RAISE = re.compile(r"raise NotImplementedError\((\".*\")\)\s*$")
_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.DOTALL)
_HEADING = re.compile(r"^#{1,6}\s")
_FENCE = re.compile(r"```|~~~")
_HTML_CODE = re.compile(r"<\s*(code|pre)\b", re.IGNORECASE)
_INDENTED = re.compile(r"^(\t| {4})\S")
_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_CALL_OR_INDEX = re.compile(r"[A-Za-z_][\w.]*\s*[(\[]")
MIN_HINT2_CHARS = 40  # a sentence, not a placeholder


# --------------------------------------------------------------------------- reading cells


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _nudges(cell: dict[str, Any]) -> list[str] | None:
    """The nudge of every solution block of a code cell (``None``: the cell is not a task).

    Solution cells: the ``hint:`` text of each BEGIN line. Exercise cells: the ``Hint:`` part
    of each generated ``raise NotImplementedError("Exercise: …")`` message.
    """
    if cell.get("cell_type") != "code":
        return None
    nudges: list[str] = []
    for line in _source(cell).split("\n"):
        stripped = line.strip()
        if stripped.startswith(course.BEGIN):
            nudges.append(course._hint_of(line))
            continue
        m = _RAISE.search(stripped)
        if m is None:
            continue
        message = json.loads(m.group(1))
        if message.startswith(EXERCISE_PREFIX):
            nudges.append(message.split(" Hint: ", 1)[1].strip() if " Hint: " in message else "")
    return nudges or None


def _tier(cell: dict[str, Any]) -> int | None:
    """2 or 3 for a Markdown hint cell of that tier, else ``None``."""
    if cell.get("cell_type") != "markdown":
        return None
    m = _SUMMARY.search(_source(cell))
    if m is None:
        return None
    tier = re.search(r"\bHint\s*([23])\b", m.group(1))
    return int(tier.group(1)) if tier else None


def _body(cell: dict[str, Any]) -> str:
    """The hint's text without the ``<details>`` / ``<summary>`` wrapping."""
    text = _SUMMARY.sub("", _source(cell), count=1)
    return re.sub(r"</?details>", "", text).strip()


def code_in_hint(body: str) -> list[str]:
    """What in a Hint-2 body counts as code (empty: none), by the rule in the module docstring."""
    found = []
    if _FENCE.search(body):
        found.append("a code fence")
    if _HTML_CODE.search(body):
        found.append("a <code>/<pre> element")
    found += [f"an indented code line {line.strip()!r}" for line in body.split("\n") if _INDENTED.match(line)]
    for m in _SPAN.finditer(_FENCE.sub("", body)):
        span = m.group(2)
        if "=" in span:
            found.append(f"the code span `{span}` (contains '=')")
        elif _CALL_OR_INDEX.search(span):
            found.append(f"the code span `{span}` (a call or an index with its arguments)")
    return found


# --------------------------------------------------------------------------- the check


def hint_problems(cells: list[dict[str, Any]], name: str = "notebook") -> tuple[int, list[str]]:
    """(number of tasks, what is wrong with their hint tiers) for one notebook's cells."""
    tasks = [i for i, c in enumerate(cells) if _nudges(c) is not None]
    problems: list[str] = []
    for n, i in enumerate(tasks):
        where = f"{name}, cell {i}"
        nudges = _nudges(cells[i]) or []
        for k, nudge in enumerate(nudges, start=1):
            if not nudge:
                problems.append(
                    f"{where}: solution block {k} of {len(nudges)} has no nudge ('hint: …' on its BEGIN line)"
                )
        stop = tasks[n + 1] if n + 1 < len(tasks) else len(cells)
        window: list[tuple[int, int]] = []  # (cell index, tier)
        for j in range(i + 1, stop):
            if cells[j].get("cell_type") == "markdown" and _HEADING.match(_source(cells[j]).lstrip()):
                break
            tier = _tier(cells[j])
            if tier is not None:
                window.append((j, tier))
        hint2 = [j for j, t in window if t == 2]
        hint3 = [j for j, t in window if t == 3]
        if not hint2:
            problems.append(f"{where}: no 'Hint 2' cell after the task (before the next task or heading)")
        if not hint3:
            problems.append(f"{where}: no 'Hint 3' cell after the task (before the next task or heading)")
        if hint2 and hint3 and hint2[0] > hint3[0]:
            problems.append(f"{where}: Hint 3 (cell {hint3[0]}) comes before Hint 2 (cell {hint2[0]})")
        for j, _ in window:
            if course.SOLUTION_TAG in (cells[j].get("metadata", {}).get("tags", []) or []):
                problems.append(
                    f"{name}, cell {j}: a hint cell tagged '{course.SOLUTION_TAG}' is dropped from the exercise"
                )
        for j in hint2:
            body = _body(cells[j])
            if len(re.sub(r"\s", "", body)) < MIN_HINT2_CHARS:
                problems.append(f"{name}, cell {j}: Hint 2 is empty or too short to explain the shapes")
            problems += [f"{name}, cell {j}: Hint 2 holds code: {c}" for c in code_in_hint(body)]
        for j in hint3:
            body = _body(cells[j])
            if not (_FENCE.search(body) or _SPAN.search(body)):
                problems.append(
                    f"{name}, cell {j}: Hint 3 should give the code, but holds no code span or fence"
                )
    return len(tasks), problems


def _cells(path: Path) -> list[dict[str, Any]]:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        pytest.skip(f"{path.name} is not valid JSON yet ({err}); skipped")
    return nb.get("cells", [])


# --------------------------------------------------------------------------- the course's notebooks


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_every_solution_task_has_three_hint_tiers(path: Path) -> None:
    n_tasks, problems = hint_problems(_cells(path), path.name)
    assert n_tasks >= 1, f"{path.name}: no task (no '{course.BEGIN}' block) found"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_every_exercise_task_keeps_three_hint_tiers(path: Path) -> None:
    n_tasks, problems = hint_problems(_cells(path), path.name)
    assert not problems, "\n".join(problems)
    solution = REPO / "solutions" / path.name
    if solution.is_file():
        n_solution, _ = hint_problems(_cells(solution), solution.name)
        assert n_tasks == n_solution, (
            f"{path.name} has {n_tasks} tasks, its solution {n_solution}: "
            "regenerate with `cssl-edu course make-exercises`"
        )


def test_the_course_has_problem_sets_to_check() -> None:
    assert SOLUTIONS, "no solutions/*.ipynb found: the hint checks would check nothing"


# --------------------------------------------------------------------------- the rule can fail


def _md(text: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _hint(tier: int, body: str) -> dict[str, Any]:
    title = "shapes and the key step" if tier == 2 else "the code"
    return _md(
        f"<details><summary><b>Hint {tier} — {title}</b> (click to open)</summary>\n\n{body}\n\n</details>"
    )


GOOD_HINT2 = (
    "Stack both views into `(2N, d)`, normalise the rows, and one `(2N, d)` @ `(d, 2N)` product gives the "
    "`(2N, 2N)` cosines; the positive of row i is column (i + N) mod 2N (`positive_index`)."
)
TASK = {
    "cell_type": "code",
    "metadata": {},
    "outputs": [],
    "execution_count": None,
    "source": "def f(z):\n    ### BEGIN SOLUTION hint: stack, then normalise\n    return z\n    ### END SOLUTION",
}


def _fixture(hint2: str = GOOD_HINT2, hint3: str = "`z = F.normalize(z, dim=1)`") -> list[dict[str, Any]]:
    return [_md("## Task 1"), copy.deepcopy(TASK), _hint(2, hint2), _hint(3, hint3), _md("## Task 2")]


def test_a_well_formed_task_passes() -> None:
    assert hint_problems(_fixture()) == (1, [])
    assert code_in_hint(GOOD_HINT2) == []


@pytest.mark.parametrize(
    ("bad", "what"),
    [
        ("Normalise every row with `F.normalize(z)`, then take one product.", "a call"),
        ("Then `sim = z @ z.T` over the temperature, shape `(2N, 2N)`.", "'='"),
        ("The mask `labels[:, None]` compared with itself gives `(N, N)`.", "an index"),
        ("Compare with `a == b` to get an `(N, N)` boolean mask of pairs.", "'='"),
        ("Like this:\n\n```python\nz = F.normalize(z)\n```\n\nand then the product.", "a code fence"),
        ("Like this, the whole product of the two views:\n\n    sim = z @ z.T\n", "indented code line"),
        ("The product <code>z @ z.T</code> gives every cosine of the batch at once.", "<code>"),
    ],
)
def test_code_in_hint_2_is_caught(bad: str, what: str) -> None:
    _, problems = hint_problems(_fixture(hint2=bad))
    assert problems and all("Hint 2 holds code" in p for p in problems), problems
    assert any(what in p for p in problems), problems


@pytest.mark.parametrize(
    ("cells", "what"),
    [
        ([_md("## Task 1"), copy.deepcopy(TASK), _hint(3, "`x = 1`")], "no 'Hint 2'"),
        ([_md("## Task 1"), copy.deepcopy(TASK), _hint(2, GOOD_HINT2)], "no 'Hint 3'"),
        ([_md("## Task 1"), copy.deepcopy(TASK), _hint(3, "`x = 1`"), _hint(2, GOOD_HINT2)], "comes before"),
        ([_md("## Task 1"), copy.deepcopy(TASK), _hint(2, "Think."), _hint(3, "`x = 1`")], "too short"),
        (
            [_md("## Task 1"), copy.deepcopy(TASK), _hint(2, GOOD_HINT2), _hint(3, "Use the formula.")],
            "no code span",
        ),
        # the hints of task 1 placed after task 2's heading do not count for task 1
        (
            [_md("## T1"), copy.deepcopy(TASK), _md("## T2"), _hint(2, GOOD_HINT2), _hint(3, "`x = 1`")],
            "no 'Hint 2'",
        ),
    ],
)
def test_missing_misplaced_or_empty_tiers_are_caught(cells: list[dict[str, Any]], what: str) -> None:
    _, problems = hint_problems(cells)
    assert any(what in p for p in problems), problems


def test_an_empty_nudge_and_a_hint_tagged_solution_are_caught() -> None:
    cells = _fixture()
    cells[1]["source"] = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    cells[2]["metadata"] = {"tags": [course.SOLUTION_TAG]}
    _, problems = hint_problems(cells)
    assert any("has no nudge" in p for p in problems), problems
    assert any("dropped from the exercise" in p for p in problems), problems


def test_a_planted_bad_hint_in_a_real_problem_set_is_caught() -> None:
    path = SOLUTIONS[0]
    cells = _cells(path)
    first_hint2 = next(j for j, c in enumerate(cells) if _tier(c) == 2)
    planted = copy.deepcopy(cells)
    planted[first_hint2]["source"] = _source(planted[first_hint2]).replace(
        "</details>", "Then `d = torch.cdist(x, x)`.\n\n</details>"
    )
    assert hint_problems(cells, path.name)[1] == []
    _, problems = hint_problems(planted, path.name)
    assert problems == [
        f"{path.name}, cell {first_hint2}: Hint 2 holds code: the code span `d = torch.cdist(x, x)` (contains '=')"
    ]


def test_the_generator_keeps_all_three_tiers() -> None:
    """An exercise made from the fixture still has the nudge, Hint 2 and Hint 3 of its task."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.from_dict(c) for c in _fixture()]
    exercise = course.make_exercise(nb, name="fixture")
    cells = [dict(c) for c in exercise.cells]
    assert "Hint: stack, then normalise" in _source(cells[1])
    assert hint_problems(cells, "fixture exercise") == (1, [])
