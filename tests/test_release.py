"""The release path, for real: the README's install-and-start block in a fresh virtual environment,
and the wheel and sdist that `python -m build` makes (twine check, the course and the zoo inside,
`cssl-edu course list`, `zoo list` and `lab` from the installed wheel).

One module-scoped fixture runs the README's block, which creates a brand-new venv and installs
the package with all its dependencies (PyTorch included: about 2 minutes from pip's local
cache, 5.5 GB of disk); the wheel test reuses that venv's dependencies instead of installing
PyTorch a second time. Both venvs live under pytest's tmp_path and are deleted with it;
every server is stopped.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]
START_HEADING = "## Start the course"
GIT_SPEC = "cssl-edu @ git+https://github.com/cssl-edu/cssl-edu"
WHEEL_LINE = "pip install build && python3 -m build && pip install dist/cssl_edu-*.whl"


# --------------------------------------------------------------------------- helpers


def readme_start_blocks(readme: str | None = None) -> list[list[str]]:
    """The commands of every ```bash block in the README's :data:`START_HEADING` section (up to
    the next ``## `` heading), comments and blank lines dropped: the install-and-start block
    first, then the other install lines."""
    text = (REPO / "README.md").read_text(encoding="utf-8") if readme is None else readme
    assert START_HEADING in text, f"README.md has no '{START_HEADING}' section"
    section = text.split(START_HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        commands = []
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()  # a trailing comment
            if line and not line.startswith("#"):
                commands.append(line)
        blocks.append(commands)
    assert blocks, f"no ```bash block under '{START_HEADING}' in README.md"
    return blocks


def readme_install_block(readme: str | None = None) -> list[str]:
    """The README's install-and-start block (the first one of its section)."""
    return readme_start_blocks(readme)[0]


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment of a new shell on this machine: no venv, no course override, private Jupyter dirs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CSSL_EDU_COURSE_DIR")
    }
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    jupyter = tmp / "jupyter"
    env.update(
        JUPYTER_CONFIG_DIR=str(jupyter / "config"),
        JUPYTER_DATA_DIR=str(jupyter / "data"),
        JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return env


def _run(cmd: list[str] | str, cwd: Path, env: dict[str, str], timeout: int = 900) -> str:
    res = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        shell=isinstance(cmd, str),
        executable="/bin/bash" if isinstance(cmd, str) else None,
    )
    shown = cmd if isinstance(cmd, str) else " ".join(cmd)
    assert res.returncode == 0, (
        f"{shown} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    )
    return res.stdout


def _copy_working_tree(dest: Path) -> Path:
    """What `git clone` would give for this commit, taken from the working tree: tracked files and
    new files git does not ignore (no .venv, no build outputs)."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A `cssl-edu lab ... --no-browser` process on a free port, stopped on exit (bounded waits)."""

    def __init__(self, shell_line: str, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.port, self.token = _free_port(), "release-test"
        self.log = log
        cmd = f"{shell_line} --no-browser --port {self.port} --IdentityProvider.token={self.token}"
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                ["/bin/bash", "-c", f"exec {cmd}"],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def get(self, path: str) -> int:
        url = f"http://127.0.0.1:{self.port}{path}?token={self.token}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def __enter__(self) -> Lab:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"cssl-edu lab exited:\n{self.log.read_text()[-3000:]}"
            try:
                if self.get("/api/status") == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        self.__exit__()
        pytest.fail(f"JupyterLab did not answer within 180 s:\n{self.log.read_text()[-3000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


# --------------------------------------------------------------------------- the README's block


def test_readme_install_block_is_clone_venv_install_and_start() -> None:
    """The block a new user copies: it installs from a clone today and names PyPI for later."""
    cmds = readme_install_block()
    assert cmds[0].startswith("git clone https://github.com/cssl-edu/cssl-edu"), cmds
    assert any(c.endswith("pip install .") for c in cmds), cmds
    assert cmds[-1] == "cssl-edu lab", cmds
    assert not any(re.search(r"pip install\s+cssl-edu\b", c) for c in cmds), (
        "`pip install cssl-edu` fails until the first release is on PyPI"
    )
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    homepage = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Homepage"]
    assert f"git clone {homepage}" in cmds[0]
    start = readme.split(START_HEADING, 1)[1].split("\n## ", 1)[0]
    assert "pip install cssl-edu" in start and "first release" in start, "PyPI is named as the later path"


def test_readme_block_parser() -> None:
    text = (
        "x\n## Start the course\n\nintro\n\n```bash\n# a comment\nfoo bar   # trailing\n\nbaz\n```\n"
        "```bash\nqux\n```\n## Next\n```bash\nnot this section\n```\n"
    )
    assert readme_start_blocks(text) == [["foo bar", "baz"], ["qux"]]
    assert readme_install_block(text) == ["foo bar", "baz"]


def test_every_install_line_of_the_readme_is_one_this_module_runs() -> None:
    """No install command in the README that no test runs: the section's blocks are the three
    the tests below run, and `pip install cssl-edu` (PyPI) appears only as prose for later."""
    blocks = readme_start_blocks()
    assert len(blocks) == 3, blocks
    assert blocks[1] == [f'pip install "{GIT_SPEC}"'], blocks[1]
    assert blocks[2] == [WHEEL_LINE], blocks[2]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for m in re.finditer(r"pip install [^\n`]*", readme):
        line = m.group(0)
        assert (
            not re.fullmatch(r"pip install cssl-edu\s*", line)
            or "first release" in readme[max(0, m.start() - 200) : m.end() + 200]
        ), f"`{line}` is shown as a command that works today"


@pytest.fixture(scope="module")
def readme_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], str]]:
    """Run the README's block up to its last command (`cssl-edu lab`) in a copy of this commit.

    The block's first line clones the repository from GitHub; here the clone is replaced by a copy
    of the working tree (`_copy_working_tree`), because the test must check this commit rather
    than what GitHub holds, and tests have no network access to GitHub. Every other line runs as
    written, in one bash shell: a brand-new venv (`python3 -m venv .venv`), activated, and
    `pip install .` with every dependency installed into it. Yields (clone folder, environment,
    the block's last line).
    """
    tmp = tmp_path_factory.mktemp("readme")
    cmds = readme_install_block()
    clone = re.match(r"git clone \S+(?:\s+(\S+))?\s*&&\s*cd\s+(\S+)$", cmds[0])
    assert clone, f"the block's first line is not `git clone URL && cd DIR`: {cmds[0]}"
    work = _copy_working_tree(tmp / clone.group(2))
    env = _clean_env(tmp)
    start = time.monotonic()
    script = "set -euo pipefail\n" + "\n".join(cmds[1:-1])
    _run(script, work, env, timeout=2700)  # ~2 min on a quiet machine; 17 min seen under load 20
    print(f"README install block: {time.monotonic() - start:.0f} s")
    yield work, env, cmds[-1]
    shutil.rmtree(work / ".venv", ignore_errors=True)  # 5.5 GB: gone before the next module runs


