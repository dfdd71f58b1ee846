"""What a student sees: the lessons with widgets, run in JupyterLab in a real browser (Chromium).

`cssl-edu lab` copies the course into a temporary folder and starts JupyterLab on a free
localhost port with a token; Playwright drives Debian's Chromium (``executable_path``: its own
browser download cannot work on the project's machines). For each lesson that has widgets the
test opens the notebook, runs all cells, and checks

- no cell has an error output, and every code cell ran;
- every widget rendered (controls and a figure, no "Error displaying widget");
- each widget cell shows exactly one figure, the live one inside the widget (the PNG fallback
  that :func:`cssl_edu.notebook.interactive_figure` adds is not drawn a second time);
- moving the widget's first control (a slider, else a drop-down) redraws its figure.

Then ``cssl-edu course html --no-execute`` renders the notebooks as JupyterLab saved them, and
the pages, opened in Chromium, show every figure: the widgets' static PNGs included.

Screenshots of each widget cell (before and after the control moved) and of each rendered page
go to ``ci-artifacts/browser/`` (git-ignored; ``$CSSL_EDU_ARTIFACTS`` overrides it); the path is
printed at the end. Skipped where Chromium or Playwright is missing, except in CI (``CI=true``),
where that is a failure: ``.ci/run`` installs Chromium first.

The lessons run with the ``cpu`` profile and load the pre-load checkpoints that the nbval runs of
``notebooks/`` leave in ``notebooks/checkpoints`` (``tests/conftest.py`` runs this module last),
as the lessons do when run in order; run alone, the lessons train them once, in order.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
ARTIFACTS = Path(os.environ.get("CSSL_EDU_ARTIFACTS", REPO / "ci-artifacts")) / "browser"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: every lesson whose code shows a widget, in course order (later lessons load earlier ones' runs)
WIDGET_LESSONS = [
    p.name
    for p in sorted((REPO / "notebooks").glob("*.ipynb"))
    if "interactive_figure(" in p.read_text(encoding="utf-8")
]
LESSON_TIMEOUT_S = 1200  # a lesson's run-all; CI-order runs take seconds to ~1.5 min each
REDRAW_TIMEOUT_S = 300  # lesson 11 fits a linear probe per move


def chromium_path() -> str | None:
    """Debian's Chromium (or ``$CSSL_EDU_CHROMIUM``), or None."""
    env = os.environ.get("CSSL_EDU_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} — CI must run the browser test (.ci/run installs chromium).", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, ""


def _say(request: pytest.FixtureRequest, text: str) -> None:
    """Print past pytest's output capture (the screenshot folder is worth seeing in any run)."""
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        print(text)
        return
    with capman.global_and_fixture_disabled():
        print(text)


class Lab:
    """A JupyterLab started by ``cssl-edu lab`` on a temporary copy of the course."""

    def __init__(self, root: Path, port: int, token: str, proc: subprocess.Popen, log: Path) -> None:
        self.root, self.port, self.token, self.proc, self.log = root, port, token, proc, log
        self.saved: list[str] = []  # lessons run and saved (with outputs) by the browser

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}{path}{sep}token={self.token}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _lab_env(home: Path) -> dict[str, str]:
    """The server's environment: isolated Jupyter folders, the cpu profile, the repo's checkpoints."""
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "CSSL_EDU_COURSE_DIR")}
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
    ):
        env[var] = str(home / sub)
    settings = home / "settings" / "@jupyterlab"
    # every cell attached to the page (no virtual scrolling), and no news pop-up over the cells
    for rel, value in (
        ("notebook-extension/tracker.jupyterlab-settings", {"windowingMode": "none"}),
        ("apputils-extension/notification.jupyterlab-settings", {"fetchNews": "false"}),
    ):
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    # no keep-alive pings on the kernel websockets: on a machine busy with other jobs a starved
    # browser can miss them, and a dropped connection loses the replies of the cells in flight
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"tornado_settings": {"ws_ping_interval": 0}}})
    )
    env["CSSL_EDU_PROFILE"] = "cpu"
    env["CSSL_EDU_CHECKPOINTS"] = str(REPO / "notebooks" / "checkpoints")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        _missing("Chromium is not installed (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed (it is in the dev extra)")
    return path  # type: ignore[return-value]


