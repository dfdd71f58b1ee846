"""Every lesson sentence that states a measured direction is checked by a claim next to it.

A lesson's prose that says "A beats B", "beyond the noise", "below random init"… about the run
the student just made is only kept true by a ``claim…(`` call (``cssl_edu.claims``) in an adjacent
code cell: the cell that printed the numbers just before the prose, or the cell right after it.
Under ``pytest --nbval-lax`` that call raises ``ClaimError`` naming the sentence when a rerun, a zoo
rebuild or a torch upgrade makes it false. The opening cell (objectives: what the student *will*
measure) and the closing summary ("What you learned", "Go further": restating checked sentences)
are read by hand instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LESSONS = sorted((REPO / "notebooks").glob("*.ipynb"))

#: Phrases that state the direction of a measured result.
DIRECTION = re.compile(
    r"\b(beyond (the )?(\w+ )?noise|within (the )?(\w+ )?noise|(above|below) (the )?random|beats?|"
    r"outperforms?|wins|more uniform|less uniform|(higher|lower|better|worse) than|falls to|rises to|drops to)\b",
    re.IGNORECASE,
)
CLAIM_CALL = re.compile(r"\bclaim\w*\(")
#: Sentences that use a direction word but state no result of this run, each with why. A text
#: snippet of the sentence (it must still be found, so a stale entry fails too).
NOT_MEASURED_HERE: dict[tuple[str, str], str] = {
    ("02_encoders_heads.ipynb", "classifier on `h` beats one on `z`"): "Chen et al.'s ImageNet result, cited",
    ("03_augmentations.ipynb", 'is reported as "within noise"'): "defines the verdict the next cells check",
    ("08_supervised_contrastive.ipynb", "it trains much better than"): "Khosla et al.'s Table 2, cited",
    (
        "10_invariance_analysis.ipynb",
        '"beyond noise" means p < 0.05',
    ): "defines the verdict the next cells check",
    (
        "10_invariance_analysis.ipynb",
        'so "within noise" says only',
    ): "defines the verdict the next cells check",
    ("13_beyond_instance_discrimination.ipynb", "how far above the random network"): (
        "points at section 6's table, whose claims (prediction intervals vs random init) check it"
    ),
}
SUMMARY = re.compile(r"^##+ .*(What you learned|Go further)", re.MULTILINE | re.IGNORECASE)


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def unchecked_directions(nb: dict, name: str = "") -> list[tuple[int, str]]:
    """(cell index, phrase) for each direction phrase whose markdown cell has no claim beside it."""
    cells = nb["cells"]
    exempt = [snippet for (lesson, snippet) in NOT_MEASURED_HERE if lesson == name]
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown" or i == 0 or SUMMARY.search(_source(cell)):
            continue
        text = _source(cell)
        spans = [(text.find(x), text.find(x) + len(x)) for x in exempt if x in text]
        hits = [
            m.group(0)
            for m in DIRECTION.finditer(text)
            if not any(lo <= m.start() and m.end() <= hi for lo, hi in spans)
        ]
        if not hits:
            continue
        neighbours = [
            cells[j] for j in (i - 1, i + 1) if 0 <= j < len(cells) and cells[j]["cell_type"] == "code"
        ]
        if not any(CLAIM_CALL.search(_source(c)) for c in neighbours):
            found += [(i, h) for h in hits]
    return found


def test_the_detector_flags_an_unchecked_sentence_and_accepts_a_checked_one() -> None:
    md = {"cell_type": "markdown", "source": ["MoCHi beats MoCo beyond the noise."]}
    code = {"cell_type": "code", "source": ["print(acc)"]}
    checked = {"cell_type": "code", "source": ["claim_beyond_noise(a, b, 'MoCHi beats MoCo')"]}
    title = {"cell_type": "markdown", "source": ["# 07 — title"]}
    assert unchecked_directions({"cells": [title, code, md, code]}) == [(2, "beats"), (2, "beyond the noise")]
    assert unchecked_directions({"cells": [title, checked, md, code]}) == []
    assert unchecked_directions({"cells": [title, code, md, checked]}) == []


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_measured_directions_are_checked_by_a_claim(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    missing = unchecked_directions(nb, path.name)
    assert not missing, (
        f"{path.name}: these markdown cells state a measured direction with no claim…( call in an adjacent "
        f"code cell: {missing}. Check the sentence with cssl_edu.claims in the cell that prints its numbers "
        "(or the next one), generate it from the numbers, or say only what the run shows."
    )


def test_every_exemption_is_still_in_its_lesson() -> None:
    for (lesson, snippet), why in NOT_MEASURED_HERE.items():
        text = (REPO / "notebooks" / lesson).read_text(encoding="utf-8")
        md = "\n".join(_source(c) for c in json.loads(text)["cells"] if c["cell_type"] == "markdown")
        assert snippet in md, (
            f"{lesson}: the exempted sentence ({why}) is gone; drop it from NOT_MEASURED_HERE"
        )
