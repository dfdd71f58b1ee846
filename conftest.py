"""Repository-wide pytest hooks: a per-file time summary, so the CI budget stays visible.

nbval collects every notebook cell as its own test item; this adds up the setup, call and
teardown time of the items of each file and prints the slowest files at the end of the run
(`tests/...py`, `notebooks/...ipynb`, `solutions/...ipynb`) with the total.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

_FILE_SECONDS: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _FILE_SECONDS[report.nodeid.split("::", 1)[0]] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FILE_SECONDS:
        return
    tr = terminalreporter
    tr.section("time per file")
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda kv: -kv[1]):
        tr.write_line(f"{seconds:8.1f} s  {path}")
    tr.write_line(f"{sum(_FILE_SECONDS.values()):8.1f} s  total")
