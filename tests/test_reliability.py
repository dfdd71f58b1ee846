"""Issue 15, "nothing lost, nothing silently wrong": each case a reliability run found, as a test.

Grouped as in the issue: data lost or silently wrong (exit 0 before), raw tracebacks where one
sentence belongs (exit 2 now), late or missing validation, and the small items. The loss-level
cases (debiased loss at small τ, float16 tensors, NaN in distance losses, SupCon's −1 labels,
InfoNCE with every negative masked, MoCHi's mask) live in ``test_losses_contrastive.py``.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cssl_edu.cli import _config_from_args, build_parser, main
from cssl_edu.config import make_config
from cssl_edu.data import load_dataset, load_npz
from cssl_edu.eval import knn_accuracy, knn_predict, linear_probe
from cssl_edu.train import CheckpointError, Trainer, load_checkpoint, load_splits, save_checkpoint

#: a CLI run of a few seconds: 64 Shapes images, one epoch of two steps, no kNN monitor
TINY = [
    *("--n-train", "64", "--n-test", "32", "--batch-size", "32", "--epochs", "1"),
    *("--proj-hidden-dim", "32", "--proj-out-dim", "16", "--knn-every", "0", "--knn-k", "5"),
    *("--device", "cpu", "--profile", "cpu"),
]


def tiny_cfg(out: Path, **kw):
    base = dict(
        n_train=64,
        n_test=32,
        batch_size=32,
        epochs=1,
        proj_hidden_dim=32,
        proj_out_dim=16,
        knn_every=0,
        knn_k=5,
        knn_bank_size=64,
        out_dir=str(out),
        device="cpu",
    )
    return make_config("cpu", **{**base, **kw})


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def _png(path: Path, colour: tuple[int, int, int], size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)


# =============================================================================================
# 1-6: data lost or silently wrong
# =============================================================================================
def test_train_refuses_to_replace_an_existing_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 1: a second `train` into a run folder (the default runs/<method>-<dataset> too)."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY]) == 0
    run = tmp_path / "runs" / "simclr-shapes"
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert "last.pt" in before and "config.json" in before
    capsys.readouterr()
    assert main(["train", *TINY, "--temperature", "0.5"]) == 2
    err = _err(capsys)
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing touched
    assert main(["train", *TINY, "--resume", "--overwrite"]) == 2
    assert "only one" in _err(capsys)
    assert main(["train", *TINY, "--resume"]) == 0  # finished already: continues (nothing to do)
    assert main(["train", *TINY, "--temperature", "0.5", "--overwrite"]) == 0
    assert load_checkpoint(run / "last.pt")["config"]["temperature"] == 0.5


def test_folder_classes_share_one_index_across_splits(tmp_path: Path) -> None:
    """Item 2: ImageFolder numbered classes per split; a test split without 'ant' gave 'cat'
    id 0 there and 1 in train, and kNN on perfectly separable images scored 0."""
    colours = {"ant": (255, 0, 0), "cat": (0, 255, 0), "dog": (0, 0, 255)}
    for name, colour in colours.items():
        for i in range(3):
            _png(tmp_path / "train" / name / f"{i}.png", colour)
            if name != "ant":
                _png(tmp_path / "test" / name / f"{i}.png", colour)
    cfg = tiny_cfg(
        tmp_path / "run", dataset="folder", data_root=str(tmp_path), image_size=8, n_train=9, n_test=6
    )
    _, bank, test = load_splits(cfg)
    assert bank.classes == test.classes == ["ant", "cat", "dog"]
    assert [test.classes[y] for y in test.labels] == ["cat"] * 3 + ["dog"] * 3

    def pixels(ds):
        return ds.images.flatten(1).float()

    assert knn_accuracy(pixels(bank), bank.labels, pixels(test), test.labels, k=3) == 1.0


def test_test_classes_the_training_split_lacks_are_refused(tmp_path: Path) -> None:
    """Item 2: test images of a class the training split lacks can never be predicted; an npz
    whose test labels use other ids (0-2 vs 3-5) scored kNN 0.0 without a word."""
    for split, names in (("train", ["cat", "dog"]), ("test", ["bird", "cat", "dog"])):
        for name in names:
            for i in range(2):
                _png(tmp_path / "f" / split / name / f"{i}.png", (len(name) * 40, 0, 0))
    cfg = tiny_cfg(
        tmp_path / "run",
        dataset="folder",
        data_root=str(tmp_path / "f"),
        image_size=8,
        n_train=4,
        n_test=6,
    )
    with pytest.raises(ValueError, match=r"class\(es\) \['bird'\].*never predict"):
        load_splits(cfg)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    path = tmp_path / "ids.npz"
    labels = np.arange(12) % 3
    np.savez(path, train_images=images, train_labels=labels, test_images=images, test_labels=labels + 3)
    cfg = tiny_cfg(tmp_path / "run", dataset="npz", data_root=str(path), image_size=8, n_train=12, n_test=12)
    with pytest.raises(ValueError, match="never predict"):
        load_splits(cfg)


def test_npz_plain_arrays_get_a_fixed_holdout_split(tmp_path: Path) -> None:
    """Item 3: plain 'images'/'labels' were used as both train and test (kNN on training data)."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (50, 8, 8, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(5), 10)
    path = tmp_path / "plain.npz"
    np.savez(path, images=images, labels=labels)
    with pytest.warns(UserWarning, match="no train/test split"):
        train = load_npz(path, "train")
    with pytest.warns(UserWarning, match="held out"):
        test = load_npz(path, "test")
    assert (len(train), len(test)) == (40, 10)
    assert sorted(test.labels.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # 20 % of every class
    every = load_npz(path, "all")
    rows = {bytes(x.numpy()) for x in every.images}
    seen_train, seen_test = {bytes(x.numpy()) for x in train.images}, {bytes(x.numpy()) for x in test.images}
    assert not seen_train & seen_test and seen_train | seen_test == rows  # disjoint, nothing lost
    with pytest.warns(UserWarning):
        assert torch.equal(load_npz(path, "test").images, test.images)  # the same split every time


def test_npz_labels_are_validated_before_anything_is_allocated(tmp_path: Path) -> None:
    """Item 4: one label of 10⁹ built a 10⁹-entry class list and OOM-killed the run."""
    images = np.zeros((6, 8, 8, 3), dtype=np.uint8)
    for big in (10**6, 10**9):  # 10**6 first: the old code survives it (and must not pass)
        path = tmp_path / f"big{big}.npz"
        np.savez(path, train_images=images, train_labels=np.array([0, 1, 0, 1, 0, big]))
        with pytest.raises(ValueError, match=f"0..2 of its 3 distinct labels.*{big}"):
            load_npz(path)
    path = tmp_path / "named.npz"
    np.savez(
        path, train_images=images, train_labels=np.array([0, 1, 0, 1, 0, 7]), classes=np.array(["a", "b"])
    )
    with pytest.raises(ValueError, match="names only 2 classes"):
        load_npz(path)
    np.savez(path, train_images=images, train_labels=np.array([0, 1, 0, 1, 0, -5]))
    with pytest.raises(ValueError, match="≥ 0"):
        load_npz(path)


def test_knn_and_probe_size_their_votes_by_the_distinct_labels() -> None:
    """Item 4: kNN votes were sized by max(label) + 1 (23 GB for one label of 10⁹)."""
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(2, 16, generator=g) * 5
    y = torch.tensor([7, 10**9]).repeat_interleave(10)
    x = centres.repeat_interleave(10, 0) + 0.1 * torch.randn(20, 16, generator=g)
    assert knn_predict(x, y, x[[0, 15]], k=5).tolist() == [7, 10**9]
    res = linear_probe(x, y, x, y, epochs=20)
    assert res["test_acc"] == 1.0


def test_float_npz_labels_and_misspelled_method_options_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 5: float labels were truncated (0.7 → 0) and unknown --method-kwargs keys dropped."""
    path = tmp_path / "float.npz"
    np.savez(path, train_images=np.zeros((3, 8, 8, 3), np.uint8), train_labels=np.array([0.7, 1.2, 2.0]))
    with pytest.raises(ValueError, match=r"integer class ids.*float64"):
        load_npz(path)
    out = tmp_path / "run"
    args = ["train", *TINY, "--method", "moco", "--out-dir", str(out)]
    assert main([*args, "--method-kwargs", '{"queue_sise": 64}']) == 2
    err = _err(capsys)
    assert "'queue_sise'" in err and "did you mean 'queue_size'" in err
    assert not out.exists()  # refused before anything ran
    assert main([*args, "--method-kwargs", '{"temperature": 0.1}']) == 2
    assert "--temperature" in _err(capsys)


def test_mochi_gets_the_moco_options_it_is_given() -> None:
    """Item 5: MoCHi forwards **kwargs to MoCo, so build_method dropped queue_size, momentum, the
    head sizes and τ given to it (it trained with a 4,096-key queue whatever was asked)."""
    from cssl_edu.train import build_model

    cfg = make_config(
        "cpu",
        method="mochi",
        temperature=0.3,
        proj_hidden_dim=32,
        proj_out_dim=16,
        method_kwargs={"queue_size": 64, "momentum": 0.9, "n_hard": 8, "s": 4, "s_prime": 2},
    )
    m = build_model(cfg, 1000)
    assert (m.queue.size, m.momentum, m.temperature, m.n_hard) == (64, 0.9, 0.3, 8)
    assert m.projector.net[-1].out_features == 16


def test_mochi_method_passes_its_mask_to_the_mixing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 7: with mask_same_image the mask reached InfoNCE but not the hard-negative mixing."""
    import cssl_edu.losses as losses
    from cssl_edu.methods import MoCHi
    from cssl_edu.models import build_backbone

    seen = []
    real = losses.mix_hard_negatives

    def spy(*args, **kwargs):
        seen.append(kwargs.get("mask"))
        return real(*args, **kwargs)

    monkeypatch.setattr(losses, "mix_hard_negatives", spy)
    m = MoCHi(
        build_backbone("convnet"),
        proj_hidden_dim=32,
        proj_out_dim=16,
        queue_size=16,
        n_hard=4,
        s=2,
        s_prime=2,
        mochi_warmup_epochs=0,
        mask_same_image=True,
    )
    views = [torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)]
    m(views, None, torch.arange(8))  # fills the queue with images 0-7
    m(views, None, torch.arange(8))  # the same images: each query's own key is in the queue
    assert seen and seen[-1] is not None and int(seen[-1].sum()) == 8


