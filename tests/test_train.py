"""The trainer: it learns, it resumes exactly, its checkpoints are atomic and fail loudly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from cssl_edu.config import make_config
from cssl_edu.train import (
    CheckpointError,
    Trainer,
    backbone_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from cssl_edu.train.checkpoint import load_state_dict_strict


def tiny_cfg(out: Path, **kw):
    base = dict(
        n_train=256,
        n_test=128,
        batch_size=64,
        epochs=2,
        proj_hidden_dim=64,
        proj_out_dim=32,
        knn_k=20,
        knn_bank_size=256,
        out_dir=str(out),
        device="cpu",
    )
    base.update(kw)
    return make_config("cpu", **base)


def test_resume_reproduces_uninterrupted_losses(tmp_path: Path) -> None:
    full = Trainer(tiny_cfg(tmp_path / "a"), progress=False).fit()
    assert len(full.step_loss) == 8  # 2 epochs x 4 steps

    Trainer(tiny_cfg(tmp_path / "b"), progress=False).fit(max_steps=5)  # "interrupted" mid-epoch 2
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == 5
    resumed = Trainer(tiny_cfg(tmp_path / "b"), progress=False).fit(resume=True)
    assert resumed.step_loss == full.step_loss  # bit-for-bit on CPU
    assert [r["epoch"] for r in resumed.epochs] == [1, 2]
    assert resumed.epochs[-1]["knn_acc"] == pytest.approx(full.epochs[-1]["knn_acc"])


def test_resume_refuses_a_different_run(tmp_path: Path) -> None:
    Trainer(tiny_cfg(tmp_path, epochs=1), progress=False).fit()
    with pytest.raises(CheckpointError, match="batch_size"):
        Trainer(tiny_cfg(tmp_path, epochs=1, batch_size=32), progress=False).fit(resume=True)
    # method options and the recipe count too: a MoCo run with another queue is another run
    with pytest.raises(CheckpointError, match="method_kwargs"):
        Trainer(tiny_cfg(tmp_path, epochs=1, method_kwargs={"proj_layers": 3}), progress=False).load(
            tmp_path / "last.pt"
        )
    # other images are another run, however they were picked: data_seed, or seed when it is unset
    with pytest.raises(CheckpointError, match="data seed: checkpoint 0 vs now 3"):
        Trainer(tiny_cfg(tmp_path, epochs=1, data_seed=3), progress=False).load(tmp_path / "last.pt")
    Trainer(tiny_cfg(tmp_path, epochs=1, data_seed=0), progress=False).load(
        tmp_path / "last.pt"
    )  # the same run
    with pytest.raises(CheckpointError, match="temperature"):
        Trainer(tiny_cfg(tmp_path, epochs=1, temperature=0.5), progress=False).load(tmp_path / "last.pt")


def test_pretrained_loads_its_own_run_and_retrains_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cssl_edu.notebook import pretrained

    monkeypatch.setenv("CSSL_EDU_CHECKPOINTS", str(tmp_path))
    kw = {k: v for k, v in vars(tiny_cfg(tmp_path, epochs=1)).items() if k not in ("out_dir", "profile")}
    first = pretrained("run", profile="cpu", progress=False, **kw)
    assert first.step == first.total_steps == 4
    again = pretrained("run", profile="cpu", progress=False, **kw)
    assert "loaded" in capsys.readouterr().out
    a, b = first.method.state_dict(), again.method.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the same name with another temperature: the old checkpoint is ignored and replaced, no error
    other = pretrained("run", profile="cpu", progress=False, **{**kw, "temperature": 0.5})
    assert "ignoring" in capsys.readouterr().out and other.step == 4
    assert load_checkpoint(tmp_path / "run-cpu" / "last.pt")["config"]["temperature"] == 0.5


def test_metrics_log_and_config_written(tmp_path: Path) -> None:
    Trainer(tiny_cfg(tmp_path, epochs=1, log_format="csv"), progress=False).fit()
    assert (tmp_path / "metrics.csv").read_text().startswith("epoch,")
    assert json.loads((tmp_path / "config.json").read_text())["batch_size"] == 64
    Trainer(tiny_cfg(tmp_path / "j", epochs=1), progress=False).fit()
    rec = json.loads((tmp_path / "j" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"epoch", "loss", "lr", "knn_acc", "pairs_per_s"} <= set(rec)


def test_checkpoint_rebuilds_backbone(tmp_path: Path) -> None:
    tr = Trainer(tiny_cfg(tmp_path, epochs=1), progress=False)
    tr.fit()
    bb, state = backbone_from_checkpoint(tmp_path / "last.pt")
    x = torch.randn(3, 3, 32, 32)
    tr.method.backbone.eval()
    bb.eval()
    torch.testing.assert_close(bb(x), tr.method.backbone(x))
    assert state["config"]["arch"] == "convnet"


def test_corrupt_and_truncated_checkpoints_give_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    good = save_checkpoint({"method": {"w": torch.ones(3)}}, tmp_path / "good.pt")
    data = good.read_bytes()
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(trunc)
    torch.save({"just": "a dict"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a cssl-edu checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_mismatched_state_dict_loads_nothing() -> None:
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    sd = {k: torch.zeros_like(v) for k, v in m.state_dict().items()}
    sd["1.weight"] = torch.zeros(5, 3)  # wrong shape
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_state_dict_strict(m, sd)
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} was changed by a failed load"
    sd.pop("1.weight")
    with pytest.raises(CheckpointError, match="missing keys"):
        load_state_dict_strict(m, sd)


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint({"step": 1}, tmp_path / "last.pt")

    def boom(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1  # the old checkpoint survived intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_trainer_input_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(tiny_cfg(tmp_path, batch_size=512), progress=False)
    with pytest.raises(ValueError, match="CUDA"):
        if torch.cuda.is_available():
            pytest.skip("CUDA present")
        Trainer(tiny_cfg(tmp_path, device="cuda"), progress=False)


@pytest.mark.slow
def test_simclr_learns_on_shapes(tmp_path: Path) -> None:
    """A short CPU-profile run beats the same network at random initialisation by a clear margin."""
    import copy

    from cssl_edu.eval import extract_features, knn_accuracy

    # the CPU profile's recipe at half its epochs (~30 s on a quiet 2-core CPU)
    cfg = make_config(
        "cpu", n_train=8192, n_test=500, epochs=6, knn_k=50, knn_every=0, out_dir=str(tmp_path), device="cpu"
    )
    tr = Trainer(cfg, progress=False)
    rand = copy.deepcopy(tr.method.backbone)
    tr.fit()

    def acc(bb: torch.nn.Module) -> float:
        kw = {"mean": tr.train_set.mean, "std": tr.train_set.std}
        f1, f2 = (
            extract_features(bb, tr.bank_set.images, **kw),
            extract_features(bb, tr.test_set.images, **kw),
        )
        return knn_accuracy(f1, tr.bank_set.labels, f2, tr.test_set.labels, k=50)

    trained, random_ = acc(tr.method.backbone), acc(rand)
    assert trained > random_ + 0.10, (trained, random_)


def test_pretrained_on_given_images_with_a_wrapped_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cssl_edu.data import make_shapes
    from cssl_edu.notebook import pretrained

    monkeypatch.setenv("CSSL_EDU_CHECKPOINTS", str(tmp_path))
    images = make_shapes(128, seed=3, split="train", bias=0.9)
    wrapped = []

    def wrap(model):
        wrapped.append(model)
        return model

    kw = dict(
        method="simclr",
        epochs=1,
        batch_size=64,
        proj_hidden_dim=64,
        proj_out_dim=32,
        knn_every=0,
        device="cpu",
    )
    first = pretrained("biased", profile="cpu", progress=False, train_set=images, wrap=wrap, **kw)
    assert first.train_set is images and first.cfg.n_train == 128 and first.step == 2
    assert first.method is wrapped[0]
    again = pretrained("biased", profile="cpu", progress=False, train_set=images, wrap=wrap, **kw)
    assert again.step == 2 and len(wrapped) == 2  # loaded into a freshly wrapped model, not retrained
    a, b = first.method.state_dict(), again.method.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="train_set"):
        pretrained("other", profile="cpu", wrap=wrap, **kw)


@pytest.mark.slow
def test_gpu_profile_rehearsed_on_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None
) -> None:
    """The `gpu` profile's code path end to end on the CPU, so a GPU user does not meet its first crash:
    ResNet-18 (CIFAR stem), LARS, bf16 autocast, channels_last and torch.compile on 8 Shapes images
    (16 px, batch 4: the path, not the size, is under test), a checkpoint mid-epoch, an exact resume,
    then `cssl-edu eval` of the checkpoint.

    The uninterrupted reference is the same trainer continuing in memory after its checkpoint; the
    resumed trainer, built afresh from that checkpoint, must match its loss and weights bit for bit.
    torch.compile runs with the "aot_eager" backend: Dynamo's graph capture and AOTAutograd's joint
    forward/backward graph (where compile failures come from), without Inductor's C++ code generation,
    which works on this CPU but took ~90 s of CPU time for ResNet-18 here (measured), too slow for CI.
    """
    import shutil

    from cssl_edu.cli import main
    from cssl_edu.train import LARS

    compiled = []
    real_compile = torch.compile

    def compile_cheaply(model, **kwargs):
        compiled.append(model)
        return real_compile(model, backend="aot_eager")

    monkeypatch.setattr(torch, "compile", compile_cheaply)

    def gpu_cfg(out: Path):
        return make_config(
            "gpu",
            dataset="shapes",
            n_train=8,
            n_test=8,
            image_size=16,
            batch_size=4,
            epochs=2,
            proj_hidden_dim=32,
            knn_k=3,
            knn_every=2,
            compile=True,
            device="cpu",
            out_dir=str(out),
        )

    cfg = gpu_cfg(tmp_path / "a")
    assert (cfg.arch, cfg.optimizer, cfg.amp, cfg.channels_last) == ("resnet18", "lars", True, True)
    first = Trainer(cfg, progress=False)
    assert isinstance(first.optimizer, LARS) and compiled
    conv = next(m for m in first.method.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    dtypes = []
    conv.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    first.fit(max_steps=3)  # "interrupted" mid-epoch 2: last.pt holds step 3
    assert dtypes and dtypes[0] == torch.bfloat16  # the training forward ran under bf16 autocast
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "a" / "last.pt", tmp_path / "b" / "last.pt")
    state = load_checkpoint(tmp_path / "b" / "last.pt")  # weights_only loading
    assert state["step"] == 3 and state["config"]["arch"] == "resnet18"
    reference = first.fit()  # the same trainer, uninterrupted, to the end (step 4)

    second = Trainer(gpu_cfg(tmp_path / "b"), progress=False)
    resumed = second.fit(resume=True)
    assert len(reference.step_loss) == 4 and all(math.isfinite(v) for v in reference.step_loss)
    assert resumed.step_loss == reference.step_loss  # bit for bit on CPU
    assert resumed.epochs[-1]["knn_acc"] == reference.epochs[-1]["knn_acc"]
    theirs = first.method.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in second.method.state_dict().items())

    out = tmp_path / "eval.json"
    args = ["eval", str(tmp_path / "b" / "last.pt"), "--device", "cpu", "--probe-epochs", "2"]
    assert main([*args, "--fractions", "", "--out", str(out)]) == 0
    assert 0 <= json.loads(out.read_text())["knn_acc"] <= 1
