"""The zoo's encoders are "trained to a fixed CPU budget", never called "converged" (issue #21 item 3).

`cssl-edu zoo build` stops every entry at a fixed CPU budget (480–3,200 optimiser steps, at most 15
minutes of a 2-core machine), and nothing shows that they have converged: a longer run of the same
recipe may still gain, and the loss curves flatten partly because the cosine schedule ends. So the
student- and user-facing text — the lessons (markdown and code: labels, claim texts, comments), the
solutions, the README and ``docs/*.md`` — says "trained to a fixed CPU budget", "the zoo's SimCLR",
"the long-trained encoder", never "converged" or "trained to convergence" about them.

A few uses of the word are honest and stay: saying a *short* run is not converged, or asking
whether something has converged. :data:`HONEST` lists them, each with why; keep it small.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*.ipynb"))
MARKDOWN = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

#: What asserts convergence.
CONVERGED = re.compile(r"\bconverged\b|\btrained to convergence\b", re.IGNORECASE)

#: Honest uses, each with why. A match of ``CONVERGED`` inside a match of one of these is allowed.
HONEST: dict[str, re.Pattern[str]] = {
    # a short run is said NOT to be converged ("it is **not** converged"): true, and the point
    "not converged": re.compile(r"\bnot\b[*_]*\s+converged\b", re.IGNORECASE),
    # "a few dozen steps long — far from converged": the same, about a short run
    "far from converged": re.compile(r"\bfar from converged\b", re.IGNORECASE),
    # asks the reader to check it, asserts nothing: "check that a fine-tune has converged"
    "whether it has converged": re.compile(
        r"\b(whether|if|that)\b[^.?!\n]{0,60}\bhas converged\b", re.IGNORECASE
    ),
}


def wording_problems(text: str) -> list[tuple[int, str]]:
    """(1-based line, the line) for every "converged" in ``text`` that no :data:`HONEST` pattern covers."""
    allowed = [m.span() for pattern in HONEST.values() for m in pattern.finditer(text)]
    found = []
    for m in CONVERGED.finditer(text):
        if any(lo <= m.start() and m.end() <= hi for lo, hi in allowed):
            continue
        line = text.count("\n", 0, m.start()) + 1
        found.append((line, text.splitlines()[line - 1].strip()))
    return found


def notebook_problems(nb: dict) -> list[str]:
    """One line per unallowed "converged" in any cell's source (markdown, code or raw)."""
    out = []
    for i, cell in enumerate(nb["cells"]):
        src = cell["source"]
        text = "".join(src) if isinstance(src, list) else src
        out += [f"cell {i} ({cell['cell_type']}), line {n}: {line}" for n, line in wording_problems(text)]
    return out


def test_the_detector_flags_claims_of_convergence_and_keeps_the_honest_uses() -> None:
    for bad in (
        "## 3. A converged encoder from the zoo",
        'encoders = {"SimCLR (zoo, converged)": trained_backbone}',
        "The course zoo holds SimCLR encoders trained to convergence on Shapes",
        "the short run ends below every\nconverged encoder",
        "Converged encoders — the zoo's — are what the methods should be judged by",
    ):
        assert wording_problems(bad), bad
    for honest in (
        "so that you watch the mechanics in seconds; it is **not** converged. Every comparison",
        "But this run is a few dozen steps long — far from converged, and a poor basis",
        "compare methods at equal optimiser steps, and check that a fine-tune has converged before",
        "the zoo's SimCLR, trained to a fixed CPU budget",
    ):
        assert not wording_problems(honest), honest
    # an honest phrase elsewhere in the text does not excuse a claim next to it
    assert wording_problems("far from converged; the converged encoder beats it") == [
        (1, "far from converged; the converged encoder beats it")
    ]
    nb = {"cells": [{"cell_type": "code", "source": ["x = 1\n", 'label = "BYOL (converged)"\n']}]}
    assert notebook_problems(nb) == ['cell 0 (code), line 2: label = "BYOL (converged)"']


def test_there_are_files_to_check() -> None:
    assert NOTEBOOKS and all(p.exists() for p in MARKDOWN), "no lessons, solutions, README or docs found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_notebook_calls_the_zoo_converged(path: Path) -> None:
    found = notebook_problems(json.loads(path.read_text(encoding="utf-8")))
    assert not found, (
        f"{path.parent.name}/{path.name} says 'converged' where the zoo's entries are trained to a fixed CPU "
        "budget (issue #21 item 3) — say 'trained to a fixed CPU budget', 'the zoo's …' or 'the long-trained …' "
        "(rename a label in every cell that builds or reads it):\n  " + "\n  ".join(found)
    )


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_readme_or_doc_calls_the_zoo_converged(path: Path) -> None:
    found = wording_problems(path.read_text(encoding="utf-8"))
    assert not found, (
        f"{path.relative_to(REPO)} says 'converged' where the zoo's entries are trained to a fixed CPU budget "
        "(issue #21 item 3):\n  " + "\n  ".join(f"line {n}: {line}" for n, line in found)
    )
