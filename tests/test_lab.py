"""`cssl-edu lab`: the student's path from `pip install cssl-edu` to the course open in JupyterLab.

Unit tests run the command with JupyterLab's launch replaced by a recorder; the last test builds
the real wheel, installs it into a new virtual environment, and starts `cssl-edu lab` there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from cssl_edu.cli import main

REPO = Path(__file__).resolve().parents[1]
labapp = pytest.importorskip("jupyterlab.labapp", reason="JupyterLab is a dependency of cssl-edu")


def _notebook(title: str) -> str:
    return json.dumps(
        {
            "cells": [{"cell_type": "markdown", "id": "a1", "metadata": {}, "source": [f"# {title}"]}],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small course (one notebook per folder) as the installed one."""
    root = tmp_path / "installed"
    for kind in ("notebooks", "exercises", "solutions"):
        (root / kind).mkdir(parents=True)
        (root / kind / f"01_{kind}.ipynb").write_text(_notebook(kind))
    monkeypatch.setenv("CSSL_EDU_COURSE_DIR", str(root))
    return root


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argv of each JupyterLab launch (none really starts)."""
    calls: list[list[str]] = []
    monkeypatch.setattr(
        labapp.LabApp, "launch_instance", classmethod(lambda cls, argv=None: calls.append(argv))
    )
    return calls


def test_lab_copies_the_course_then_starts_jupyterlab_with_the_flags(
    course: Path, launches: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "mine"
    rc = main(
        ["lab", str(dest), "--no-browser", "--port", "8123", "--IdentityProvider.token=abc", "--ip=0.0.0.0"]
    )
    assert rc == 0
    for kind in ("notebooks", "exercises", "solutions"):
        copied = dest / kind / f"01_{kind}.ipynb"
        assert copied.read_bytes() == (course / kind / f"01_{kind}.ipynb").read_bytes()
    (argv,) = launches
    assert f"--ServerApp.root_dir={dest.resolve()}" in argv
    assert "--port=8123" in argv and "--no-browser" in argv
    assert argv[-2:] == ["--IdentityProvider.token=abc", "--ip=0.0.0.0"], (
        "other flags go to JupyterLab as given"
    )
    assert "copied" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("uid", "given", "added"), [(0, [], True), (0, ["--allow-root"], False), (1000, [], False)]
)
def test_lab_passes_allow_root_only_when_running_as_root(
    course: Path,
    launches: list,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    uid: int,
    given: list,
    added: bool,
) -> None:
    import cssl_edu.cli as cli

    monkeypatch.setattr(cli.os, "geteuid", lambda: uid, raising=False)
    assert main(["lab", str(tmp_path / f"c{uid}{len(given)}"), *given]) == 0
    (argv,) = launches
    assert argv.count("--allow-root") == (1 if added or given else 0)


def test_lab_never_overwrites_an_existing_copy(
    course: Path, launches: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "mine"
    assert main(["lab", str(dest)]) == 0
    edited = dest / "notebooks" / "01_notebooks.ipynb"
    edited.write_text(_notebook("my own notes"))
    (dest / "exercises" / "01_exercises.ipynb").unlink()  # even a deleted file is not brought back
    capsys.readouterr()
    assert main(["lab", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "already exists" in out and "nothing copied" in out and "copied " not in out
    assert "my own notes" in edited.read_text()
    assert not (dest / "exercises" / "01_exercises.ipynb").exists()
    assert len(launches) == 2 and "--no-browser" not in launches[1]


def test_lab_default_folder_and_an_empty_folder(
    course: Path, launches: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["lab"]) == 0
    assert (tmp_path / "cssl-edu-course" / "solutions" / "01_solutions.ipynb").is_file()
    (tmp_path / "empty").mkdir()
    assert main(["lab", "empty"]) == 0  # an empty folder gets the course
    assert (tmp_path / "empty" / "notebooks" / "01_notebooks.ipynb").is_file()


def test_lab_errors(
    course: Path,
    launches: list,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["lab", str(a_file)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["train", "--not-a-flag=1"])  # only `lab` passes unknown flags on
    assert e.value.code == 2 and "unrecognized arguments: --not-a-flag=1" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "jupyterlab.labapp", None)  # JupyterLab not installed
    assert main(["lab", str(tmp_path / "new")]) == 2
    assert "pip install jupyterlab" in capsys.readouterr().err
    assert launches == []


def test_lab_does_not_import_torch(course: Path, tmp_path: Path) -> None:
    code = (
        "import sys, jupyterlab.labapp as l\n"
        "l.LabApp.launch_instance = classmethod(lambda cls, argv=None: None)\n"
        "from cssl_edu.cli import main\n"
        f"assert main(['lab', {str(tmp_path / 'c')!r}]) == 0\n"
        "assert 'torch' not in sys.modules, 'cssl-edu lab imported torch'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]


# --------------------------------------------------------------------------- a fresh venv


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, method: str = "GET") -> tuple[int, dict]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
            return r.status, (
                json.loads(body) if body and r.headers.get_content_type() == "application/json" else {}
            )
    except urllib.error.HTTPError as e:
        return e.code, {}


class _Lab:
    """`cssl-edu lab --no-browser` from the new venv, stopped on exit."""

    def __init__(self, exe: Path, cwd: Path, env: dict[str, str]) -> None:
        self.port, self.token = _free_port(), "fresh-venv-test"
        cmd = [
            str(exe),
            "lab",
            "--no-browser",
            "--port",
            str(self.port),
            f"--IdentityProvider.token={self.token}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log = cwd / f"lab-{self.port}.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}?token={self.token}"

    def wait(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"cssl-edu lab exited:\n{self.log.read_text()[-3000:]}"
            try:
                if _get(self.url("/api/status"))[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"JupyterLab did not answer within 120 s:\n{self.log.read_text()[-3000:]}")

    def __enter__(self) -> _Lab:
        self.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _kernel_runs(connection_file: Path) -> tuple[str, str]:
    """(sys.executable, cssl_edu.__file__) as the kernel behind ``connection_file`` reports them."""
    from jupyter_client import BlockingKernelClient

    deadline = time.monotonic() + 60
    while not connection_file.is_file():
        assert time.monotonic() < deadline, f"no kernel connection file {connection_file}"
        time.sleep(0.2)
    client = BlockingKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        msg_id = client.execute("import sys, cssl_edu; print(sys.executable); print(cssl_edu.__file__)")
        text = ""
        while True:
            msg = client.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                text += msg["content"]["text"]
            elif msg["msg_type"] == "error":
                pytest.fail(f"the kernel raised {msg['content']['ename']}: {msg['content']['evalue']}")
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        client.stop_channels()
    executable, module = text.split()
    return executable, module


def _dependency_view(dev_site: Path, dest: Path) -> Path:
    """A folder of links to the dev environment's installed packages, less cssl-edu itself: what
    `pip install cssl-edu` would fetch (torch is 5 GB) is found here, never downloaded."""
    dest.mkdir()
    for entry in dev_site.iterdir():
        name = entry.name
        if name.startswith(("cssl_edu", "__editable__", "_cssl_edu")) or name.endswith(".pth"):
            continue
        (dest / name).symlink_to(entry)
    return dest


@pytest.mark.slow
def test_pip_install_then_cssl_edu_lab_in_a_fresh_venv(tmp_path: Path) -> None:
    """Build the wheel (with the real course), `pip install` it with its dependencies into a new
    venv (offline: they resolve to the dev environment's packages), run `cssl-edu lab` in an empty
    folder: the course is copied and JupyterLab answers with a working Python kernel; a second
    start opens the student's edited copy as it is."""
    src = tmp_path / "src"
    shutil.copytree(
        REPO / "cssl_edu", src / "cssl_edu", ignore=shutil.ignore_patterns("__pycache__", "_course")
    )
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    for kind in ("notebooks", "exercises", "solutions"):
        (src / kind).mkdir()
        for nb in (REPO / kind).glob("*.ipynb"):
            shutil.copy2(nb, src / kind / nb.name)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "CSSL_EDU_COURSE_DIR", "PIP_FIND_LINKS")
    }
    dist = tmp_path / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--skip-dependency-check",
            "--outdir",
            str(dist),
            str(src),
        ],
        tmp_path,
        env,
    )
    (wheel,) = dist.glob("*.whl")

    dev_site = Path(next(p for p in site.getsitepackages() if p.endswith("site-packages")))
    deps = _dependency_view(dev_site, tmp_path / "deps")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    (new_site,) = venv.glob("lib/python*/site-packages")
    (new_site / "zz_dependencies.pth").write_text(f"{deps}\n")
    # what pip puts under <venv>/share/jupyter when it installs jupyterlab and jupyterlab_widgets
    (venv / "share").mkdir(exist_ok=True)
    (venv / "share" / "jupyter").symlink_to(Path(sys.prefix) / "share" / "jupyter")
    py = venv / "bin" / "python"
    pip_out = _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-index", str(wheel)], tmp_path, env
    )
    assert "Successfully installed cssl-edu" in pip_out
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = {
        line.split()[1].split(">")[0].split("<")[0]
        for line in meta.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }
    assert {"jupyterlab", "ipykernel", "torch", "ipywidgets"} <= requires, requires
    where = _run([str(py), "-c", "import cssl_edu; print(cssl_edu.__file__)"], tmp_path, env).strip()
    assert Path(where).is_relative_to(venv), where

    work = tmp_path / "student"
    work.mkdir()
    jupyter = tmp_path / "jupyter"
    env.update(
        JUPYTER_CONFIG_DIR=str(jupyter / "config"),
        JUPYTER_DATA_DIR=str(jupyter / "data"),
        JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
    )
    exe = venv / "bin" / "cssl-edu"
    course = work / "cssl-edu-course"
    with _Lab(exe, work, env) as lab:
        lessons = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
        assert sorted(p.name for p in (course / "notebooks").glob("*.ipynb")) == lessons
        for kind in ("exercises", "solutions"):
            assert {p.name for p in (course / kind).glob("*.ipynb")} == {
                p.name for p in (REPO / kind).glob("*.ipynb")
            }
        first = course / "notebooks" / lessons[0]
        assert first.read_bytes() == (REPO / "notebooks" / lessons[0]).read_bytes()  # badge, install cell
        assert _get(lab.url("/lab"))[0] == 200
        status, listing = _get(lab.url("/api/contents/notebooks"))
        assert status == 200 and {c["name"] for c in listing["content"]} >= set(lessons)
        status, kernel = _get(lab.url("/api/kernels"), method="POST")
        assert status == 201, status
        assert _kernel_runs(jupyter / "runtime" / f"kernel-{kernel['id']}.json") == (
            str(venv / "bin" / "python"),
            str(new_site / "cssl_edu" / "__init__.py"),
        ), "the notebook kernel is the new venv's Python, with the installed cssl_edu"
        assert _get(lab.url(f"/api/kernels/{kernel['id']}"), method="DELETE")[0] == 204
    assert "copied" in lab.log.read_text()

    nb = json.loads(first.read_text(encoding="utf-8"))  # the student writes notes into a lesson
    nb["cells"].append({"cell_type": "markdown", "id": "my-notes", "metadata": {}, "source": ["my notes"]})
    first.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    edited = first.read_bytes()
    with _Lab(exe, work, env) as lab:
        assert first.read_bytes() == edited, "the second start overwrote the student's notebook"
    log = lab.log.read_text()
    assert "already exists" in log and "copied" not in log.replace("nothing copied", ""), log[-2000:]
