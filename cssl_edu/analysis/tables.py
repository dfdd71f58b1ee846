"""Results as tables: rows are dicts; pivot them and print them as markdown."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from cssl_edu._validation import check_rows


def _fmt(value: Any, digits: int) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *, digits: int = 3
) -> str:
    """A GitHub markdown table of ``rows``: one line per row, floats to ``digits`` places, NaN as "—".

    Args:
        rows: a non-empty list of dicts; a missing key prints as an empty cell.
        columns: the columns in order (default: every key, in first-seen order).
    """
    rows = check_rows(rows)
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_fmt(r[c], digits) if c in r else "" for c in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def pivot(rows: Sequence[Mapping[str, Any]], index: str, columns: str, values: str) -> list[dict[str, Any]]:
    """Reshape long rows into wide ones: one row per ``index`` value, one column per ``columns`` value.

    Example:
        >>> pivot([{"m": "a", "p": 0, "acc": 1.0}, {"m": "a", "p": 1, "acc": 0.5}], "m", "p", "acc")
        [{'m': 'a', '0': 1.0, '1': 0.5}]
    """
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise ValueError(f"rows must be a list of dicts (one per result row), got {type(rows).__name__}.")
    if any(not isinstance(r, Mapping) for r in rows):
        raise ValueError("rows must be a list of dicts (one per result row).")
    out: dict[Any, dict[str, Any]] = {}
    for r in rows:
        for key in (index, columns, values):
            if key not in r:
                raise ValueError(
                    f"row {dict(r)!r} has no key {key!r}; pivot needs {index!r}, {columns!r}, {values!r}."
                )
        out.setdefault(r[index], {index: r[index]})[str(r[columns])] = r[values]
    return list(out.values())