@pytest.fixture(scope="module")
def lab(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Lab]:
    if not WIDGET_LESSONS:
        pytest.skip("no lesson uses interactive_figure")
    tmp = tmp_path_factory.mktemp("browser")
    course, port, token = tmp / "course", _free_port(), f"t{os.getpid()}{int(time.time())}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    cmd = [
        sys.executable,
        "-m",
        "cssl_edu.cli",
        "lab",
        str(course),
        "--no-browser",
        "--port",
        str(port),
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run cells, read outputs
        "--ServerApp.ip=127.0.0.1",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI runs as root
    log = tmp / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=tmp, env=_lab_env(tmp / "jupyter"), stdout=out, stderr=subprocess.STDOUT
        )
    server = Lab(course, port, token, proc, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"cssl-edu lab exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                if _get(server.url("/api/status"))[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer on port {port} within 120 s:\n{server.log_tail()}")
            time.sleep(0.5)
        assert "copied" in log.read_text(), server.log_tail()
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shots = sorted(ARTIFACTS.glob("*.png"))
        _say(request, f"\nbrowser test: {len(shots)} screenshots in {ARTIFACTS}")


@pytest.fixture(scope="module")
def page(chromium: str, lab: Lab) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        pg.goto(lab.url("/lab?reset"))
        pg.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=120_000)
        pg.evaluate("() => window.jupyterapp.started")
        yield pg
        browser.close()


# JavaScript run in the page, through the JupyterLab application object
OPEN_AND_RUN_ALL = """async (path) => {
    const app = window.jupyterapp;
    const nb = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
    await nb.context.ready;
    await nb.sessionContext.ready;
    window.cssl = {nb, done: false};
    app.shell.activateById(nb.id);
    nb.content.widgets.forEach((cell, i) => cell.node.setAttribute('data-cssl-cell', String(i)));
    app.commands.execute('notebook:run-all-cells').then(
        () => { window.cssl.done = true; },
        (e) => { window.cssl.done = 'run-all failed: ' + e; });
}"""

CELL_REPORT = """() => {
    const nb = window.cssl.nb;
    return nb.content.widgets.map((cell, i) => {
        if (cell.model.type !== 'code') return null;
        const outputs = cell.model.outputs.toJSON();
        return {
            index: i,
            ran: cell.model.executionCount !== null,
            errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
            widget_outputs: outputs.filter(o => o.data && o.data['WIDGET_MIME']).length,
            source: cell.model.sharedModel.getSource().slice(0, 120),
        };
    }).filter(r => r !== null);
}""".replace("WIDGET_MIME", WIDGET_MIME)

WIDGET_CELL_DOM = """(el) => {
    const imgs = [...el.querySelectorAll('.jp-OutputArea-output img')];
    return {
        interacts: el.querySelectorAll('.widget-interact').length,
        controls: el.querySelectorAll('.widget-interact .widget-slider, .widget-interact select').length,
        imgs: imgs.length,
        imgs_in_widget: imgs.filter(i => i.closest('.widget-interact')).length,
        loaded: imgs.every(i => i.complete && i.naturalWidth > 0),
        text: el.innerText.includes('Error displaying widget') ? 'error' : '',
        src: imgs.length ? imgs[0].src : null,
    };
}"""

CLOSE = """async () => {
    const nb = window.cssl.nb;
    await nb.context.save();
    await nb.sessionContext.shutdown();
    nb.dispose();
}"""


