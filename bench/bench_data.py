"""Benchmark the data pipeline: Shapes generation speed and DeviceLoader batch throughput.

Run from the repository root::

    python bench/bench_data.py                  # CPU, 1 thread, 32 px
    python bench/bench_data.py --device cuda    # on a GPU

Prints images/s for each configuration (best of ``--repeat`` timed runs after one warm-up,
so a busy shared machine shows its best case, not its worst) and writes
``bench/results/data-<device type>.json`` with the numbers, the device and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from cssl_edu.data import DeviceLoader, make_shapes

RESULTS = Path(__file__).resolve().parent / "results"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_rate(fn: Callable[[], object], items: int, device: torch.device, repeat: int) -> float:
    """Items per second of the fastest of ``repeat`` timed calls (after one warm-up call)."""
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return items / best


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} thread(s)"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000, help="images per timed Shapes call")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512, help="DeviceLoader batch size")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON path (default bench/results/data-<device>.json)"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    configs = {
        "shapes object (plain/textured, default)": {"scene": "object"},
        "shapes object, all 3 backgrounds": {
            "scene": "object",
            "backgrounds": ("plain", "textured", "cluttered"),
        },
        "shapes scene (cluttered)": {"scene": "scene"},
    }
    results: dict[str, float] = {}
    for label, kw in configs.items():
        rate = best_rate(
            lambda kw=kw: make_shapes(args.n, image_size=args.image_size, device=device, **kw),
            args.n,
            device,
            args.repeat,
        )
        results[label] = round(rate, 1)
        print(f"{label:45s} {rate:12,.0f} images/s")

    ds = make_shapes(args.n, image_size=args.image_size, device=device)
    loader = DeviceLoader(ds, args.batch_size, device=device)

    def one_epoch() -> None:
        for _ in loader:  # each batch is gathered (index_select) on the device
            pass

    rate = best_rate(one_epoch, len(loader) * args.batch_size, device, args.repeat)
    results["DeviceLoader epoch (batch gather)"] = round(rate, 1)
    print(f"{'DeviceLoader epoch (batch gather)':45s} {rate:12,.0f} images/s")

    report = {
        "benchmark": "data",
        "unit": "images/s (best of repeats)",
        "device": device_name(device),
        "device_type": device.type,
        "image_size": args.image_size,
        "n": args.n,
        "threads": torch.get_num_threads(),
        "repeat": args.repeat,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "results": results,
    }
    out = args.out or RESULTS / f"data-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
