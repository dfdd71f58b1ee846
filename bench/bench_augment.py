"""Throughput of the two SimCLR augmentation paths: per image (a) vs batched per sample (b).

(a) ``simclr_transform`` applied image by image in a Python loop, as a DataLoader worker does;
(b) ``SimCLRAugment`` applied to the whole uint8 batch at once. Both make one view of each of
``--n`` 32x32 images (the real CIFAR-10 subset when present, else synthetic images), with
``--threads`` torch threads; (b) is also timed on one thread. The contenders are timed
interleaved (a, b, b-1-thread, a, ...) over ``--repeats`` rounds after a warm-up, and the
medians are reported, since the machine may be shared. (a)'s ops on one 32x32 image are below
torch's parallelisation grain, so it never uses the thread pool; (b)'s are not, and on an
oversubscribed machine every thread hand-off can cost a scheduler slice. On CUDA, (b) is also timed on device-resident
batches of 512 and 4096 (synchronised), against (a) on the CPU.

Usage::

    python bench/bench_augment.py                 # CPU, 2 threads
    python bench/bench_augment.py --device cuda   # adds the GPU rows

Prints a markdown table and writes ``bench/results/augment-<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

from cssl_edu.augment import SimCLRAugment, simclr_transform

ROOT = Path(__file__).resolve().parents[1]
CIFAR = ROOT.parent / "shared" / "data" / "cifar10-subset.npz"


def load_images(n: int) -> tuple[torch.Tensor, str]:
    """uint8 (n, 3, 32, 32): the CIFAR-10 subset if present, else smooth random colour images."""
    if CIFAR.is_file():
        arr = np.load(CIFAR)["train_images"]
        idx = np.arange(n) % len(arr)
        return torch.from_numpy(arr[idx]).permute(0, 3, 1, 2).contiguous(), "cifar10-subset"
    g = torch.Generator().manual_seed(0)
    low = torch.rand((n, 3, 6, 6), generator=g)
    img = torch.nn.functional.interpolate(low, size=(32, 32), mode="bicubic", align_corners=False)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8), "synthetic"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_per_image(transform, images: torch.Tensor) -> float:
    """Images/s of the per-image transform over the whole set."""
    t0 = time.perf_counter()
    for img in images:
        transform(img)
    return len(images) / (time.perf_counter() - t0)


def time_batched(aug: SimCLRAugment, images: torch.Tensor, sync: bool) -> float:
    """Images/s of one batched call (CUDA synchronised before and after when ``sync``)."""
    if sync:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    aug(images)
    if sync:
        torch.cuda.synchronize()
    return len(images) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--n", type=int, default=512, help="images per round for the CPU comparison")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--cuda-batches", type=int, nargs="+", default=[512, 4096])
    ap.add_argument(
        "--out", type=Path, default=None, help="JSON path (default bench/results/augment-<device>.json)"
    )
    args = ap.parse_args(argv)

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda asked for, but torch.cuda.is_available() is False")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    images, source = load_images(args.n)
    per_image = simclr_transform(32)
    batched = SimCLRAugment(32)

    # warm-up, then interleave the contenders
    time_per_image(per_image, images[:64])
    time_batched(batched, images, sync=False)
    a_runs, b_runs, b1_runs = [], [], []
    for _ in range(args.repeats):
        a_runs.append(time_per_image(per_image, images))
        b_runs.append(time_batched(batched, images, sync=False))
        torch.set_num_threads(1)  # (b) once more on one thread: what it does without a thread pool
        b1_runs.append(time_batched(batched, images, sync=False))
        torch.set_num_threads(args.threads)
    a_med, b_med, b1_med = statistics.median(a_runs), statistics.median(b_runs), statistics.median(b1_runs)
    rows = [
        {"impl": "(a) simclr_transform, per image loop", "device": "cpu", "batch": 1, "images_per_s": a_med},
        {
            "impl": "(b) SimCLRAugment, batched",
            "device": "cpu",
            "batch": args.n,
            "images_per_s": b_med,
            "speedup_vs_a": b_med / a_med,
        },
        {
            "impl": "(b) SimCLRAugment, batched, 1 thread",
            "device": "cpu",
            "batch": args.n,
            "images_per_s": b1_med,
            "speedup_vs_a": b1_med / a_med,
        },
    ]

    if device == "cuda":
        gpu_aug = SimCLRAugment(32).cuda()
        for bs in args.cuda_batches:
            x, _ = load_images(bs)
            x = x.cuda()
            for _ in range(3):
                time_batched(gpu_aug, x, sync=True)
            runs = [time_batched(gpu_aug, x, sync=True) for _ in range(args.repeats)]
            med = statistics.median(runs)
            rows.append(
                {
                    "impl": "(b) SimCLRAugment, batched",
                    "device": "cuda",
                    "batch": bs,
                    "images_per_s": med,
                    "speedup_vs_a": med / a_med,
                    "runs": runs,
                }
            )

    result = {
        "benchmark": "augment",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "device": device,
        "device_name": torch.cuda.get_device_name() if device == "cuda" else cpu_name(),
        "cpu_name": cpu_name(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "images": source,
        "image_size": 32,
        "n": args.n,
        "repeats": args.repeats,
        "a_runs_images_per_s": a_runs,
        "b_cpu_runs_images_per_s": b_runs,
        "b_cpu_1thread_runs_images_per_s": b1_runs,
        "rows": rows,
        "speedup_cpu_b_over_a": b_med / a_med,
        "speedup_cpu_paired_median": statistics.median(b / a for a, b in zip(a_runs, b_runs)),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

    print(f"SimCLR augmentation, {args.n} x 32x32 uint8 ({source}), {torch.get_num_threads()} CPU threads, ")
    print(
        f"median of {args.repeats} interleaved repeats; torch {torch.__version__}, {result['device_name']}\n"
    )
    print("| implementation | device | batch | images/s | vs (a) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        speed = f"{r['speedup_vs_a']:.1f}x" if "speedup_vs_a" in r else "1.0x"
        print(f"| {r['impl']} | {r['device']} | {r['batch']} | {r['images_per_s']:,.0f} | {speed} |")

    print(
        f"\nCPU speed-up (b)/(a): {result['speedup_cpu_b_over_a']:.1f}x from the medians, "
        f"{result['speedup_cpu_paired_median']:.1f}x as the median of the paired (interleaved) rounds"
    )
    out = args.out or ROOT / "bench" / "results" / f"augment-{device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    return result


if __name__ == "__main__":
    main()
