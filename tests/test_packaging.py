"""pyproject.toml and environment.yml agree, every conda entry is a valid MatchSpec, and the
README's two commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]
# PyPI name → conda-forge name where they differ
CONDA_NAME = {"torch": "pytorch"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _env() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def _split_req(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, req
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_environment_entries_are_valid_conda_matchspecs() -> None:
    rattler = pytest.importorskip("rattler")
    conda = [d for d in _env()["dependencies"] if isinstance(d, str)]
    assert conda, "environment.yml lists no conda packages"
    for spec in conda:
        rattler.MatchSpec(spec)  # raises on an invalid spec


def test_environment_matches_pyproject_runtime_dependencies() -> None:
    rattler = pytest.importorskip("rattler")
    specs = {}
    for d in _env()["dependencies"]:
        if isinstance(d, str):
            ms = rattler.MatchSpec(d)
            specs[ms.name.normalized] = str(ms.version or "").replace(" ", "")
    for req in _pyproject()["project"]["dependencies"]:
        name, bounds = _split_req(req)
        conda_name = CONDA_NAME.get(name, name)
        assert conda_name in specs, (
            f"{name} (conda: {conda_name}) is in pyproject.toml but not in environment.yml"
        )
        assert specs[conda_name] == bounds, (
            f"{conda_name}: environment.yml has {specs[conda_name]!r}, pyproject {bounds!r}"
        )


def test_environment_installs_the_package_with_dev_extra_and_python_311() -> None:
    env = _env()
    assert "conda-forge" in env["channels"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e .[dev]" in pip
    assert "python=3.11" in env["dependencies"]


def test_torch_is_bounded_above_by_the_tested_release() -> None:
    deps = dict(_split_req(r) for r in _pyproject()["project"]["dependencies"])
    assert deps["torch"] == ">=2.4,<=2.14.1"
    assert deps["torchvision"] == ">=0.19,<=0.29.1"


def test_dev_extra_has_the_test_tools_and_peer_libraries() -> None:
    dev = {_split_req(r)[0] for r in _pyproject()["project"]["optional-dependencies"]["dev"]}
    for need in (
        "pytest",
        "nbval",
        "nbconvert",
        "playwright",
        "hypothesis",
        "ruff",
        "lightly",
        "pytorch-metric-learning",
    ):
        assert need in dev, need


def test_jupyterlab_and_ipykernel_are_runtime_dependencies() -> None:
    """`pip install cssl-edu && cssl-edu lab` needs them (tests/test_lab.py runs it from a wheel)."""
    runtime = {_split_req(r)[0] for r in _pyproject()["project"]["dependencies"]}
    assert {"jupyterlab", "ipykernel", "ipywidgets"} <= runtime


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    commands = [
        line.strip() for b in blocks for line in b.splitlines() if line.strip() and not line.startswith("#")
    ]
    test_cmd = next(c for c in commands if "pytest" in c)
    demo_cmd = next(c for c in commands if "cssl-edu demo" in c)
    assert (
        "venv" in test_cmd and "pip install" in test_cmd and "venv" in demo_cmd and "pip install" in demo_cmd
    )
    ci = (REPO / ".ci" / "run").read_text()
    ci_cmd = next(
        line.strip() for line in ci.splitlines() if "pytest" in line and not line.lstrip().startswith("#")
    )
    assert ci_cmd == test_cmd
