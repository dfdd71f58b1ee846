"""The ``cssl-edu`` command line: ``train``, ``eval``, ``demo``, ``course``.

cssl-edu demo                                   # SimCLR on built-in Shapes, CPU-sized, ~3 min
cssl-edu train --method simclr --dataset cifar10 --download --epochs 200
cssl-edu train --config my_run.yaml --resume
cssl-edu eval runs/simclr-cifar10/last.pt
cssl-edu doctor runs/simclr-cifar10             # is it learning, collapsed or diverged? (exit 0/1/2)
cssl-edu course list                            # the lessons, with titles and time estimates
cssl-edu course copy my-course --exercises      # the course out of the installed package
cssl-edu lab                                    # copy the course to ./cssl-edu-course, open it in JupyterLab
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import types
import typing
from pathlib import Path
from typing import Any

from cssl_edu import __version__

#: one line per TrainConfig field, shown by --help
HELP: dict[str, str] = {
    "method": "self-supervised method to train (simclr, …; see the list above)",
    "dataset": "shapes (built in, no download), cifar10, cifar100, stl10, folder (ImageFolder at --data-root) or npz (file at --data-root)",
    "data_root": "where datasets live (or are downloaded to); for npz the .npz file itself",
    "download": "download the dataset through torchvision if it is missing",
    "n_train": "use a seeded random subset of this many training images, or 'all' (default: profile's)",
    "n_test": "use a seeded random subset of this many test images, or 'all'",
    "image_size": "training resolution in pixels (images are resized when they differ)",
    "arch": "encoder: convnet (CPU profile), resnet18, resnet34, resnet50",
    "epochs": "passes over the training set",
    "batch_size": "images per step (each gives n_views views); negatives per anchor = 2·batch − 2 for SimCLR",
    "optimizer": "sgd, lars (SimCLR's large-batch optimiser) or adamw",
    "lr": "peak learning rate after warm-up (default: the optimiser's rule, e.g. LARS 0.3·batch/256)",
    "weight_decay": "weight decay on weights (never on biases or BatchNorm)",
    "momentum": "momentum for sgd and lars",
    "warmup_epochs": "linear warm-up length before the cosine decay, in epochs",
    "temperature": "softmax temperature τ of the contrastive loss",
    "proj_hidden_dim": "hidden width of the projection head",
    "proj_out_dim": "output dimension of the projection head (the z the loss sees)",
    "strength": "colour-jitter strength multiplier (1.0 = (0.4, 0.4, 0.4, 0.1))",
    "amp": "bf16 autocast (fast on GPUs with tensor cores)",
    "channels_last": "NHWC memory layout for convolutions",
    "compile": "torch.compile the model (slower start, faster steps on GPU)",
    "sync_bn": "under torchrun: BatchNorm statistics over the global batch (SyncBatchNorm)",
    "seed": "seed for initialisation, batch order and augmentations",
    "dataset_kwargs": 'dataset options as JSON, e.g. \'{"bias": 0.99}\' or \'{"scene": "scene"}\' for shapes',
    "data_seed": "seed of the data (Shapes generation, random subsets); default: --seed. Set it to train several seeds on the same images",
    "device": "auto, cpu, cuda or cuda:N",
    "knn_k": "neighbours for the kNN monitor",
    "knn_temperature": "temperature of the weighted kNN vote",
    "knn_every": "run the kNN monitor every N epochs (0 = never)",
    "knn_bank_size": "labelled training images used as the kNN memory bank",
    "out_dir": "where checkpoints (last.pt), config.json and metrics go",
    "save_every_steps": "also checkpoint every N steps (0 = at each epoch end only)",
    "log_format": "metrics file format: jsonl or csv",
    "profile": "cpu or gpu defaults (default: $CSSL_EDU_PROFILE, else by the device found)",
}


def _scalar_type(tp: Any) -> Any:
    """The scalar type inside ``X | None`` annotations (dataclass fields are strings under PEP 563)."""
    if isinstance(tp, str):
        tp = eval(tp, {"int": int, "float": float, "str": str, "bool": bool, "dict": dict, "Any": Any})
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return tp


def _count_or_all(text: str) -> int | str:
    """``--n-train``/``--n-test``: a positive number of images, or ``all`` for every image."""
    if text.strip().lower() == "all":
        return "all"
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of images or 'all', got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of images or 'all', got {n}")
    return n


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    from cssl_edu.config import TrainConfig

    p.add_argument(
        "--config", metavar="FILE", help="YAML or JSON file of options (flags given here override it)"
    )
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("method_kwargs", "augment_kwargs", "dataset_kwargs"):
            continue
        flag = "--" + f.name.replace("_", "-")
        tp = _scalar_type(f.type)
        help_ = HELP.get(f.name, "")
        if tp is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_)
        elif f.name in ("n_train", "n_test"):
            p.add_argument(flag, type=_count_or_all, default=None, metavar="N|all", help=help_)
        else:
            p.add_argument(flag, type=tp, default=None, metavar=f.name.upper(), help=help_)
    p.add_argument(
        "--method-kwargs",
        type=json.loads,
        default=None,
        metavar="JSON",
        help="extra method options as JSON, e.g. '{\"queue_size\": 4096}'",
    )
    p.add_argument(
        "--augment-kwargs",
        type=json.loads,
        default=None,
        metavar="JSON",
        help='augmentation options as JSON, e.g. \'{"jitter_p": 0, "crop": false}\' (see SimCLRAugment)',
    )
    p.add_argument(
        "--dataset-kwargs",
        type=json.loads,
        default=None,
        metavar="JSON",
        help=HELP["dataset_kwargs"],
    )


def _config_from_args(args: argparse.Namespace):
    from cssl_edu.config import TrainConfig, make_config

    overrides = {
        k: getattr(args, k) for k in TrainConfig.field_names() if k != "profile" and hasattr(args, k)
    }
    return make_config(args.profile, args.config, **overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from cssl_edu.distributed import init_from_env, shutdown
    from cssl_edu.train import Trainer

    def train() -> tuple[Any, Path]:  # the trainer (and its DDP model) is freed on return
        cfg = _config_from_args(args)
        _check_out_dir(cfg.out_dir, resume=args.resume, overwrite=args.overwrite)
        print(
            f"cssl-edu {__version__}: training {cfg.method} on {cfg.dataset} ({cfg.arch}, profile {cfg.profile}) → {cfg.out_dir}"
        )
        trainer = Trainer(cfg)
        return trainer.fit(resume=args.resume), trainer.last_checkpoint

    init_from_env()  # no-op unless launched by torchrun
    try:
        history, checkpoint = train()
    finally:
        shutdown()  # no-op without a process group
    last = history.epochs[-1] if history.epochs else {}
    print(json.dumps({"checkpoint": str(checkpoint), **last}, indent=2))
    return 0


def _check_out_dir(out_dir: str, *, resume: bool, overwrite: bool) -> None:
    """Refuse to train over an earlier run unless told to continue it or to replace it."""
    from cssl_edu.distributed import rank
    from cssl_edu.train import existing_run_files

    if resume and overwrite:
        raise ValueError(
            "--resume continues the run in --out-dir and --overwrite replaces it; pass only one."
        )
    found = existing_run_files(out_dir)
    if not found or resume:
        return
    if not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds a run ({', '.join(p.name for p in found)}); training again would replace "
            "it. Continue it with --resume, choose another --out-dir, or replace it with --overwrite."
        )
    if rank() == 0:
        for path in found:
            path.unlink()
        print(f"--overwrite: removed the earlier run's {', '.join(p.name for p in found)} from {out_dir}")


def cmd_eval(args: argparse.Namespace) -> int:
    from cssl_edu.config import TrainConfig
    from cssl_edu.eval import extract_features, knn_accuracy, label_fraction_probe, linear_probe
    from cssl_edu.train import backbone_from_checkpoint, load_splits, resolve_device

    if args.probe_epochs < 1:
        raise ValueError(
            f"--probe-epochs must be ≥ 1, got {args.probe_epochs}: an untrained probe's accuracy means nothing."
        )
    fractions = _parse_fractions(args.fractions)
    device = resolve_device(args.device)
    backbone, state = backbone_from_checkpoint(args.checkpoint, map_location=device)
    cfg_d = dict(state["config"])
    for k in ("dataset", "data_root", "n_train", "n_test"):
        if getattr(args, k) is not None:
            cfg_d[k] = getattr(args, k)
    cfg_d["download"] = bool(args.download)
    cfg_d["knn_bank_size"] = None
    cfg = TrainConfig.from_dict(cfg_d)
    _, bank, test = load_splits(cfg)
    stats = state.get("data_stats", {"mean": list(bank.mean), "std": list(bank.std)})
    kw = {
        "mean": tuple(stats["mean"]),
        "std": tuple(stats["std"]),
        "image_size": cfg.image_size,
        "device": device,
    }
    backbone.to(device)
    t0 = time.perf_counter()
    ftr, fte = extract_features(backbone, bank.images, **kw), extract_features(backbone, test.images, **kw)
    if not (bool(ftr.isfinite().all()) and bool(fte.isfinite().all())):
        raise ValueError(
            f"the encoder in {args.checkpoint} gives NaN/inf features (its weights are not finite: the run "
            "diverged), so there is nothing to evaluate. Train it again with a lower --lr."
        )
    result: dict[str, Any] = {
        "checkpoint": str(args.checkpoint),
        "dataset": cfg.dataset,
        "n_train": len(bank),
        "n_test": len(test),
        "knn_acc": knn_accuracy(
            ftr, bank.labels, fte, test.labels, k=cfg.knn_k, temperature=cfg.knn_temperature
        ),
        "linear_probe": linear_probe(ftr, bank.labels, fte, test.labels, epochs=args.probe_epochs),
    }
    if fractions:
        result["label_fractions"] = {
            str(k): v
            for k, v in label_fraction_probe(
                ftr, bank.labels, fte, test.labels, fractions, epochs=args.probe_epochs
            ).items()
        }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


def _parse_fractions(text: str) -> tuple[float, ...]:
    try:
        fractions = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(
            f"--fractions must be comma-separated numbers in (0, 1], e.g. 0.01,0.1,1.0; got {text!r}."
        ) from None
    bad = [f for f in fractions if not 0 < f <= 1]
    if bad:
        raise ValueError(f"--fractions must be in (0, 1], got {bad}.")
    return fractions


def cmd_doctor(args: argparse.Namespace) -> int:
    from cssl_edu.analysis.doctor import diagnose

    d = diagnose(args.run, device=args.device)
    print(json.dumps(d.to_dict(), indent=2) if args.json else d.describe())
    return d.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    from cssl_edu.demo import run_demo

    run_demo(
        out_dir=args.out_dir,
        epochs=args.epochs,
        profile=args.profile,
        device=args.device,
        dataset=args.dataset,
        data_root=args.data_root,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from cssl_edu.methods import METHODS

    parser = argparse.ArgumentParser(
        prog="cssl-edu",
        description="Contrastive self-supervised learning: train, evaluate, and run the course demo.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cssl-edu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "train",
        help="train a self-supervised encoder",
        description=f"Train an encoder. Methods: {', '.join(sorted(METHODS))}. Unset flags come from the "
        "config file, then from the profile (cpu or gpu).",
    )
    _add_config_flags(p)
    p.add_argument(
        "--resume", action="store_true", help="continue from OUT_DIR/last.pt if it exists (exactly)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run in OUT_DIR (without it, or --resume, an existing run is never touched)",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint's encoder: kNN, linear probe, label fractions")
    p.add_argument("checkpoint", help="a last.pt written by `cssl-edu train`")
    p.add_argument("--dataset", help="evaluate on another dataset than the one trained on")
    p.add_argument("--data-root", dest="data_root")
    p.add_argument("--download", action="store_true", help="download the dataset if missing")
    p.add_argument(
        "--n-train",
        dest="n_train",
        type=_count_or_all,
        help="labelled training images for kNN/probe, or 'all'",
    )
    p.add_argument("--n-test", dest="n_test", type=_count_or_all, help="test images, or 'all'")
    p.add_argument("--probe-epochs", type=int, default=100, help="linear-probe epochs")
    p.add_argument(
        "--fractions", default="0.01,0.1,1.0", help="label fractions for the few-label probe ('' to skip)"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="also write the results as JSON here")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "demo",
        help="train SimCLR on built-in Shapes, compare with a random encoder, save a plot",
        description="Trains SimCLR on the built-in Shapes data (no download), then prints the kNN and "
        "linear-probe accuracy of the trained encoder beside a random-init one and saves a plot.",
    )
    p.add_argument("--out-dir", default="runs/demo", help="where the checkpoint, log and demo.png go")
    p.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    p.add_argument(
        "--profile", choices=["cpu", "gpu"], default=None, help="cpu or gpu sizes (default: by device)"
    )
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1, …")
    p.add_argument(
        "--dataset",
        default="shapes",
        help="shapes, or npz with --data-root FILE.npz (e.g. the CIFAR-10 subset)",
    )
    p.add_argument("--data-root", default="data", help="dataset folder, or the .npz file for --dataset npz")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "doctor",
        help="diagnose a run: healthy, not learning yet, collapsed or diverged (exit 0, 1; 2 if unreadable)",
        description="Reads a run (its checkpoint, config and metrics) or a zoo entry and measures, on a small "
        "held-out batch in eval mode: the loss against its chance value, collapse (std ratio, effective rank, "
        "uniformity), kNN against the same architecture at random init, and the temperature and learning "
        "rate. Prints each finding with its numbers, likely cause and fix. Exit code 0 healthy, 1 a problem "
        "found, 2 the run cannot be read.",
    )
    p.add_argument(
        "run",
        help="a run folder (--out-dir of `cssl-edu train`), a checkpoint, a zoo NAME.pt or a zoo entry name",
    )
    p.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    p.add_argument("--device", default="cpu", help="where to measure: cpu, cuda, cuda:1, …")
    p.set_defaults(func=cmd_doctor)

    _add_course_parser(sub)
    _add_lab_parser(sub)
    _add_zoo_parser(sub)
    return parser


# ---------------------------------------------------------------------------- zoo


def cmd_zoo_build(args: argparse.Namespace) -> int:
    from cssl_edu.zoo import default_root
    from cssl_edu.zoo.build import build

    root = Path(args.out) if args.out else default_root()
    build(
        list(args.names),
        root,
        force=args.force,
        data_root=args.data_root,
        runs_dir=args.runs_dir,
        progress=not args.quiet,
        seeds=args.seeds,
    )
    return 0


def cmd_zoo_list(args: argparse.Namespace) -> int:
    from cssl_edu.zoo import RECIPES, default_root, names, table

    root = Path(args.root) if args.root else default_root()
    print(table(root))
    missing = [n for n in RECIPES if n not in names(root)]
    if missing:
        print(f"\nnot built in {root}: {', '.join(missing)} (`cssl-edu zoo build NAME`)")
    return 0


def cmd_zoo_show(args: argparse.Namespace) -> int:
    from cssl_edu.zoo import card

    c = card(args.name, args.root)
    if not args.history:
        c = {k: v for k, v in c.items() if k != "history"}
    print(json.dumps(c, indent=2))
    return 0


def _add_zoo_parser(sub: Any) -> None:
    zoo = sub.add_parser(
        "zoo",
        help="the pre-trained encoders: list, show a card, build (train) entries",
        description="The zoo holds one cpu-profile encoder per method, trained to a fixed CPU budget by `cssl-edu zoo "
        "build` from the recipes in cssl_edu/zoo/recipes.py, each with a card (JSON) of how it was "
        "trained and how well it does.",
    )
    zsub = zoo.add_subparsers(dest="zoo_command", required=True, metavar="{list,show,build}")
    p = zsub.add_parser("list", help="the entries with their accuracies (a markdown table)")
    p.add_argument("--root", help="a zoo folder other than the installed one")
    p.set_defaults(func=cmd_zoo_list)

    p = zsub.add_parser("show", help="print an entry's card")
    p.add_argument("name")
    p.add_argument("--root", help="a zoo folder other than the installed one")
    p.add_argument("--history", action="store_true", help="include the per-epoch training history")
    p.set_defaults(func=cmd_zoo_show)

    p = zsub.add_parser(
        "build",
        help="train zoo entries and write their weights and cards",
        description="Train each NAME (every recipe when none is given) with the package's trainer, "
        "evaluate it (kNN, linear probe, random init over 3 seeds) and write NAME.pt and NAME.json. "
        "Entries already built from today's recipe are skipped; an interrupted build resumes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="recipes to build (default: all)")
    p.add_argument("--out", help="zoo folder to write to (default: the package's cssl_edu/zoo/weights)")
    p.add_argument("--data-root", help="the CIFAR-10 subset .npz for the cifar10-subset entries")
    p.add_argument("--runs-dir", default="runs/zoo", help="where the training runs' checkpoints go")
    p.add_argument("--force", action="store_true", help="rebuild entries that are up to date")
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="train training seeds 0 … N−1 of each entry on the same images and put every seed's kNN and "
        "probe accuracy, with their mean ± sd, on the card; the shipped weights stay seed 0 "
        "(default: the recipe's own number, 3 for the entries lessons compare)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_zoo_build)


# ---------------------------------------------------------------------------- course


def _course_kinds(args: argparse.Namespace, default: tuple[str, ...]) -> tuple[str, ...]:
    chosen = tuple(k for k in ("notebooks", "exercises", "solutions") if getattr(args, k, False))
    return chosen or default


def cmd_course_make_exercises(args: argparse.Namespace) -> int:
    from cssl_edu.course import make_exercises

    report = make_exercises(Path(args.solutions), Path(args.exercises), check=args.check)
    if args.check:
        if report.in_sync:
            print(f"{args.exercises}/ is in sync with {args.solutions}/ ({len(report.unchanged)} notebooks)")
            return 0
        for p in report.differing:
            print(f"differs from what `cssl-edu course make-exercises` generates: {p}", file=sys.stderr)
        for p in report.stale:
            print(f"has no solution notebook (delete it?): {p}", file=sys.stderr)
        print(
            f"{args.exercises}/ differs from what the command generates; run "
            f"`cssl-edu course make-exercises --solutions {args.solutions} --exercises {args.exercises}`.",
            file=sys.stderr,
        )
        return 1
    for p in report.written:
        print(f"wrote {p}")
    print(f"{len(report.written)} written, {len(report.unchanged)} unchanged")
    for p in report.stale:
        print(f"warning: {p} has no solution notebook", file=sys.stderr)
    return 0


def cmd_course_list(args: argparse.Namespace) -> int:
    from cssl_edu.course import course_root, format_lessons, list_lessons

    if args.dir:
        folders = [Path(args.dir)]
        if not folders[0].is_dir():
            raise FileNotFoundError(f"no such folder: {args.dir}")
    else:
        root = course_root()
        folders = [root / k for k in _course_kinds(args, ("notebooks", "exercises", "solutions"))]
    shown = 0
    for folder in folders:
        lessons = list_lessons(folder)
        if not lessons:
            continue
        if shown:
            print()
        print(f"{folder}:")
        print(format_lessons(lessons))
        shown += 1
    if not shown:
        print("no notebooks found in " + ", ".join(str(f) for f in folders), file=sys.stderr)
        return 1
    return 0


def cmd_course_copy(args: argparse.Namespace) -> int:
    from cssl_edu.course import copy_course, course_root

    kinds = _course_kinds(args, ("notebooks", "exercises", "solutions"))
    for folder in copy_course(Path(args.dest), kinds, force=args.force):
        print(f"copied {folder}")
    print(f"(from {course_root()})")
    return 0


def cmd_course_html(args: argparse.Namespace) -> int:
    from cssl_edu.course import render_html

    kinds = _course_kinds(args, ("notebooks",))
    written = render_html(
        Path(args.dest),
        kinds,
        execute=not args.no_execute,
        timeout=args.timeout,
        kernel_name=args.kernel,
        source=Path(args.source) if args.source else None,
    )
    for p in written:
        print(f"wrote {p}")
    if not written:
        print(f"no notebooks found for {', '.join(kinds)}", file=sys.stderr)
        return 1
    return 0


def cmd_course_site(args: argparse.Namespace) -> int:
    from cssl_edu.course_site import SiteBuildError, build_site

    if args.no_execute and args.executed:
        print(
            "cssl-edu: error: --no-execute and --executed contradict each other: --executed renders the "
            "outputs of a test run, --no-execute renders none; give one of them.",
            file=sys.stderr,
        )
        return 2
    lessons, problem_sets = args.lessons, args.problem_sets
    if lessons is not None or problem_sets is not None:  # a part: what is not named is left out
        lessons, problem_sets = lessons or [], problem_sets or []
    try:
        report = build_site(
            Path(args.out_dir),
            lessons=lessons,
            problem_sets=problem_sets,
            source=Path(args.source) if args.source else None,
            execute=not args.no_execute,
            executed=Path(args.executed) if args.executed else None,
            timeout=args.timeout,
            kernel_name=args.kernel,
            api=not args.no_api,
            quiet=args.quiet,
        )
    except SiteBuildError as e:
        print(f"cssl-edu: error: {e}", file=sys.stderr)
        return 1
    n = sum(len(v) for v in report.pages.values())
    extra = "the zoo" + ("" if args.no_api else " and the API reference")
    print(f"built the course site: {n} notebook pages, the landing page, {extra}")
    print(f"open {report.index}")
    return 0


def cmd_course_headers(args: argparse.Namespace) -> int:
    from cssl_edu.course import SITE_BASE_URL, update_notebook_headers

    changed = update_notebook_headers(Path(args.root), check=args.check)
    if args.check:
        for p in changed:
            print(f"out of date: {p}", file=sys.stderr)
        if changed:
            print(
                f"{len(changed)} lessons need their header updated; run `cssl-edu course headers`.",
                file=sys.stderr,
            )
            return 1
        print("every lesson has the Colab install cell and its 'Read it rendered' link")
        return 0
    for p in changed:
        print(f"updated {p}")
    print(f"{len(changed)} updated (links under {SITE_BASE_URL})")
    return 0


def _add_kind_flags(p: argparse.ArgumentParser, what: str, default: str) -> None:
    p.add_argument("--notebooks", action="store_true", help=f"{what} the lessons (notebooks/)")
    p.add_argument("--exercises", action="store_true", help=f"{what} the problem sets to solve (exercises/)")
    p.add_argument(
        "--solutions", action="store_true", help=f"{what} the problem sets with solutions (solutions/)"
    )
    p.epilog = f"Without any of --notebooks/--exercises/--solutions: {default}. The flags combine."


def _add_course_parser(sub: Any) -> None:
    course = sub.add_parser(
        "course",
        help="the course notebooks: list, copy, render to HTML or a site, generate exercises",
        description="Work with the course: lessons (notebooks/), problem sets with solutions "
        "(solutions/) and the exercises generated from them (exercises/). Installed from a wheel, "
        "the course ships inside the package; from a source checkout, the repository's folders are used.",
    )
    csub = course.add_subparsers(
        dest="course_command", required=True, metavar="{list,copy,html,site,make-exercises,headers}"
    )

    p = csub.add_parser(
        "list",
        help="the lessons with their titles and time estimates",
        description="List notebooks with the title and CPU/GPU minutes from their metadata "
        '("cssl_edu": {"title", "minutes_cpu", "minutes_gpu"}), else the first heading or file name.',
    )
    _add_kind_flags(p, "list", "list all three folders")
    p.add_argument("--dir", help="list the notebooks of this folder instead of the installed course")
    p.set_defaults(func=cmd_course_list)

    p = csub.add_parser(
        "copy",
        help="copy the course out of the installed package into DEST",
        description="Copy the course folders into DEST/notebooks, DEST/exercises, DEST/solutions, "
        "to work on them outside the installed package.",
    )
    p.add_argument("dest", metavar="DEST", help="folder to copy into (created if missing)")
    _add_kind_flags(p, "copy", "copy all three folders")
    p.add_argument("--force", action="store_true", help="copy into folders that already hold files")
    p.set_defaults(func=cmd_course_copy)

    p = csub.add_parser(
        "html",
        help="execute the notebooks and render them to HTML in DEST",
        description="Execute each notebook (nbconvert's ExecutePreprocessor) and render it with the "
        "HTMLExporter to DEST/<folder>/<name>.html. Exercises run with errors allowed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("dest", metavar="DEST", help="output folder")
    _add_kind_flags(p, "render", "render the lessons (notebooks/) only")
    p.add_argument(
        "--no-execute", action="store_true", help="render the notebooks as stored, without running them"
    )
    p.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell when executing")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel used to execute")
    p.add_argument(
        "--source", help="folder holding notebooks/, exercises/, solutions/ (default: the installed course)"
    )
    p.set_defaults(func=cmd_course_html)

    p = csub.add_parser(
        "site",
        help="build the course site: every lesson and problem set executed, as static HTML in OUT_DIR",
        description="Execute the lessons and solutions (cpu profile) and build a static site with Sphinx "
        "and myst-nb: each lesson with its printed numbers and figures (a slider as its picture), the "
        "problem sets (exercises, and solutions as a separate section), a landing page with the course "
        "map and times, the zoo's table and the API reference. A failed cell, a missing image or a "
        'broken link fails the build. Needs the site extra: pip install "cssl-edu[site]".',
        epilog="Open OUT_DIR/index.html. The whole course takes about as long as running every notebook "
        "(minutes on a CPU); --lessons/--problem-sets build part of it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the site into (replaced if it exists)")
    p.add_argument(
        "--lessons",
        nargs="*",
        metavar="N",
        help="only these lessons, by id or file stem (e.g. --lessons 00 01 06b); default: all, or none "
        "when --problem-sets is given",
    )
    p.add_argument(
        "--problem-sets",
        nargs="*",
        metavar="N",
        help="only these problem sets, by number (e.g. --problem-sets 01); default: all, or none when "
        "--lessons is given",
    )
    p.add_argument(
        "--no-execute",
        action="store_true",
        help="render the notebooks as stored (no outputs), without running",
    )
    p.add_argument(
        "--executed",
        metavar="DIR",
        help="render the executed copies a test run wrote (CSSL_EDU_SAVE_EXECUTED=DIR python -m pytest) "
        "instead of running the notebooks again; a missing, stale or failed copy stops the build",
    )
    p.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell when executing")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel that runs the notebooks")
    p.add_argument(
        "--source", help="folder holding notebooks/, exercises/, solutions/ (default: the installed course)"
    )
    p.add_argument("--no-api", action="store_true", help="leave out the API reference (a quicker build)")
    p.add_argument("--quiet", action="store_true", help="print only warnings and errors")
    p.set_defaults(func=cmd_course_site)

    p = csub.add_parser(
        "make-exercises",
        help="generate exercises/ from solutions/ (or check that it is up to date)",
        description="Turn each solution notebook into an exercise: code between '### BEGIN SOLUTION' and "
        "'### END SOLUTION' becomes `raise NotImplementedError(...)` (a 'hint: ...' on the BEGIN line goes "
        "into the message); cells tagged 'hidden-test' or starting with '### HIDDEN TEST' are dropped; "
        "outputs are cleared. The output is deterministic.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--solutions", default="solutions", metavar="DIR", help="folder of solution notebooks")
    p.add_argument("--exercises", default="exercises", metavar="DIR", help="folder to write the exercises to")
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 listing the exercise files that differ from what would be generated",
    )
    p.set_defaults(func=cmd_course_make_exercises)

    p = csub.add_parser(
        "headers",
        help="maintainers: give every lesson its Colab install cell and its 'Read it rendered' link",
        description="In each lesson of ROOT/notebooks: the Colab badge points at the repository, the line "
        "below it links to the lesson's page on the published course site, and the first code cell "
        "installs the package where it is missing (from the repository until the first release is on "
        "PyPI). Only those two cells change; running it twice changes nothing.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--root", default=".", help="the source checkout holding notebooks/")
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 listing the lessons out of date"
    )
    p.set_defaults(func=cmd_course_headers)


# ---------------------------------------------------------------------------- lab

#: where ``cssl-edu lab`` puts the course when no folder is given
LAB_DEFAULT_DIR = "cssl-edu-course"


def cmd_lab(args: argparse.Namespace) -> int:
    from cssl_edu.course import COURSE_DIRS, copy_course

    try:
        from jupyterlab.labapp import LabApp
    except ImportError:
        print(
            "cssl-edu: error: `cssl-edu lab` needs JupyterLab, which is not installed here; install it "
            "with `pip install jupyterlab ipykernel` (or reinstall cssl-edu, which depends on it).",
            file=sys.stderr,
        )
        return 2
    folder = Path(args.dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder; give `cssl-edu lab` a folder to use.")
    if folder.is_dir() and any(folder.iterdir()):
        print(
            f"{folder} already exists: opening it as it is (nothing copied, your edits are kept). "
            f"For a fresh copy of the course: cssl-edu lab ANOTHER_FOLDER"
        )
    else:
        for copied in copy_course(folder, COURSE_DIRS):
            print(f"copied {copied}")
    lab_argv = [f"--ServerApp.root_dir={folder.resolve()}"]
    if args.port is not None:
        lab_argv.append(f"--port={args.port}")
    if args.no_browser:
        lab_argv.append("--no-browser")
    extra = list(getattr(args, "lab_args", []))
    given = {a.split("=")[0] for a in extra}
    if (
        hasattr(os, "geteuid")
        and os.geteuid() == 0
        and not given & {"--allow-root", "--ServerApp.allow_root"}
    ):
        # JupyterLab refuses to start as root without it; root is the usual user in containers
        print("running as root (as in most containers): passing --allow-root to JupyterLab")
        lab_argv.append("--allow-root")
    lab_argv += extra
    print(f"starting JupyterLab on {folder.resolve()} (stop it with Ctrl-C) ...", flush=True)
    LabApp.launch_instance(argv=lab_argv)
    return 0


def _add_lab_parser(sub: Any) -> None:
    p = sub.add_parser(
        "lab",
        help="copy the course into a folder (once) and open it in JupyterLab",
        description="Copy the course (lessons in notebooks/, problem sets in exercises/ and solutions/) "
        "into DIR when DIR does not exist yet or is empty, then start JupyterLab on DIR. An existing "
        "DIR is opened as it is: a student's edited copy is never overwritten.",
        epilog="Every other option goes to JupyterLab unchanged, written as --name=value, e.g. "
        "--ServerApp.token=SECRET or --ip=0.0.0.0.",
    )
    p.add_argument(
        "dir",
        metavar="DIR",
        nargs="?",
        default=LAB_DEFAULT_DIR,
        help=f"the course folder (default: ./{LAB_DEFAULT_DIR})",
    )
    p.add_argument("--port", type=int, default=None, help="port for JupyterLab (default: JupyterLab's, 8888)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.set_defaults(func=cmd_lab, pass_through=True)


def _course_only_parser() -> argparse.ArgumentParser:
    """The parser for ``cssl-edu course ...`` and ``cssl-edu lab`` alone: it never imports torch,
    so listing or copying the course, or starting JupyterLab, begins in a fraction of a second."""
    parser = argparse.ArgumentParser(prog="cssl-edu")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_course_parser(sub)
    _add_lab_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _course_only_parser() if argv[:1] in (["course"], ["lab"]) else build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "pass_through", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.lab_args = unknown  # `cssl-edu lab` hands them to JupyterLab
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, FloatingPointError) as e:
        print(f"cssl-edu: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        from cssl_edu.train import CheckpointError
        from cssl_edu.zoo import ZooError

        if not isinstance(e, (CheckpointError, ZooError)):
            raise
        print(f"cssl-edu: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ncssl-edu: interrupted; the last checkpoint is intact — continue with --resume.",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:  # the reader went away, e.g. `cssl-edu course list | head -3`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except OSError as e:  # a read-only or full disk, a missing folder, ...
        message = str(e)
        if type(e).__name__ != "RunWriteError":  # the trainer's own error already says what to do
            message += ". Check the path, its permissions and the free disk space."
        print(f"cssl-edu: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