@pytest.mark.slow
def test_readme_block_installs_into_a_fresh_venv_and_cssl_edu_lab_serves_the_course(
    readme_install: tuple[Path, dict[str, str], str],
) -> None:
    work, env, start_line = readme_install
    venv = work / ".venv"
    py = venv / "bin" / "python"
    # run outside the clone: there, `python -c` would import the clone's own cssl_edu/ folder
    where = _run(
        [str(py), "-c", "import cssl_edu, torch; print(cssl_edu.__file__)"], work.parent, env
    ).strip()
    assert Path(where).is_relative_to(venv / "lib"), f"cssl_edu is imported from {where}, not the new venv"
    lab_env = dict(env, PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(venv))
    with Lab(start_line, work, lab_env, work.parent / "lab.log") as lab:
        assert lab.get("/lab") == 200
        assert lab.get("/api/contents/notebooks/00_welcome.ipynb") == 200
    lessons = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in (work / "cssl-edu-course" / "notebooks").glob("*.ipynb")) == lessons


# --------------------------------------------------------------------------- the wheel and the sdist


def _names_in(dist: Path) -> list[str]:
    if dist.suffix == ".whl":
        with zipfile.ZipFile(dist) as zf:
            return zf.namelist()
    with tarfile.open(dist) as tf:
        return tf.getnames()


