"""``cssl-edu zoo build``: train a recipe with the package's trainer, evaluate it, write weights + card.

The card's evaluation (also what ``tests/test_zoo.py`` reproduces):

- features h = f(x) of the frozen backbone for the whole training split (the labelled bank)
  and the test split, without augmentation (:func:`~cssl_edu.eval.extract_features`);
- weighted kNN, k = 200, τ = 0.1 (:func:`~cssl_edu.eval.knn_accuracy`);
- a linear probe, 100 epochs of AdamW on standardised features (:func:`~cssl_edu.eval.linear_probe`);
- the same two numbers for the same architecture at random initialisation, seeds 0, 1, 2,
  reported as mean ± sd (sample sd, n − 1).

The accuracies on the card are measured on the weights *as stored* (half precision, restored
to float32), so loading an entry reproduces them.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cssl_edu.zoo import (
    FORMAT,
    RECIPES,
    VERSION,
    _build_method,
    _sha256,
    card,
    comparable_config,
    recipe_config,
    restore_backbone,
    restore_state,
    same_recipe,
    stored_state,
)

RANDOM_SEEDS = (0, 1, 2)
KNN_K, KNN_T, PROBE_EPOCHS = 200, 0.1, 100


def eval_splits(cfg):
    """(labelled bank = the whole training split, test split) of a recipe's config."""
    from cssl_edu.config import TrainConfig
    from cssl_edu.train import load_splits

    d = cfg.to_dict() if not isinstance(cfg, dict) else dict(cfg)
    d["knn_bank_size"] = None
    train, _, test = load_splits(TrainConfig.from_dict(d))
    return train, test


def evaluate_backbone(backbone: nn.Module, train, test, *, probe: bool = True) -> dict[str, float]:
    """The card's evaluation of a frozen backbone: ``{"knn_acc", "linear_probe_acc"}`` in [0, 1]."""
    from cssl_edu.eval import extract_features, knn_accuracy, linear_probe

    kw = {"mean": train.mean, "std": train.std, "device": "cpu"}
    f_tr = extract_features(backbone, train.images, **kw)
    f_te = extract_features(backbone, test.images, **kw)
    out = {"knn_acc": knn_accuracy(f_tr, train.labels, f_te, test.labels, k=KNN_K, temperature=KNN_T)}
    if probe:
        out["linear_probe_acc"] = linear_probe(f_tr, train.labels, f_te, test.labels, epochs=PROBE_EPOCHS)[
            "test_acc"
        ]
    return out


def random_init_baseline(arch: str, image_size: int, train, test) -> dict[str, Any]:
    """kNN and probe accuracy of ``arch`` at random initialisation, mean ± sd over :data:`RANDOM_SEEDS`."""
    from cssl_edu.models import build_backbone

    runs = []
    for seed in RANDOM_SEEDS:
        torch.manual_seed(seed)
        runs.append(evaluate_backbone(build_backbone(arch, image_size).eval(), train, test))
    out: dict[str, Any] = {"seeds": list(RANDOM_SEEDS)}
    for key in ("knn_acc", "linear_probe_acc"):
        vals = [r[key] for r in runs]
        out[key] = {"mean": statistics.mean(vals), "sd": statistics.stdev(vals), "values": vals}
    return out