def test_eval_refuses_an_encoder_with_nan_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Item 6: `cssl-edu eval` of a diverged encoder reported accuracies."""
    tr = Trainer(tiny_cfg(tmp_path / "run"), progress=False)
    path = tr.save()
    state = load_checkpoint(path)
    first = next(
        k for k in state["method"] if k.startswith("backbone.") and state["method"][k].is_floating_point()
    )
    state["method"][first].fill_(float("nan"))
    save_checkpoint({k: v for k, v in state.items() if k not in ("format", "version")}, path)
    assert main(["eval", str(path), "--device", "cpu", "--probe-epochs", "2", "--fractions", ""]) == 2
    assert "NaN" in _err(capsys)


def test_knn_and_probe_refuse_nan_features_and_broadcasting_labels() -> None:
    """Item 6: one NaN row poisoned the probe; labels of shape (1,) or (M, 1) broadcast."""
    x, y = torch.randn(20, 4), torch.arange(20) % 2
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        knn_accuracy(bad, y, x, y, k=3)
    with pytest.raises(ValueError, match="NaN"):
        linear_probe(x, y, bad, y, epochs=1)
    for labels in (y[:1], y.view(-1, 1)):
        with pytest.raises(ValueError, match=r"shape \(20,\)"):
            knn_accuracy(x, y, x, labels, k=3)
        with pytest.raises(ValueError, match=r"shape \(20,\)"):
            linear_probe(x, y, x, labels, epochs=1)


def test_an_untrained_probe_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Item 6: --probe-epochs 0 or lr 0 reported the accuracy of an untrained probe."""
    x, y = torch.randn(20, 4), torch.arange(20) % 2
    with pytest.raises(ValueError, match="epochs ≥ 1"):
        linear_probe(x, y, x, y, epochs=0)
    for lr in (0.0, float("nan")):
        with pytest.raises(ValueError, match="lr"):
            linear_probe(x, y, x, y, lr=lr)
    assert main(["eval", str(tmp_path / "any.pt"), "--probe-epochs", "0"]) == 2
    assert "--probe-epochs" in _err(capsys)


