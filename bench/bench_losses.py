"""Benchmark: forward + backward time (and GPU peak memory) of contrastive losses.

Contenders per loss are registered in ``CONTENDERS``; each is a factory
``(n, d, device) -> callable`` returning a zero-argument function that runs one
forward + backward. Contenders are interleaved round by round and the median is reported,
so a busy machine slows them all alike.

    python bench/bench_losses.py                                   # CPU, 2 threads, N = 256 … 8192
    python bench/bench_losses.py --device cuda --sizes 1024 8192 32768
    python bench/bench_losses.py --loss nt_xent --sizes 1024 --repeats 30

Each loss has a "floor": the bare computation it needs, written inline — for NT-Xent
``F.normalize`` + one matmul + the diagonal mask + ``F.cross_entropy``; for SupCon (features
(N, 2, d), 10 classes, τ = 0.1) the same plus a log-softmax averaged over each anchor's
positives; for InfoNCE (MoCo: N queries, one key each, a shared queue of K = 4,096 or 65,536 keys, τ = 0.2;
losses ``info_nce_k4096`` and ``info_nce_k65536``)
normalising q, k and the queue (as the API promises), two matmuls, a concatenation and
``F.cross_entropy``. lightly has no SupCon loss, so that row compares with
pytorch-metric-learning (same value as ours); lightly's InfoNCE is its ``NTXentLoss`` with a
memory bank filled with the same queue (same value as ours on the first call; it then
enqueues the keys, a cost it pays inside the loss). Writes ``bench/results/losses-<device>.json`` and
prints a markdown table with each contender's ratio to the floor.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

Factory = Callable[[int, int, torch.device], Callable[[], None]]
CONTENDERS: dict[str, dict[str, Factory]] = {}


def contender(loss: str, name: str) -> Callable[[Factory], Factory]:
    def deco(f: Factory) -> Factory:
        CONTENDERS.setdefault(loss, {})[name] = f
        return f

    return deco


def _pair(n: int, d: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(n, d, generator=g).to(device).requires_grad_()
    z2 = torch.randn(n, d, generator=g).to(device).requires_grad_()
    return z1, z2


def _run(loss_fn: Callable[[], torch.Tensor], *leaves: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        for t in leaves:
            t.grad = None
        loss_fn().backward()

    return run


def _fwd_bwd(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], n: int, d: int, device: torch.device
):
    z1, z2 = _pair(n, d, device)
    return _run(lambda: loss_fn(z1, z2), z1, z2)


@contender("nt_xent", "floor (normalize+mm+mask+CE)")
def _floor(n: int, d: int, device: torch.device):
    def loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        logits = z @ z.T / 0.5
        logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
        target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
        return F.cross_entropy(logits, target)

    return _fwd_bwd(loss, n, d, device)


@contender("nt_xent", "cssl_edu nt_xent")
def _ours(n: int, d: int, device: torch.device):
    from cssl_edu.losses import nt_xent

    return _fwd_bwd(lambda a, b: nt_xent(a, b, 0.5), n, d, device)


@contender("nt_xent", "cssl_edu nt_xent_chunked")
def _ours_chunked(n: int, d: int, device: torch.device):
    from cssl_edu.losses import nt_xent_chunked

    return _fwd_bwd(lambda a, b: nt_xent_chunked(a, b, 0.5, chunk_size=1024), n, d, device)


@contender("nt_xent", "lightly NTXentLoss")
def _lightly(n: int, d: int, device: torch.device):
    from lightly.loss import NTXentLoss

    crit = NTXentLoss(temperature=0.5)
    return _fwd_bwd(crit, n, d, device)


@contender("nt_xent", "pytorch-metric-learning NTXentLoss")
def _pml(n: int, d: int, device: torch.device):
    from pytorch_metric_learning.losses import NTXentLoss

    crit = NTXentLoss(temperature=0.5)
    labels = torch.arange(n).repeat(2).to(device)
    return _fwd_bwd(lambda a, b: crit(torch.cat([a, b]), labels), n, d, device)


# ------------------------------------------------------------------ SupCon: features (N, 2, d), 10 classes
def _supcon_inputs(n: int, d: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(n, 2, d, generator=g).to(device).requires_grad_()
    labels = torch.randint(0, 10, (n,), generator=g).to(device)
    return feats, labels


@contender("supcon", "floor (normalize+mm+mask+logsumexp+masked mean)")
def _supcon_floor(n: int, d: int, device: torch.device):
    feats, labels = _supcon_inputs(n, d, device)
    lab = labels.repeat(2)
    eye = torch.eye(2 * n, dtype=torch.bool, device=device)
    pos = (lab[:, None] == lab[None, :]) & ~eye

    def loss() -> torch.Tensor:
        z = F.normalize(feats.transpose(0, 1).reshape(2 * n, d), dim=1)
        logits = (z @ z.T / 0.1).masked_fill(eye, float("-inf"))
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        return -(log_prob.masked_fill(~pos, 0).sum(1) / pos.sum(1)).mean()

    return _run(loss, feats)


@contender("supcon", "cssl_edu supcon")
def _supcon_ours(n: int, d: int, device: torch.device):
    from cssl_edu.losses import supcon

    feats, labels = _supcon_inputs(n, d, device)
    return _run(lambda: supcon(feats, labels, 0.1), feats)


@contender("supcon", "pytorch-metric-learning SupConLoss")
def _supcon_pml(n: int, d: int, device: torch.device):
    from pytorch_metric_learning.losses import SupConLoss

    crit = SupConLoss(temperature=0.1)
    feats, labels = _supcon_inputs(n, d, device)
    return _run(lambda: crit(feats.transpose(0, 1).reshape(2 * n, d), labels.repeat(2)), feats)


# ------------------------------------------------------------------ InfoNCE: query, key (N, d), a queue of K keys
QUEUE_SIZES = (4096, 65536)  # MoCo v2's CIFAR-size and ImageNet queues


def _info_nce_inputs(n: int, d: int, queue_size: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(n, d, generator=g).to(device).requires_grad_()
    k = F.normalize(torch.randn(n, d, generator=g), dim=1).to(device)
    queue = F.normalize(torch.randn(queue_size, d, generator=g), dim=1).to(device)
    return q, k, queue


def _info_nce_floor(queue_size: int) -> Factory:
    def factory(n: int, d: int, device: torch.device):
        q, k, queue = _info_nce_inputs(n, d, queue_size, device)
        target = torch.zeros(n, dtype=torch.long, device=device)

        def loss() -> torch.Tensor:
            qn, kn, neg = F.normalize(q, dim=1), F.normalize(k, dim=1), F.normalize(queue, dim=1)
            logits = torch.cat([(qn * kn).sum(1, keepdim=True), qn @ neg.T], dim=1) / 0.2
            return F.cross_entropy(logits, target)

        return _run(loss, q)

    return factory


def _info_nce_ours(queue_size: int) -> Factory:
    def factory(n: int, d: int, device: torch.device):
        from cssl_edu.losses import info_nce

        q, k, queue = _info_nce_inputs(n, d, queue_size, device)
        return _run(lambda: info_nce(q, k, queue, 0.2), q)

    return factory


def _info_nce_lightly(queue_size: int) -> Factory:
    def factory(n: int, d: int, device: torch.device):
        from lightly.loss import NTXentLoss

        q, k, queue = _info_nce_inputs(n, d, queue_size, device)
        crit = NTXentLoss(temperature=0.2, memory_bank_size=(queue_size, d)).to(device)
        crit.memory_bank.bank = queue.clone()  # same negatives as ours (the bank then enqueues k each call)
        return _run(lambda: crit(q, k), q)

    return factory


for _k in QUEUE_SIZES:
    contender(f"info_nce_k{_k}", "floor (normalize q,k,queue+2 matmuls+cat+CE)")(_info_nce_floor(_k))
    contender(f"info_nce_k{_k}", "cssl_edu info_nce")(_info_nce_ours(_k))
    contender(f"info_nce_k{_k}", "lightly NTXentLoss (memory bank)")(_info_nce_lightly(_k))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    loss: str,
    sizes: list[int],
    d: int,
    device: torch.device,
    repeats: int,
    warmup: int,
    only: list[str] | None,
) -> list[dict]:
    rows = []
    for n in sizes:
        runs: dict[str, Callable[[], None]] = {}
        errors: dict[str, str] = {}
        peak: dict[str, float] = {}
        for name, factory in CONTENDERS[loss].items():
            if only and not any(o in name for o in only):
                continue
            try:
                fn = factory(n, d, device)
                for _ in range(warmup):
                    fn()
                _sync(device)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                    base = torch.cuda.memory_allocated(device)
                    fn()
                    _sync(device)
                    peak[name] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
                runs[name] = fn
            except (ImportError, RuntimeError) as e:  # missing peer library, or out of memory
                errors[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(repeats):  # interleaved rounds
            for name, fn in runs.items():
                _sync(device)
                t0 = time.perf_counter()
                fn()
                _sync(device)
                times[name].append(time.perf_counter() - t0)
        for name in CONTENDERS[loss]:
            if name in times:
                rows.append(
                    {
                        "loss": loss,
                        "n": n,
                        "d": d,
                        "contender": name,
                        "ms": 1e3 * statistics.median(times[name]),
                        "peak_mib": peak.get(name),
                    }
                )
            elif name in errors:
                rows.append({"loss": loss, "n": n, "d": d, "contender": name, "error": errors[name]})
        print(f"N={n}: done", file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    out = ["| loss | N | contender | fwd+bwd (ms) | × floor | peak GPU MiB |", "|---|---|---|---|---|---|"]
    floors = {(r["loss"], r["n"]): r["ms"] for r in rows if r["contender"].startswith("floor") and "ms" in r}
    for r in rows:
        if "error" in r:
            out.append(f"| {r['loss']} | {r['n']} | {r['contender']} | — ({r['error'][:50]}) | | |")
            continue
        fl = floors.get((r["loss"], r["n"]))
        ratio = f"{r['ms'] / fl:.2f}" if fl else ""
        mem = f"{r['peak_mib']:.0f}" if r.get("peak_mib") is not None else ""
        out.append(f"| {r['loss']} | {r['n']} | {r['contender']} | {r['ms']:.2f} | {ratio} | {mem} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--loss", nargs="+", default=None, help=f"losses to run (default all: {', '.join(CONTENDERS)})"
    )
    p.add_argument("--only", nargs="+", default=None, help="substrings of contender names to keep")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096, 8192])
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    rows = []
    for loss in a.loss or list(CONTENDERS):
        rows += measure(loss, a.sizes, a.dim, device, a.repeats, a.warmup, a.only)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (platform.processor() or platform.machine())
    )
    meta = {
        "device": name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "command": "python bench/bench_losses.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    out = Path(a.out or Path(__file__).parent / "results" / f"losses-{device.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"{meta['device']} · torch {meta['torch']} · {meta['threads']} threads · {meta['date']}\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