def git_commit() -> str:
    """The commit of the package's source tree, ``+dirty`` when ``cssl_edu/`` has uncommitted changes."""
    here = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "cssl_edu"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not built from a git checkout)"
    return sha + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    """What the training time was measured on."""
    return {
        "device": "cpu",
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def floor_value(floor: tuple[str, float] | None, random_knn_mean: float) -> float | None:
    """The kNN accuracy an entry must reach under its recipe's floor."""
    if floor is None:
        return None
    kind, value = floor
    return random_knn_mean + value if kind == "above_random" else value


def tuning_record(method: str, dataset: str = "shapes") -> dict[str, Any]:
    """Which split chose ``method``'s recipe on ``dataset``: the count of its tuning runs and the splits that scored them.

    From :func:`cssl_edu.zoo.tuning_runs`. ``scored_on`` is ``["test"]`` for recipes chosen by
    runs scored on the test split the card reports (optimistic by selection), a validation
    split for runs of today's tuning scripts, and ``[]`` when no run tuned the method (its
    recipe is the package's defaults). When the method's screening grid was scored again on
    a validation split (:func:`cssl_edu.zoo.tuning_pairs`), ``rescored_on_validation`` says how
    many candidates and whether the validation split picks the same one as the test split did.
    """
    from cssl_edu.zoo import tuning_pairs, tuning_runs

    runs = [r for r in tuning_runs(method) if r.get("dataset", "shapes") == dataset]
    out: dict[str, Any] = {
        "runs": len(runs),
        "scored_on": sorted({str(r.get("scored_on", "unknown")) for r in runs}),
    }
    pairs = [p for p in tuning_pairs(method) if p["dataset"] == dataset]
    if len(pairs) >= 2:  # a screening grid scored again on validation: would it choose the same?
        best_t = max(pairs, key=lambda r: r["test"])
        best_v = max(pairs, key=lambda r: r["validation"])
        out["rescored_on_validation"] = {
            "candidates": len(pairs),
            "best_on_test": best_t["overrides"],
            "best_on_validation": best_v["overrides"],
            "same_choice": best_t is best_v,
        }
    return out


def is_current(name: str, root: Path, data_root: str | None = None) -> bool:
    """Whether ``root`` holds an entry built from today's recipe for ``name``."""
    try:
        meta = card(name, root)
    except Exception:
        return False
    today = recipe_config(name, data_root=data_root).to_dict()
    return (root / f"{name}.pt").is_file() and same_recipe(meta["config"], today)


def _run_dir(cfg_dict: dict[str, Any], runs_dir: str, label: str) -> str:
    """One run folder per recipe version: an interrupted build resumes, a changed recipe never
    resumes (or overwrites) the run of the old one."""
    same = comparable_config(cfg_dict)
    if not same["dataset_kwargs"]:  # the dataset's defaults: the folder of runs from before the field existed
        del same["dataset_kwargs"]
    digest = hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()
    return str(Path(runs_dir) / f"{label}-{digest[:10]}")


def _require_data(name: str, cfg) -> None:
    if RECIPES[name].dataset == "cifar10-subset" and not Path(cfg.data_root).is_file():
        raise FileNotFoundError(
            f"zoo entry {name} trains on the CIFAR-10 subset, but {cfg.data_root} does not exist; "
            "pass --data-root PATH/cifar10-subset.npz."
        )


def shipped_tensors(method: nn.Module, ship: str) -> dict[str, torch.Tensor]:
    """What an entry's weights file holds: :func:`stored_state`, or only its ``backbone.*`` tensors."""
    stored = stored_state(method)
    if ship == "backbone":
        return {k: v for k, v in stored.items() if k.startswith("backbone.")}
    if ship != "method":
        raise ValueError(f"ship must be 'method' or 'backbone', got {ship!r}.")
    return stored


def _backbone(meta: dict[str, Any], stored: dict[str, torch.Tensor]) -> nn.Module:
    """The stored encoder, as loading the entry gives it (half precision restored to float32)."""
    if all(k.startswith("backbone.") for k in stored):
        return restore_backbone(meta, stored)
    return restore_state(_build_method(meta), stored).eval().backbone


def shift_scores(name: str, backbone: nn.Module) -> dict[str, dict[str, float]] | None:
    """Lesson 11's evaluations of ``backbone`` that recipe ``name`` asks for (None when it asks for none)."""
    from cssl_edu.zoo.shift import evaluate_shift

    evals = RECIPES[name].evals
    return evaluate_shift(backbone, evals) if evals else None


def _save_weights(path: Path, stored: dict[str, torch.Tensor]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"format": FORMAT, "version": VERSION, "state_dict": stored}, tmp)
    os.replace(tmp, path)


def _cached(cache: dict | None, key: tuple, compute) -> Any:
    """``cache[key]``, computed (and stored, when there is a cache) the first time: one random-init
    baseline per architecture and data for a whole ``build`` call."""
    if cache is not None and key in cache:
        return cache[key]
    value = compute()
    if cache is not None:
        cache[key] = value
    return value


def _write_card(path: Path, entry: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(entry, indent=1) + "\n")
    os.replace(tmp, path)