@pytest.mark.parametrize("lesson", WIDGET_LESSONS)
def test_lesson_widgets_in_jupyterlab(lesson: str, lab: Lab, page: Any) -> None:
    stem = Path(lesson).stem
    page.evaluate(OPEN_AND_RUN_ALL, f"notebooks/{lesson}")
    try:
        try:
            page.wait_for_function(
                "() => window.cssl.done !== false", timeout=LESSON_TIMEOUT_S * 1000, polling=1000
            )
        except Exception as e:  # say where it stopped
            pending = [c["index"] for c in page.evaluate(CELL_REPORT) if not c["ran"]]
            kernel = page.evaluate("() => window.cssl.nb.sessionContext.kernelDisplayStatus")
            raise AssertionError(
                f"{lesson}: run-all did not finish in {LESSON_TIMEOUT_S} s; cells not run: {pending}; "
                f"kernel: {kernel}"
            ) from e
        assert page.evaluate("() => window.cssl.done") is True, page.evaluate("() => window.cssl.done")
        cells = page.evaluate(CELL_REPORT)
        errors = [(c["index"], c["errors"], c["source"]) for c in cells if c["errors"]]
        assert not errors, f"{lesson}: error outputs in cells {errors}"
        not_run = [c["index"] for c in cells if not c["ran"]]
        assert not not_run, f"{lesson}: cells {not_run} did not run"
        widget_cells = [c for c in cells if c["widget_outputs"]]
        assert widget_cells, f"{lesson}: no widget output, though the lesson calls interactive_figure"

        for k, c in enumerate(widget_cells):
            where = f"{lesson}, cell {c['index']}"
            cell = page.locator(f'.jp-NotebookPanel:not(.lm-mod-hidden) [data-cssl-cell="{c["index"]}"]')
            cell.scroll_into_view_if_needed()
            dom = cell.evaluate(WIDGET_CELL_DOM)
            cell.screenshot(path=str(ARTIFACTS / f"{stem}-widget{k}-before.png"))
            assert dom["text"] != "error", f"{where}: JupyterLab could not display the widget"
            assert dom["interacts"] == c["widget_outputs"], f"{where}: a widget did not render: {dom}"
            assert dom["controls"] >= 1, f"{where}: the widget shows no control: {dom}"
            assert dom["imgs"] == 1 and dom["imgs_in_widget"] == 1, (
                f"{where}: expected one figure, inside the widget; found {dom['imgs']} "
                f"({dom['imgs_in_widget']} inside it)"
            )
            assert dom["loaded"], f"{where}: the figure did not load"

            handle = cell.locator(".widget-interact .noUi-handle")
            if handle.count():  # a slider: one step to the right (keyboard, as a student can)
                handle.first.focus()
                handle.first.press("ArrowRight")
            else:  # a drop-down: the next option
                select = cell.locator(".widget-interact select").first
                options = select.locator("option").count()
                current = select.evaluate("(s) => s.selectedIndex")
                select.select_option(index=(current + 1) % options)
            page.wait_for_function(
                """([el, src]) => {
                    const i = el.querySelector('.widget-interact img');
                    return i && i.complete && i.naturalWidth > 0 && i.src !== src;
                }""",
                arg=[cell.element_handle(), dom["src"]],
                timeout=REDRAW_TIMEOUT_S * 1000,
                polling=250,
            )
            after = cell.evaluate(WIDGET_CELL_DOM)
            cell.screenshot(path=str(ARTIFACTS / f"{stem}-widget{k}-after.png"))
            assert after["imgs"] == 1 and after["imgs_in_widget"] == 1, f"{where}: after the redraw: {after}"
            errors = [c2["errors"] for c2 in page.evaluate(CELL_REPORT) if c2["errors"]]
            assert not errors, f"{where}: moving the control raised {errors}"
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{stem}-FAILED.png"))
        raise
    finally:
        page.evaluate(CLOSE)  # saved with its outputs: the HTML test renders it
    lab.saved.append(lesson)


def test_course_html_shows_every_figure(lab: Lab, page: Any, tmp_path: Path) -> None:
    """`cssl-edu course html` of the notebooks as JupyterLab saved them: every figure is an image
    that loads in Chromium, the widgets' PNGs included, and no page needs widget JavaScript."""
    from cssl_edu.cli import main

    if not lab.saved:
        pytest.skip("no lesson ran in the browser (run the whole module)")
    out = tmp_path / "html"
    assert main(["course", "html", str(out), "--no-execute", "--source", str(lab.root)]) == 0
    for lesson in lab.saved:
        nb = json.loads((lab.root / "notebooks" / lesson).read_text(encoding="utf-8"))
        outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        pngs = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
        widget_pngs = [o["data"]["image/png"] for o in outputs if WIDGET_MIME in o.get("data", {})]
        assert widget_pngs, f"{lesson}: the saved notebook has no widget output with its PNG"
        html_path = out / "notebooks" / f"{Path(lesson).stem}.html"
        assert WIDGET_MIME not in html_path.read_text(encoding="utf-8"), f"{html_path}: needs widget JS"
        page.goto(html_path.as_uri())
        page.wait_for_load_state("load")
        imgs = page.evaluate(
            """() => [...document.querySelectorAll('img')].map(i => ({
                src: i.getAttribute('src') || '', ok: i.complete && i.naturalWidth > 0}))"""
        )
        prefix = "data:image/png;base64,"
        figures = [
            (k, re.sub(r"\s", "", i["src"][len(prefix) :]), i["ok"])
            for k, i in enumerate(imgs)
            if i["src"].startswith(prefix)
        ]  # not the Colab badge (from the network)
        broken = [k for k, _, ok in figures if not ok]
        assert not broken, f"{html_path}: {len(broken)} figures did not load in Chromium"
        clean = [re.sub(r"\s", "", p) for p in pngs]
        assert sorted(src for _, src, _ in figures) == sorted(clean), (
            f"{html_path}: {len(figures)} figures shown, the notebook has {len(clean)}"
        )
        first_widget = re.sub(r"\s", "", widget_pngs[0])
        k = next(k for k, src, _ in figures if src == first_widget)
        img = page.locator("img").nth(k)
        img.scroll_into_view_if_needed()
        img.screenshot(path=str(ARTIFACTS / f"{Path(lesson).stem}-html-widget.png"))
