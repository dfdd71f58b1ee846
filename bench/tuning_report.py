"""Did scoring the zoo's tuning runs on the test split change which recipe won? (issue #21, item 1)

The first tuning runs (``bench/tune_zoo.py`` before 2026-12-06) scored each candidate recipe on
the test split that the cards report. The same screening grids were run again with today's
script, which scores on a validation split held out from the training images (10 %, class-
stratified; the run trains on the other 90 %). This script pairs each candidate's two runs (same
method, data, overrides and epochs) and writes, per method, the kNN accuracy under each split and
the candidate each split would have chosen:

    python bench/tuning_report.py            # writes bench/results/tuning-validation-cpu.md

It reads only ``cssl_edu/zoo/tuning-cpu.jsonl`` (the shipped tuning runs); nothing is typed in.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cssl_edu.notebook import format_table
from cssl_edu.zoo import tuning_pairs

OUT = Path(__file__).resolve().parent / "results" / "tuning-validation-cpu.md"


def report(pairs: list[dict]) -> str:
    """The markdown report (one table per method with ≥ 2 paired candidates) of :func:`cssl_edu.zoo.tuning_pairs`."""
    lines = [
        "# Tuning runs scored on the test split vs on a validation split (`python bench/tuning_report.py`)",
        "",
        "Each row is one candidate recipe of a screening grid, run twice: once scored on the test split",
        "(the first tuning script) and once on a validation split held out from the training images.",
        "",
    ]
    by_method: dict[str, list[dict]] = {}
    for p in pairs:
        by_method.setdefault(p["method"], []).append(p)
    for method, rows in by_method.items():
        if len(rows) < 2:
            continue
        best_t = max(rows, key=lambda r: r["test"])
        best_v = max(rows, key=lambda r: r["validation"])
        lines += [
            f"## {method} ({len(rows)} candidates, {rows[0]['epochs']} epochs; {rows[0]['scored_on']})",
            "",
            format_table(
                [
                    {
                        "overrides": r["overrides"],
                        "kNN, scored on test (%)": f"{100 * r['test']:.1f}",
                        "kNN, scored on validation (%)": f"{100 * r['validation']:.1f}",
                    }
                    for r in rows
                ]
            ),
            "",
            f"Best on test: `{best_t['overrides']}` · best on validation: `{best_v['overrides']}` — "
            + ("the same candidate." if best_t is best_v else "**a different candidate**."),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = report(tuning_pairs())
    OUT.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