def build_entry(
    name: str,
    root: Path,
    *,
    data_root: str | None = None,
    runs_dir: str = "runs/zoo",
    progress: bool = True,
    baselines: dict[tuple, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Train recipe ``name`` (resuming ``runs_dir/NAME`` if interrupted), evaluate, write the entry."""
    from cssl_edu.train import Trainer

    rec = RECIPES[name]
    cfg = recipe_config(name, data_root=data_root)
    cfg = recipe_config(name, data_root=data_root, out_dir=_run_dir(cfg.to_dict(), runs_dir, name))
    _require_data(name, cfg)
    load_avg, commit = machine(), git_commit()  # the code that trains, read before training starts
    trainer = Trainer(cfg, progress=progress)
    resumed_from = 0
    if trainer.last_checkpoint.exists():
        resumed_from = int(torch.load(trainer.last_checkpoint, map_location="cpu", weights_only=True)["step"])
    wall0, cpu0 = time.perf_counter(), time.process_time()
    trainer.fit(resume=True)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if hasattr(os, "getloadavg"):
        load_avg["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    train_seconds = sum(float(r["seconds"]) for r in trainer.history.epochs)

    stored = shipped_tensors(trainer.method, rec.ship)
    root.mkdir(parents=True, exist_ok=True)
    weights = root / f"{name}.pt"
    _save_weights(weights, stored)

    meta: dict[str, Any] = {
        "config": cfg.to_dict(),
        "dataset_size": len(trainer.train_set),
        "num_classes": max(1, len(trainer.train_set.classes)),
    }
    backbone = _backbone(meta, stored)  # evaluate what ships
    train, test = eval_splits(cfg)
    scores = evaluate_backbone(backbone, train, test)
    key = (cfg.arch, cfg.image_size, rec.dataset)
    base = _cached(baselines, key, lambda: random_init_baseline(cfg.arch, cfg.image_size, train, test))
    floor = floor_value(rec.floor, base["knn_acc"]["mean"])
    entry = {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "description": rec.description,
        "method": cfg.method,
        "dataset": rec.dataset,
        "arch": cfg.arch,
        "image_size": cfg.image_size,
        "config": cfg.to_dict(),
        "dataset_size": meta["dataset_size"],
        "num_classes": meta["num_classes"],
        "classes": list(trainer.train_set.classes),
        "data_stats": {"mean": list(train.mean), "std": list(train.std)},
        "epochs": cfg.epochs,
        "steps": trainer.step,
        # wall-clock seconds of the training epochs (they depend on what else the machine ran:
        # see machine.load_average_at_start) and the CPU time the training process used — all
        # threads together, so a quiet 2-core machine needs at least cpu / 2 seconds of wall time
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(cpu, 1) if resumed_from == 0 else None,
        "resumed_from_step": resumed_from,
        "wall_seconds": round(wall, 1),
        "machine": load_avg,
        "torch": torch.__version__,
        "git_commit": commit,
        "command": f"cssl-edu zoo build {name}"
        + (f" --data-root {data_root}" if rec.dataset == "cifar10-subset" and data_root else ""),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "evaluation": {
            "bank": f"the whole training split ({len(train)} images)",
            "test": f"the test split ({len(test)} images)",
            "knn": {"k": KNN_K, "temperature": KNN_T},
            "linear_probe": {"epochs": PROBE_EPOCHS},
            "features": "backbone output h, eval mode, no augmentation",
        },
        "knn_acc": scores["knn_acc"],
        "linear_probe_acc": scores["linear_probe_acc"],
        "random_init": base,
        "tuning": tuning_record(cfg.method, rec.dataset),
        "floor": None if rec.floor is None else {"rule": list(rec.floor), "knn_acc": floor},
        "history": {
            "epochs": trainer.history.epochs,
            "step_loss": [round(v, 5) for v in trainer.history.step_loss],
        },
        "final_loss": trainer.history.step_loss[-1] if trainer.history.step_loss else None,
        "weights": weights.name,
        "weights_dtype": "float16",
        "weights_scope": rec.ship,
        "weights_sha256": _sha256(weights),
    }
    if rec.evals:
        entry.update(_shift_fields(name, backbone, cfg, baselines))
    _write_card(root / f"{name}.json", entry)
    return entry


def _shift_fields(name: str, backbone: nn.Module, cfg, baselines: dict | None) -> dict[str, Any]:
    """A card's lesson-11 fields: ``shift`` (the shipped encoder's) and ``shift_random_init``."""
    from cssl_edu.zoo.shift import SHIFT_EVALS, random_init_shift

    evals = RECIPES[name].evals
    key = ("shift", cfg.arch, cfg.image_size, evals)
    base = _cached(baselines, key, lambda: random_init_shift(cfg.arch, cfg.image_size, evals, RANDOM_SEEDS))
    return {
        "shift": shift_scores(name, backbone),
        "shift_random_init": base,
        "shift_evaluation": {e: SHIFT_EVALS[e] for e in evals},
    }


def update_shipped(name: str, root: Path, *, log=print) -> dict[str, Any]:
    """Bring a built entry's card and file up to today's recipe without training it again.

    - lesson 11's evaluations the recipe asks for and the card lacks are run on the shipped
      encoder (``shift``, ``shift_random_init``);
    - a recipe that ships the encoder only (``ship="backbone"``) rewrites a whole-method file
      with its ``backbone.*`` tensors alone (the same values: the card's accuracies stand).
    """
    rec = RECIPES[name]
    entry = card(name, root)
    path = root / f"{name}.json"
    if rec.ship == "backbone" and entry.get("weights_scope", "method") != "backbone":
        from cssl_edu.zoo import stored_weights

        weights = root / f"{name}.pt"
        kept = {k: v for k, v in stored_weights(name, root).items() if k.startswith("backbone.")}
        _save_weights(weights, kept)
        entry.update(weights_scope="backbone", weights_sha256=_sha256(weights))
        _write_card(path, entry)  # the card and its file agree again before anything reads them
        log(f"{name}: the weights file now holds the encoder only ({weights.stat().st_size / 1e6:.2f} MB)")
    missing = [e for e in rec.evals if e not in (entry.get("shift") or {})]
    if missing:
        from cssl_edu.config import TrainConfig
        from cssl_edu.zoo import load_backbone

        log(f"{name}: lesson 11's evaluations {missing} on the shipped encoder")
        cfg = TrainConfig.from_dict(entry["config"])
        entry.update(_shift_fields(name, load_backbone(name, root), cfg, None))
        _write_card(path, entry)
    return entry


#: the training seed of the weights each entry ships (its card's ``knn_acc`` is this seed's run)
SHIPPED_SEED = 0


def seed_run(
    name: str,
    seed: int,
    *,
    data_root: str | None = None,
    runs_dir: str = "runs/zoo",
    progress: bool = True,
    eval_data: tuple | None = None,
) -> dict[str, Any]:
    """Train recipe ``name`` again with training seed ``seed`` on the shipped entry's images; evaluate it.

    Only the *training* randomness changes — initialisation, batch order, augmentations
    (``TrainConfig.seed``); the images stay those of the shipped entry
    (``data_seed`` = :data:`SHIPPED_SEED`), and the evaluation is the card's (kNN k = 200,
    τ = 0.1 and the 100-epoch linear probe on the test split), on the weights rounded to half
    precision as a shipped entry's are. The weights are not kept.

    Returns ``{"seed", "knn_acc", "linear_probe_acc", "steps", "final_loss", "train_seconds",
    "train_cpu_seconds"}``, and ``"shift"`` (lesson 11's evaluations) when the recipe has ``evals``.
    A run whose checkpoint is already in ``runs_dir`` is loaded, not trained again (its
    ``train_cpu_seconds`` is then None).
    """
    from cssl_edu.config import TrainConfig
    from cssl_edu.train import Trainer

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an int ≥ 0, got {seed!r}.")

    d = {**recipe_config(name, data_root=data_root).to_dict(), "seed": seed, "data_seed": SHIPPED_SEED}
    cfg = TrainConfig.from_dict({**d, "out_dir": _run_dir(d, runs_dir, f"{name}-seed{seed}")})
    _require_data(name, cfg)
    trainer = Trainer(cfg, progress=progress)
    fresh = not trainer.last_checkpoint.exists()
    cpu0 = time.process_time()
    trainer.fit(resume=True)
    cpu = time.process_time() - cpu0
    meta = {
        "config": cfg.to_dict(),
        "dataset_size": len(trainer.train_set),
        "num_classes": max(1, len(trainer.train_set.classes)),
    }
    backbone = _backbone(meta, stored_state(trainer.method))
    train, test = eval_data if eval_data is not None else eval_splits(cfg)
    scores = evaluate_backbone(backbone, train, test)
    shift = shift_scores(name, backbone)
    return {
        "seed": seed,
        "knn_acc": scores["knn_acc"],
        "linear_probe_acc": scores["linear_probe_acc"],
        "steps": trainer.step,
        "final_loss": trainer.history.step_loss[-1] if trainer.history.step_loss else None,
        "train_seconds": round(sum(float(r["seconds"]) for r in trainer.history.epochs), 1),
        "train_cpu_seconds": round(cpu, 1) if fresh else None,
        **({"shift": shift} if shift is not None else {}),
    }


def seed_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample sd (n − 1) of ``knn_acc`` and ``linear_probe_acc`` over training-seed runs."""
    if len(runs) < 2:
        raise ValueError(f"a spread needs at least 2 seed runs, got {len(runs)}.")
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seed runs repeat a seed: {seeds}.")
    out: dict[str, Any] = {"n_seeds": len(runs)}
    for key in ("knn_acc", "linear_probe_acc"):
        vals = [float(r[key]) for r in runs]
        if not all(v == v and 0.0 <= v <= 1.0 for v in vals):
            raise ValueError(f"{key} of the seed runs must be accuracies in [0, 1], got {vals}.")
        out[f"{key}_mean"] = statistics.mean(vals)
        out[f"{key}_sd"] = statistics.stdev(vals)
    shifts = [r.get("shift") for r in runs]
    if all(shifts):
        out["shift_mean"], out["shift_sd"] = {}, {}
        for ev in shifts[0]:
            for stat, fn in (("shift_mean", statistics.mean), ("shift_sd", statistics.stdev)):
                out[stat][ev] = {m: fn(float(s[ev][m]) for s in shifts) for m in shifts[0][ev]}
    return out


def add_seed_runs(
    name: str,
    root: Path,
    seeds: int = 3,
    *,
    data_root: str | None = None,
    runs_dir: str = "runs/zoo",
    progress: bool = True,
    log=print,
) -> dict[str, Any]:
    """Give entry ``name`` in ``root`` ``seed_runs`` for training seeds 0 … ``seeds`` − 1; update its card.

    Seed :data:`SHIPPED_SEED` is the shipped weights' own run (the card's ``knn_acc`` and
    ``linear_probe_acc``); every other seed is trained by :func:`seed_run`. Runs already on the
    card are kept, so an interrupted call resumes, and the card is rewritten (atomically) after
    each new run. The card gains ``seed_runs`` (sorted by seed), ``shipped_seed`` and the mean
    and sample sd of both accuracies (:func:`seed_summary`).
    """
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 2:
        raise ValueError(f"seeds must be an int ≥ 2 (a spread needs two runs), got {seeds!r}.")
    entry = card(name, root)
    if not same_recipe(entry["config"], recipe_config(name, data_root=data_root).to_dict()):
        raise ValueError(
            f"zoo entry {name} in {root} was built from an older recipe; rebuild it "
            f"(`cssl-edu zoo build {name} --force`) before adding seed runs."
        )
    if int(entry["config"]["seed"]) != SHIPPED_SEED:
        raise ValueError(
            f"zoo entry {name} was trained with seed {entry['config']['seed']}, not {SHIPPED_SEED}."
        )
    runs = {int(r["seed"]): r for r in entry.get("seed_runs", [])}
    runs[SHIPPED_SEED] = {
        "seed": SHIPPED_SEED,
        "knn_acc": entry["knn_acc"],
        "linear_probe_acc": entry["linear_probe_acc"],
        "steps": entry["steps"],
        "final_loss": entry["final_loss"],
        "train_seconds": entry["train_seconds"],
        "train_cpu_seconds": entry["train_cpu_seconds"],
        **({"shift": entry["shift"]} if entry.get("shift") else {}),
    }
    evals = RECIPES[name].evals
    path = root / f"{name}.json"
    eval_data = None
    for seed in range(seeds):
        if seed in runs and all(e in (runs[seed].get("shift") or {}) for e in evals):
            continue
        old = runs.get(seed)
        if eval_data is None:
            eval_data = eval_splits(recipe_config(name, data_root=data_root))
        log(f"{name}: training seed {seed} (same images as the shipped seed {SHIPPED_SEED})")
        run = seed_run(
            name, seed, data_root=data_root, runs_dir=runs_dir, progress=progress, eval_data=eval_data
        )
        log(f"{name}: seed {seed}: kNN {run['knn_acc']:.3f}, linear probe {run['linear_probe_acc']:.3f}")
        if old is not None:  # an earlier run of this seed, evaluated again for the new evaluations
            if abs(old["knn_acc"] - run["knn_acc"]) > 1e-6:
                raise RuntimeError(
                    f"{name} seed {seed}: the run in {runs_dir} gives kNN {run['knn_acc']:.4f}, the card "
                    f"{old['knn_acc']:.4f}; it is not the same run — remove it or pass another --runs-dir."
                )
            run = {**old, "shift": run["shift"]}
        runs[seed] = run
        entry["seed_runs"] = [runs[k] for k in sorted(runs)]
        if len(runs) >= 2:
            entry.update(seed_summary(entry["seed_runs"]))
        entry["shipped_seed"] = SHIPPED_SEED
        _write_card(path, entry)
    entry["seed_runs"] = [runs[k] for k in sorted(runs)]
    entry.update(seed_summary(entry["seed_runs"]), shipped_seed=SHIPPED_SEED)
    _write_card(path, entry)
    return entry


def build(
    names: list[str],
    root: Path,
    *,
    force: bool = False,
    data_root: str | None = None,
    runs_dir: str = "runs/zoo",
    progress: bool = True,
    log=print,
    seeds: int | None = None,
) -> list[dict[str, Any]]:
    """Build each named entry (all recipes when empty); entries already built from today's recipe are kept.

    Each entry's card also gets training-seed runs 0 … n − 1 (:func:`add_seed_runs`; runs
    already there are kept), n = ``seeds`` or, when None, the recipe's own ``seeds``.
    """
    if seeds is not None and (not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1):
        raise ValueError(f"seeds must be an int ≥ 1, got {seeds!r}.")
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise ValueError(f"no zoo recipe {', '.join(map(repr, unknown))}; recipes: {', '.join(RECIPES)}.")
    baselines: dict[tuple, dict[str, Any]] = {}
    built = []
    for name in names or list(RECIPES):
        if not force and is_current(name, root, data_root):
            log(f"{name}: up to date in {root} (built from today's recipe; --force rebuilds it)")
            update_shipped(name, root, log=log)
            n_seeds = RECIPES[name].seeds if seeds is None else seeds
            if n_seeds > 1:
                built.append(
                    add_seed_runs(
                        name,
                        root,
                        n_seeds,
                        data_root=data_root,
                        runs_dir=runs_dir,
                        progress=progress,
                        log=log,
                    )
                )
            continue
        log(f"{name}: training ({RECIPES[name].description})")
        entry = build_entry(
            name, root, data_root=data_root, runs_dir=runs_dir, progress=progress, baselines=baselines
        )
        base = entry["random_init"]["knn_acc"]
        floor = entry["floor"]["knn_acc"] if entry["floor"] else None
        log(
            f"{name}: kNN {entry['knn_acc']:.3f} (random init {base['mean']:.3f} ± {base['sd']:.3f}"
            + (f", floor {floor:.3f}{'' if entry['knn_acc'] >= floor else ' — NOT REACHED'}" if floor else "")
            + f"), linear probe {entry['linear_probe_acc']:.3f}, training {entry['train_seconds'] / 60:.1f} min wall "
            f"({(entry['train_cpu_seconds'] or float('nan')) / 60:.1f} CPU-min)"
        )
        n_seeds = RECIPES[name].seeds if seeds is None else seeds
        if n_seeds > 1:
            entry = add_seed_runs(
                name, root, n_seeds, data_root=data_root, runs_dir=runs_dir, progress=progress, log=log
            )
        if "seed_runs" in entry:
            log(
                f"{name}: over {entry['n_seeds']} training seeds kNN {entry['knn_acc_mean']:.3f} ± "
                f"{entry['knn_acc_sd']:.3f}, linear probe {entry['linear_probe_acc_mean']:.3f} ± "
                f"{entry['linear_probe_acc_sd']:.3f} (mean ± sd)"
            )
        built.append(entry)
    return built
