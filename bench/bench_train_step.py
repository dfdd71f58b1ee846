"""Benchmark: one SimCLR training step (augment → encoder → NT-Xent → backward → optimiser).

Reports image pairs per second for a backbone at 32 px over batch sizes, with and without
bf16 autocast, ``channels_last`` and ``torch.compile``, and the share of the step spent in
augmentation and in the loss (measured by timing those parts alone with the same inputs).

    python bench/bench_train_step.py                      # CPU: small ConvNet, batch 256
    python bench/bench_train_step.py --device cuda --arch resnet18 --batch-sizes 256 512 1024 \
        --variants fp32 bf16 bf16+cl bf16+cl+compile

Writes ``bench/results/train-step-<device>.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from cssl_edu.augment import SimCLRAugment
from cssl_edu.losses import nt_xent
from cssl_edu.methods import SimCLR
from cssl_edu.models import build_backbone
from cssl_edu.train.optim import build_optimizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device, iters: int, warmup: int) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_variant(arch: str, batch: int, variant: str, device: torch.device, iters: int, warmup: int) -> dict:
    amp = "bf16" in variant
    cl = "cl" in variant.split("+")
    compiled = "compile" in variant
    torch.manual_seed(0)
    method = SimCLR(build_backbone(arch, 32, channels_last=cl), proj_hidden_dim=2048, proj_out_dim=128).to(
        device
    )
    opt = build_optimizer(method, "lars", 0.3 * batch / 256, 1e-6)
    aug = SimCLRAugment(32).to(device)
    images = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, device=device)
    fwd = torch.compile(method) if compiled else method
    gen = torch.Generator(device=device).manual_seed(0)

    def views() -> list[torch.Tensor]:
        v = [aug(images, generator=gen), aug(images, generator=gen)]
        return [x.contiguous(memory_format=torch.channels_last) for x in v] if cl else v

    def step() -> None:
        v = views()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = fwd(v)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    z1 = torch.randn(batch, 128, device=device, requires_grad=True)
    z2 = torch.randn(batch, 128, device=device, requires_grad=True)

    def loss_only() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            nt_xent(z1, z2, 0.5).backward()

    t_step = _time(step, device, iters, warmup + (3 if compiled else 0))
    t_aug = _time(views, device, iters, warmup)
    t_loss = _time(loss_only, device, iters, warmup)
    return {
        "arch": arch,
        "batch": batch,
        "variant": variant,
        "step_ms": 1e3 * t_step,
        "pairs_per_s": batch / t_step,
        "augment_share": t_aug / t_step,
        "loss_share": t_loss / t_step,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--arch", default=None, help="default: resnet18 on CUDA, convnet on CPU")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    p.add_argument("--variants", nargs="+", default=None, help="fp32, bf16, bf16+cl, bf16+cl+compile")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    device = torch.device(a.device)
    torch.set_num_threads(a.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    arch = a.arch or ("resnet18" if device.type == "cuda" else "convnet")
    sizes = a.batch_sizes or ([256, 512, 1024] if device.type == "cuda" else [256])
    variants = a.variants or (
        ["fp32", "bf16", "bf16+cl", "bf16+cl+compile"] if device.type == "cuda" else ["fp32"]
    )
    rows = []
    for b in sizes:
        for v in variants:
            try:
                rows.append(bench_variant(arch, b, v, device, a.iters, a.warmup))
            except Exception as e:  # OOM or a compile failure is a result too
                rows.append(
                    {"arch": arch, "batch": b, "variant": v, "error": f"{type(e).__name__}: {e}"[:300]}
                )
            print(json.dumps(rows[-1]), flush=True)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine()
    )
    meta = {
        "device": name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    out = Path(a.out or Path(__file__).parent / "results" / f"train-step-{device.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\n{meta['device']}, torch {meta['torch']}\n")
    print("| arch | batch | variant | step (ms) | pairs/s | augment share | loss share |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['arch']} | {r['batch']} | {r['variant']} | — | {r['error'][:40]} | | |")
        else:
            print(
                f"| {r['arch']} | {r['batch']} | {r['variant']} | {r['step_ms']:.1f} | {r['pairs_per_s']:,.0f} | "
                f"{100 * r['augment_share']:.1f} % | {100 * r['loss_share']:.1f} % |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
