"""Repository-wide pytest hooks: a per-file time summary, so the CI budget stays visible.

nbval collects every notebook cell as its own test item; this adds up the setup, call and
teardown time of the items of each file and prints the slowest files at the end of the run
(`tests/...py`, `notebooks/...ipynb`, `solutions/...ipynb`) with the total.

With ``CSSL_EDU_SAVE_EXECUTED=DIR`` it also writes an executed copy of every lesson and solution
that nbval ran (see ``cssl_edu/executed_notebooks.py``), which the course site renders.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from cssl_edu.executed_notebooks import SAVE_EXECUTED_ENV, executed_copy, write_executed

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


# --------------------------------------------------------------------------- executed copies
# With CSSL_EDU_SAVE_EXECUTED=DIR, every lesson and solution that nbval runs is also written to
# DIR/notebooks/<name>.ipynb (DIR/solutions/...) with its outputs, so `cssl-edu course site OUT
# --executed DIR` renders the test run's own execution instead of running every notebook again
# (cssl_edu/executed_notebooks.py; .ci/run does this).


class _ExecutedNotebookSaver:
    def __init__(self, out_dir: Path, root: Path) -> None:
        self.out_dir, self.root = out_dir, root
        self.runs: dict[Path, dict[str, Any]] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report = outcome.get_result()
        if call.when != "call" or not hasattr(item, "cell_num") or not hasattr(item, "test_outputs"):
            return
        try:
            rel = Path(item.path).resolve().relative_to(self.root)
        except ValueError:
            return
        if len(rel.parts) != 2 or rel.parts[0] not in ("notebooks", "solutions"):
            return
        run = self.runs.setdefault(Path(item.path), {"outputs": {}, "failed": [], "skipped": []})
        if report.skipped:
            run["skipped"].append(item.cell_num)
            return
        run["outputs"][item.cell_num] = list(item.test_outputs or [])
        if report.failed:
            run["failed"].append(item.cell_num)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        for path, run in self.runs.items():
            nb = executed_copy(path, run["outputs"], failed=run["failed"], skipped=run["skipped"])
            write_executed(nb, self.out_dir / path.parent.name / path.name)


def pytest_configure(config: pytest.Config) -> None:
    # popped: a pytest started by a test (a scratch notebook) must not write copies of its own
    out = os.environ.pop(SAVE_EXECUTED_ENV, "")
    if out:
        config.pluginmanager.register(
            _ExecutedNotebookSaver(Path(out).resolve(), Path(config.rootpath).resolve()), "cssl-edu-executed"
        )