# =============================================================================================
# raw tracebacks where one sentence belongs: exit 2 now
# =============================================================================================
def test_download_without_network_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torchvision.datasets.cifar as tv_cifar

    def offline(*args, **kwargs):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    args = ["train", *TINY, "--dataset", "cifar10", "--download", "--data-root", str(tmp_path / "data")]
    assert main([*args, "--out-dir", str(tmp_path / "run")]) == 2
    err = _err(capsys)
    assert "could not be downloaded" in err and "network" in err


def test_unwritable_or_full_out_dir_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import cssl_edu.train.trainer as trainer_module

    out = tmp_path / "readonly"
    real_mkdir = Path.mkdir

    def no_permission(self, *args, **kwargs):
        if self == out:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    with monkeypatch.context() as m:  # a read-only parent folder (root ignores chmod, so simulated)
        m.setattr(Path, "mkdir", no_permission)
        assert main(["train", *TINY, "--out-dir", str(out)]) == 2
    err = _err(capsys)
    assert "Permission denied" in err and "--out-dir" in err

    def disk_full(state, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(trainer_module, "save_checkpoint", disk_full)
    assert main(["train", *TINY, "--out-dir", str(tmp_path / "full")]) == 2
    err = _err(capsys)
    assert "No space left on device" in err and "--out-dir" in err


def test_bogus_augment_kwargs_and_unknown_devices_are_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--out-dir", str(tmp_path / "run")]
    assert main(["train", *TINY, *out, "--augment-kwargs", '{"bogus": 1}']) == 2
    assert "no option 'bogus'" in _err(capsys)
    assert main(["train", *TINY, *out, "--augment-kwargs", '{"jiter_p": 0}']) == 2
    assert "did you mean 'jitter_p'" in _err(capsys)
    assert main(["train", *TINY[:-4], *out, "--device", "tpu", "--profile", "cpu"]) == 2
    assert "unknown device 'tpu'" in _err(capsys)
    assert main(["eval", str(tmp_path / "x.pt"), "--device", "tpu"]) == 2
    assert "unknown device 'tpu'" in _err(capsys)
    assert not (tmp_path / "run").exists()


def test_a_corrupt_or_truncated_image_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for split in ("train", "test"):
        for name, colour in (("a", (200, 0, 0)), ("b", (0, 200, 0))):
            for i in range(2):
                _png(tmp_path / split / name / f"{i}.png", colour, size=32)
    good = (tmp_path / "train" / "a" / "0.png").read_bytes()
    (tmp_path / "train" / "b" / "broken.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match=r"broken\.png"):
        load_dataset("folder", root=tmp_path, split="train")
    (tmp_path / "train" / "b" / "broken.png").unlink()
    (tmp_path / "test" / "a" / "cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"cut\.png.*(truncated|corrupt)"):
        load_dataset("folder", root=tmp_path, split="test")
    args = ["train", *TINY, "--dataset", "folder", "--data-root", str(tmp_path), "--n-train", "all"]
    assert main([*args, "--n-test", "all", "--batch-size", "2", "--out-dir", str(tmp_path / "run")]) == 2
    assert "cut.png" in _err(capsys)


def test_a_checkpoint_without_method_or_rng_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tr = Trainer(tiny_cfg(tmp_path / "run"), progress=False)
    state = tr.state_dict()
    no_method = {k: v for k, v in state.items() if k != "method"}
    save_checkpoint(no_method, tmp_path / "no_method.pt")
    assert main(["eval", str(tmp_path / "no_method.pt"), "--device", "cpu"]) == 2
    assert "no 'method' entry" in _err(capsys)
    save_checkpoint({k: v for k, v in state.items() if k != "rng"}, tr.last_checkpoint)
    with pytest.raises(CheckpointError, match="no 'rng' entry"):
        Trainer(tiny_cfg(tmp_path / "run"), progress=False).fit(resume=True)


def test_zero_chunk_and_batch_sizes_are_refused() -> None:
    from cssl_edu.data import resize_images
    from cssl_edu.eval import extract_features
    from cssl_edu.models import build_backbone

    x, y = torch.randn(10, 4), torch.arange(10) % 2
    with pytest.raises(ValueError, match="chunk_size"):
        knn_predict(x, y, x, chunk_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        linear_probe(x, y, x, y, batch_size=0)
    images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(build_backbone("convnet"), images, mean=(0.5,) * 3, std=(0.2,) * 3, batch_size=0)
    with pytest.raises(ValueError, match="chunk"):
        resize_images(images, 16, chunk=0)


# =============================================================================================
# late or missing validation
# =============================================================================================
def test_bad_numbers_are_refused_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--knn-k 0 failed only after an epoch; nan/inf τ, negative weight decay and warm-up passed."""
    out = tmp_path / "run"
    assert main(["train", *TINY, "--knn-k", "0", "--knn-every", "1", "--out-dir", str(out)]) == 2
    assert "knn_k" in _err(capsys) and not out.exists()
    for flag, value, field in [
        ("--temperature", "nan", "temperature"),
        ("--temperature", "inf", "temperature"),
        ("--weight-decay", "-0.1", "weight_decay"),
        ("--warmup-epochs", "-1", "warmup_epochs"),
        ("--knn-temperature", "0", "knn_temperature"),
    ]:
        assert main(["train", *TINY, flag, value, "--out-dir", str(out)]) == 2
        assert field in _err(capsys)
    assert not out.exists()


def test_sgns_loss_checks_every_input_for_nan() -> None:
    from cssl_edu.text.word2vec import sgns_loss

    u, v, n = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 3, 8)
    for i, name in enumerate(("center_vecs", "context_vecs", "negative_vecs")):
        args = [u.clone(), v.clone(), n.clone()]
        args[i].view(-1)[0] = float("nan")
        with pytest.raises(ValueError, match=name):
            sgns_loss(*args)


# =============================================================================================
# small
# =============================================================================================
def test_stale_temp_files_go_and_last_pt_gets_the_usual_mode(tmp_path: Path) -> None:
    """A killed write left `.last.pt.*.tmp` forever; last.pt was 0600 while the rest were 0644."""
    out = tmp_path / "run"
    out.mkdir()
    stale = out / ".last.pt.k1ll3d.tmp"
    stale.write_bytes(b"half a checkpoint")
    keep = out / ".other.pt.x.tmp"  # not this run's
    keep.write_bytes(b"x")
    Trainer(tiny_cfg(out), progress=False).fit()
    assert not stale.exists() and keep.exists()
    mode = stat.S_IMODE((out / "last.pt").stat().st_mode)
    assert mode == stat.S_IMODE((out / "config.json").stat().st_mode)
    assert mode == 0o666 & ~_current_umask()


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_corrupt_checkpoint_message_does_not_promise_an_earlier_one(tmp_path: Path) -> None:
    (tmp_path / "last.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "last.pt")
    assert "earlier checkpoint" not in str(info.value) and "--overwrite" in str(info.value)


def test_n_train_all_asks_for_every_image() -> None:
    parser = build_parser()
    args = parser.parse_args(["train", "--n-train", "all", "--n-test", "ALL", "--profile", "cpu"])
    cfg = _config_from_args(args)
    assert cfg.n_train is None and cfg.n_test is None  # the profile's 8,192 would apply otherwise
    assert parser.parse_args(["eval", "x.pt", "--n-train", "all"]).n_train == "all"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--n-train", "0"])


def test_resume_through_the_runs_own_config_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tuple (0.5, 1.0) in the checkpoint compared unequal to config.json's list [0.5, 1.0]."""
    out = tmp_path / "run"
    cfg = tiny_cfg(out, epochs=2)
    Trainer(cfg, progress=False).fit(max_steps=2)  # interrupted after epoch 1
    assert json.loads((out / "config.json").read_text())["augment_kwargs"]["crop_scale"] == [0.5, 1.0]
    assert main(["train", "--config", str(out / "config.json"), "--resume"]) == 0
    assert load_checkpoint(out / "last.pt")["step"] == 4


# =============================================================================================
# Issue 25: the public API's last silent answers and raw errors
# =============================================================================================
def _clusters(n_per: int = 10, classes: tuple[int, ...] = (0, 1, 2)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(len(classes), 8, generator=g) * 5
    y = torch.tensor(classes).repeat_interleave(n_per)
    return centres.repeat_interleave(n_per, 0) + 0.1 * torch.randn(len(y), 8, generator=g), y


def test_eval_refuses_test_classes_the_training_labels_lack() -> None:
    """knn_accuracy / linear_probe scored test class 2 as wrong (0.0) when training had only 0, 1."""
    x, y = _clusters()
    train = y < 2
    for fn, kw in ((knn_accuracy, {"k": 3}), (linear_probe, {"epochs": 2})):
        with pytest.raises(ValueError, match=r"class\(es\) \[2\].*no labelled training row"):
            fn(x[train], y[train], x, y, **kw)


def test_eval_leaves_out_unlabelled_test_rows_and_says_so() -> None:
    """−1 test labels counted as wrong answers; now they are left out with a warning."""
    x, y = _clusters()
    y_test = y.clone()
    y_test[:4] = -1
    with pytest.warns(UserWarning, match="left out 4 of 30 test rows labelled −1"):
        acc = knn_accuracy(x, y, x, y_test, k=3)
    assert acc == knn_accuracy(x, y, x[4:], y[4:], k=3) == 1.0
    with pytest.warns(UserWarning, match="left out 4 of 30"):
        res = linear_probe(x, y, x, y_test, epochs=20)
    assert res["test_acc"] == 1.0
    with pytest.raises(ValueError, match="every test label is −1"):
        knn_accuracy(x, y, x, torch.full_like(y, -1), k=3)
    # −1 in the training bank: those rows are left out (documented), no warning needed
    y_train = y.clone()
    y_train[::5] = -1
    assert knn_accuracy(x, y_train, x, y, k=3) == 1.0


def test_linear_probe_refuses_a_single_training_row() -> None:
    """std() of one row warned (degrees of freedom ≤ 0) and the probe returned a number."""
    x, y = _clusters(classes=(0,))
    with pytest.raises(ValueError, match="at least 2 labelled training rows"):
        linear_probe(x[:1], y[:1], x, y, epochs=1)
    y_train = y[:3].clone()
    y_train[1:] = -1
    with pytest.raises(ValueError, match=r"at least 2 labelled training rows.*got 1\."):
        linear_probe(x[:3], y_train, x, y, epochs=1)


def test_eval_accepts_labels_as_lists() -> None:
    x, y = _clusters()
    assert knn_accuracy(x, y.tolist(), x, y.tolist(), k=3) == knn_accuracy(x, y, x, y, k=3)
    with pytest.raises(ValueError, match="train_labels must hold integer class ids"):
        knn_accuracy(x, [0.5] * 30, x, y, k=3)