def _activated(venv: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` as after ``. <venv>/bin/activate``."""
    return dict(env, PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(venv))


def _reinstall(line: str, work: Path, env: dict[str, str]) -> str:
    """Uninstall cssl-edu from the README's venv, run ``line`` there (activated), and return where
    cssl_edu is now imported from: the line alone must have installed it."""
    venv = work / ".venv"
    _run([str(venv / "bin" / "pip"), "uninstall", "-y", "cssl-edu"], work, env)
    _run(f"set -euo pipefail\n. .venv/bin/activate\n{line}", work, env)
    code = "import cssl_edu.course as c; print(c.course_root())"
    return _run([str(venv / "bin" / "python"), "-c", code], work.parent, env).strip()  # not the clone's


@pytest.mark.slow
def test_readme_git_url_line_installs_the_course_from_the_repository(
    readme_install: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    """The README's line without a clone: `pip install "cssl-edu @ git+<repository>"`. The URL is
    replaced by a git repository of this commit's tree served over HTTP on localhost (tests cannot
    reach GitHub, and must check this commit); pip clones it, builds the wheel and installs it,
    course and zoo included."""
    work, env, _ = readme_install
    (line,) = readme_start_blocks()[1]
    repo = _copy_working_tree(tmp_path / "repo")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    _run(["git", "init", "-q"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run([*git, "commit", "-q", "-m", "this tree"], repo, env)
    _run(
        ["git", "clone", "-q", "--bare", str(repo), str(tmp_path / "served" / "cssl-edu.git")], tmp_path, env
    )
    _run(
        ["git", "update-server-info"], tmp_path / "served" / "cssl-edu.git", env
    )  # git's plain-HTTP protocol
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cssl-edu.git"
        local = line.replace("https://github.com/cssl-edu/cssl-edu", url)
        assert local != line
        root = _reinstall(local, work, env)
    finally:
        server.shutdown()
        thread.join(10)
    assert Path(root).name == "_course" and Path(root).is_relative_to(work / ".venv")
    listing = _run([str(work / ".venv" / "bin" / "cssl-edu"), "course", "list"], tmp_path, env)
    assert "Welcome and setup" in listing and "Problem set 01" in listing


@pytest.mark.slow
def test_readme_wheel_line_then_twine_check_and_the_wheel_in_a_fresh_venv(
    readme_install: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    """The README's wheel line in the clone (`python3 -m build`, isolated, as a release builds):
    a wheel and an sdist that pass `twine check --strict` and both carry the course and the zoo;
    the wheel, installed into a new venv, lists the course and the zoo and serves the course with
    `cssl-edu lab DIR --no-browser`."""
    work, env, _ = readme_install
    (line,) = readme_start_blocks()[2]
    root = _reinstall(line, work, env)
    assert Path(root).name == "_course" and Path(root).is_relative_to(work / ".venv")
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    wheel = work / "dist" / f"cssl_edu-{version}-py3-none-any.whl"
    sdist = work / "dist" / f"cssl_edu-{version}.tar.gz"
    assert wheel.is_file() and sdist.is_file(), sorted(p.name for p in (work / "dist").iterdir())
    out = _run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], tmp_path, env)
    assert out.count("PASSED") == 2, out

    zoo_weights = sorted(p.name for p in (REPO / "cssl_edu" / "zoo" / "weights").glob("*.pt"))
    lessons = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert zoo_weights and lessons
    for archive, course_prefix in ((wheel, "cssl_edu/_course/"), (sdist, f"cssl_edu-{version}/")):
        names = _names_in(archive)
        for w in zoo_weights:
            assert any(n.endswith(f"cssl_edu/zoo/weights/{w}") for n in names), (archive.name, w)
        for table in ("tuning-cpu.jsonl", "equal-budget-cpu.jsonl"):
            assert any(n.endswith(f"cssl_edu/zoo/{table}") for n in names), (
                f"{table}: tables lessons read ship too"
            )
        for kind in ("notebooks", "exercises", "solutions"):
            for nb in (REPO / kind).glob("*.ipynb"):
                assert f"{course_prefix}{kind}/{nb.name}" in names, (archive.name, kind, nb.name)

    # A new venv, where pip cannot see the README venv's cssl-edu: the wheel is what it installs.
    # Its dependencies are the README venv's (the same requirements, installed into a fresh venv
    # by the README's block a few minutes ago), made visible through a .pth file so that PyTorch
    # (5.5 GB) is not installed a second time; pip still checks every requirement against them.
    venv = tmp_path / "venv"
    _run(["python3", "-m", "venv", str(venv)], tmp_path, env)
    (readme_site,) = (work / ".venv").glob("lib/python*/site-packages")
    deps = tmp_path / "deps"
    deps.mkdir()
    for entry in readme_site.iterdir():
        if entry.name.startswith(("cssl_edu", "__editable__")) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    (new_site,) = venv.glob("lib/python*/site-packages")
    (new_site / "zz_dependencies.pth").write_text(f"{deps}\n")
    (venv / "share").mkdir(exist_ok=True)  # what installing jupyterlab puts there (kernels, lab assets)
    (venv / "share" / "jupyter").symlink_to(work / ".venv" / "share" / "jupyter")
    try:
        pip_out = _run([str(venv / "bin" / "pip"), "install", str(wheel)], tmp_path, env)
        installed = pip_out.rsplit("Successfully installed", 1)[-1].split()
        assert f"cssl-edu-{version}" in installed, pip_out[-2000:]
        # at most a newer setuptools over the venv's own; never PyTorch or JupyterLab again
        assert not [p for p in installed if p.startswith(("torch", "jupyterlab"))], installed

        exe = venv / "bin" / "cssl-edu"
        vv = _activated(venv, env)
        code = "import cssl_edu, cssl_edu.course as c; print(cssl_edu.__version__, c.course_root())"
        got_version, root = _run([str(venv / "bin" / "python"), "-c", code], tmp_path, vv).split()
        assert got_version == version and Path(root) == new_site / "cssl_edu" / "_course"
        listing = _run([str(exe), "course", "list"], tmp_path, vv)
        assert "Welcome and setup" in listing and "Problem set 01" in listing
        table = _run([str(exe), "zoo", "list"], tmp_path, vv)
        assert all(w.removesuffix(".pt") in table for w in zoo_weights), table
        student = tmp_path / "student"
        student.mkdir()
        with Lab(f"{exe} lab {student / 'my-course'}", student, vv, tmp_path / "lab.log") as lab:
            assert lab.get("/api/contents/notebooks") == 200
            assert lab.get("/lab") == 200
        assert sorted(p.name for p in (student / "my-course" / "notebooks").glob("*.ipynb")) == lessons
    finally:
        shutil.rmtree(venv, ignore_errors=True)


# --------------------------------------------------------------------------- the workflows (not run here)


def _workflow(name: str) -> dict:
    import yaml

    wf = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    assert isinstance(wf, dict) and wf.get("jobs"), name
    wf["on"] = wf.get("on", wf.pop(True, None))  # YAML 1.1 reads the key `on` as true
    return wf


def test_publish_workflow_runs_on_version_tags_with_trusted_publishing_and_no_token() -> None:
    wf = _workflow("publish.yml")
    assert wf["on"]["push"]["tags"] == ["v*"]
    build, publish = wf["jobs"]["build"], wf["jobs"]["publish"]
    runs = " ".join(step.get("run", "") for step in build["steps"])
    assert "python -m build" in runs and "twine check" in runs
    assert publish["needs"] == "build" and publish["permissions"] == {"id-token": "write"}
    (upload,) = [s for s in publish["steps"] if "gh-action-pypi-publish" in s.get("uses", "")]
    assert upload["uses"].startswith("pypa/gh-action-pypi-publish@")
    assert not upload.get("with"), "trusted publishing: no password or token is passed"
    text = (REPO / ".github" / "workflows" / "publish.yml").read_text()
    assert "secrets." not in text and "password" not in text


def test_pages_workflow_builds_the_site_and_deploys_it() -> None:
    from cssl_edu.course import SITE_BASE_URL

    wf = _workflow("pages.yml")
    assert "main" in wf["on"]["push"]["branches"] and wf["on"]["push"]["tags"] == ["v*"]
    runs = " ".join(step.get("run", "") for step in wf["jobs"]["build"]["steps"])
    assert "cssl-edu course site _site" in runs and '".[site]"' in runs
    uses = [s.get("uses", "") for s in wf["jobs"]["deploy"]["steps"]]
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert wf["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert SITE_BASE_URL in (REPO / ".github" / "workflows" / "pages.yml").read_text()


def test_version_is_written_once_and_the_changelog_has_it() -> None:
    import cssl_edu

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert cssl_edu.__version__ == version, "cssl_edu.__version__ comes from the installed metadata"
    init = (REPO / "cssl_edu" / "__init__.py").read_text()
    assert version not in init, "the version is written in pyproject.toml only"
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(version)}\]", changelog, flags=re.M)
    assert "## [Unreleased]" in changelog
