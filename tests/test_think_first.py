"""Predict, then run: every lesson section with a result asks the student to predict it first.

A *section with a result* is a ``## `` section of a lesson (the header cell, "What you learned" and
"Go further" aside) with a code cell that checks a claim (``claim…(``) or draws a figure. Each
such section holds at least one **Think first** prompt — a markdown cell that starts with
``**Think first**`` and asks for a prediction (a number, a direction, a sketch) — followed, after
at least one code cell, by its answer: a markdown cell that opens with
``<details><summary><b>Think first — answer</b>`` and closes with ``</details>`` (collapsed until
the student opens it), before the next prompt. An answer that states a measured direction is kept
true by ``tests/test_lesson_claims.py`` (a claim in the code cell next to it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LESSONS = sorted((REPO / "notebooks").glob("*.ipynb"))

PROMPT = re.compile(r"^\s*\*\*Think first\*\*")
ANSWER_OPEN = re.compile(r"^\s*<details>\s*<summary>\s*<b>Think first — answer</b>")
RESULT = re.compile(
    r"\bclaim\w*\(|\bplt\.|\.plot\(|\bplot_\w+\(|interactive_figure\(|\bshow_\w+\(|\.imshow\("
)
SECTION = re.compile(r"^## (?!#)", re.MULTILINE)
SKIP_SECTION = re.compile(r"^## .*(What you learned|Go further)", re.IGNORECASE | re.MULTILINE)


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def sections(nb: dict) -> list[tuple[str, list[dict]]]:
    """(heading, cells) for each ``## `` section after the header cell, in order."""
    out: list[tuple[str, list[dict]]] = []
    for cell in nb["cells"][1:]:
        text = _source(cell)
        if cell["cell_type"] == "markdown" and SECTION.search(text):
            heading = next(line for line in text.splitlines() if line.startswith("## "))
            out.append((heading, []))
        if out:
            out[-1][1].append(cell)
    return out


def problems(nb: dict) -> list[str]:
    """What is missing or malformed, one line per problem (empty when the lesson passes)."""
    found = []
    for heading, cells in sections(nb):
        if SKIP_SECTION.search(heading):
            continue
        has_result = any(c["cell_type"] == "code" and RESULT.search(_source(c)) for c in cells)
        pairs, open_prompt, code_since = 0, False, False
        for c in cells:
            text = _source(c)
            if c["cell_type"] == "code":
                code_since = True
            elif PROMPT.search(text):
                if open_prompt:
                    found.append(f"{heading}: a Think first prompt without an answer before the next prompt")
                if "?" not in text:
                    found.append(f"{heading}: a Think first prompt that asks no question")
                open_prompt, code_since = True, False
            elif ANSWER_OPEN.search(text):
                if not open_prompt:
                    found.append(f"{heading}: a Think first answer without a prompt before it")
                elif not code_since:
                    found.append(
                        f"{heading}: a Think first answer right after its prompt (no cell runs between)"
                    )
                elif not text.rstrip().endswith("</details>"):
                    found.append(f"{heading}: a Think first answer that is not closed with </details>")
                else:
                    pairs += 1
                open_prompt = False
        if open_prompt:
            found.append(f"{heading}: a Think first prompt whose answer never comes")
        if has_result and pairs == 0:
            found.append(f"{heading}: a section with a result and no Think first prompt with its answer")
    return found


def _nb(*cells: tuple[str, str]) -> dict:
    return {"cells": [{"cell_type": kind, "source": text} for kind, text in cells]}


def test_the_rule_fails_on_each_planted_mistake_and_passes_a_good_section() -> None:
    head = ("markdown", "# Lesson")
    good = _nb(
        head,
        ("markdown", "## 1. A result"),
        ("markdown", "**Think first** Will the loss go up or down?"),
        ("code", "claim(loss < 1, 'the loss falls')"),
        ("markdown", "<details><summary><b>Think first — answer</b></summary>\n\nDown.\n\n</details>"),
    )
    assert problems(good) == []
    bad = {
        "no Think first prompt": _nb(head, ("markdown", "## 1. A result"), ("code", "plt.plot(x)")),
        "answer never comes": _nb(
            head, ("markdown", "## 1"), ("markdown", "**Think first** Up or down?"), ("code", "claim(1)")
        ),
        "right after its prompt": _nb(
            head,
            ("markdown", "## 1"),
            ("markdown", "**Think first** Up or down?"),
            ("markdown", "<details><summary><b>Think first — answer</b></summary>Down.</details>"),
            ("code", "claim(1)"),
        ),
        "asks no question": _nb(
            head,
            ("markdown", "## 1"),
            ("markdown", "**Think first** Predict it."),
            ("code", "claim(1)"),
            ("markdown", "<details><summary><b>Think first — answer</b></summary>Down.</details>"),
        ),
        "not closed": _nb(
            head,
            ("markdown", "## 1"),
            ("markdown", "**Think first** Up or down?"),
            ("code", "claim(1)"),
            ("markdown", "<details><summary><b>Think first — answer</b></summary>Down."),
        ),
        "without a prompt": _nb(
            head,
            ("markdown", "## 1"),
            ("code", "claim(1)"),
            ("markdown", "<details><summary><b>Think first — answer</b></summary>Down.</details>"),
        ),
    }
    for what, nb in bad.items():
        assert any(what in p for p in problems(nb)), (what, problems(nb))
    summary = _nb(head, ("markdown", "## What you learned"), ("code", "plt.plot(x)"))
    assert problems(summary) == [], "the closing summary is not a section with a result"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_section_with_a_result_asks_for_a_prediction_first(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = problems(nb)
    assert not found, f"{path.name}:\n  " + "\n  ".join(found)
