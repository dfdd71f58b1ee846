"""DDP correctness on CPU (gloo, 2 processes): world size 2 with per-rank batch B gives the same
loss and the same parameter gradients as one process with batch 2B."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cssl_edu.distributed import gather_with_grad, nt_xent_global, shutdown

B, D_IN, D_OUT, TAU = 6, 10, 5, 0.3


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    # no BatchNorm: per-rank BN statistics would differ from the single-process ones by design
    return torch.nn.Sequential(
        torch.nn.Linear(D_IN, 16), torch.nn.ReLU(), torch.nn.Linear(16, D_OUT)
    ).double()


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(2 * B, D_IN, generator=g, dtype=torch.float64), torch.randn(
        2 * B, D_IN, generator=g, dtype=torch.float64
    )


def _ddp_step(rank: int, world: int, out: str) -> None:
    model = torch.nn.parallel.DistributedDataParallel(_model())
    x1, x2 = _data()
    sl = slice(rank * B, (rank + 1) * B)
    loss = nt_xent_global(model(x1[sl]), model(x2[sl]), TAU)
    loss.backward()
    # the global loss is the mean of the per-rank losses
    total = loss.detach().clone()
    dist.all_reduce(total)
    g = gather_with_grad(torch.full((2, 1), float(rank)))
    if rank == 0:
        torch.save(
            {"loss": total / world, "grads": [p.grad for p in model.parameters()], "gathered": g},
            out,
        )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        # the DDP model lives in its own frame: it is freed before the group is destroyed (a DDP
        # reducer outliving its process group aborted the process now and then)
        _ddp_step(rank, world, out)
    finally:
        shutdown()  # barrier, then destroy: no rank tears down mid-collective


@pytest.mark.skipif(
    not dist.is_available() or sys.platform == "win32", reason="needs torch.distributed with gloo"
)
def test_two_ranks_equal_one_process_with_double_batch(tmp_path: Path) -> None:
    out = str(tmp_path / "rank0.pt")
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    res = torch.load(out, weights_only=True)

    model = _model()
    x1, x2 = _data()
    from cssl_edu.losses import nt_xent

    ref = nt_xent(model(x1), model(x2), TAU)
    ref.backward()
    # float64 throughout: agreement to ~1e-12 is expected; 1e-9 leaves room for reduction order
    torch.testing.assert_close(res["loss"], ref.detach(), rtol=1e-9, atol=1e-9)
    for got, want in zip(res["grads"], [p.grad for p in model.parameters()]):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    assert res["gathered"].flatten().tolist() == [0.0, 0.0, 1.0, 1.0]


def test_single_process_global_loss_equals_nt_xent() -> None:
    from cssl_edu.losses import nt_xent

    z1, z2 = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 4, dtype=torch.float64)
    torch.testing.assert_close(nt_xent_global(z1, z2, 0.2), nt_xent(z1, z2, 0.2))
    assert gather_with_grad(z1) is z1
    with pytest.raises(ValueError, match="temperature"):
        nt_xent_global(z1, z2, 0.0)


def _train_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank),
        }
    )
    torch.set_num_threads(1)
    from cssl_edu.config import make_config
    from cssl_edu.distributed import init_from_env
    from cssl_edu.train import Trainer

    init_from_env()
    try:
        cfg = make_config(
            "cpu",
            n_train=256,
            n_test=64,
            batch_size=64,
            epochs=1,
            proj_hidden_dim=32,
            proj_out_dim=16,
            knn_k=10,
            knn_bank_size=128,
            out_dir=out_dir,
            device="cpu",
        )
        tr = Trainer(cfg, progress=False)
        hist = tr.fit()
        # every rank took the same number of steps and its parameters stayed in sync (DDP)
        flat = torch.cat([p.detach().flatten() for p in tr.method.parameters()])
        gathered = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        assert torch.equal(gathered[0], gathered[1])
        assert len(hist.step_loss) == 4
    finally:
        shutdown()  # barrier, then destroy: no rank tears down mid-collective


@pytest.mark.skipif(
    not dist.is_available() or sys.platform == "win32", reason="needs torch.distributed with gloo"
)
def test_trainer_runs_under_two_processes(tmp_path: Path) -> None:
    mp.spawn(_train_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    from cssl_edu.train import load_checkpoint

    state = load_checkpoint(tmp_path / "last.pt")
    assert state["step"] == 4 and (tmp_path / "metrics.jsonl").exists()


@pytest.mark.skipif(not dist.is_available(), reason="needs torch.distributed")
def test_shutdown_is_a_no_op_without_a_group_and_destroys_one(tmp_path: Path) -> None:
    shutdown()  # nothing running: nothing happens
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1)
    assert dist.is_initialized()
    shutdown()
    assert not dist.is_initialized()
