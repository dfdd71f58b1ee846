"""The cssl-edu command line: help, train, eval, demo, and its error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cssl_edu.cli import HELP, build_parser, main
from cssl_edu.config import TrainConfig

TINY = [
    "--n-train",
    "256",
    "--n-test",
    "128",
    "--batch-size",
    "64",
    "--proj-hidden-dim",
    "64",
    "--knn-k",
    "20",
    "--device",
    "cpu",
    "--profile",
    "cpu",
]


def test_help_explains_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for name in TrainConfig.field_names() - {"method_kwargs", "augment_kwargs"}:
        assert "--" + name.replace("_", "-") in out
        assert HELP[name], f"no help text for {name}"
    assert "--resume" in out and "--config" in out
    parser = build_parser()
    assert {"train", "eval", "demo"} <= set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def test_train_then_eval_from_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"epochs: 1\nout_dir: {tmp_path / 'run'}\n")
    assert main(["train", "--config", str(cfg), *TINY]) == 0
    ckpt = tmp_path / "run" / "last.pt"
    assert ckpt.is_file()
    capsys.readouterr()
    out_json = tmp_path / "eval.json"
    assert (
        main(
            [
                "eval",
                str(ckpt),
                "--probe-epochs",
                "5",
                "--fractions",
                "0.1,1.0",
                "--out",
                str(out_json),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    res = json.loads(out_json.read_text())
    assert 0 <= res["knn_acc"] <= 1 and set(res["label_fractions"]) == {"0.1", "1.0"}


def test_cli_errors_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--temperature", "0", "--out-dir", str(tmp_path), *TINY]) == 2
    assert "temperature" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.pt")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert main(["eval", str(tmp_path / "junk.pt")]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert main(["train", "--dataset", "cifar10", "--data-root", str(tmp_path / "nodata"), *TINY]) == 2
    assert "--download" in capsys.readouterr().err


def test_demo_runs_and_writes_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cssl_edu import config

    small = {
        **config.PROFILES["cpu"],
        "n_train": 512,
        "n_test": 200,
        "batch_size": 128,
        "proj_hidden_dim": 64,
        "knn_bank_size": 512,
    }
    monkeypatch.setitem(config.PROFILES, "cpu", small)
    assert (
        main(["demo", "--out-dir", str(tmp_path), "--epochs", "1", "--profile", "cpu", "--device", "cpu"])
        == 0
    )
    res = json.loads((tmp_path / "results.json").read_text())
    assert {"trained", "random_init"} <= set(res)
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert "random init" in capsys.readouterr().out


def test_output_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    """`cssl-edu course list | head -1`: the closed pipe is not an error and prints no traceback."""
    import subprocess
    import sys

    for i in range(1500):  # ≈ 150 kB of listing: more than a pipe buffer holds, so the write must fail
        nb = {
            "cells": [],
            "metadata": {"cssl_edu": {"title": f"lesson number {i} " + "x" * 60}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (tmp_path / f"{i:04d}_lesson.ipynb").write_text(json.dumps(nb))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from cssl_edu.cli import main; sys.exit(main(sys.argv[1:]))",
            *("course", "list", "--dir", str(tmp_path)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(100)  # take a little, then hang up like `head` does
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
