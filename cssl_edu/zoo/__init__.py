"""A zoo of ``cpu``-profile encoders, one per method the course teaches, each trained to a fixed CPU budget.

Every entry was trained by ``cssl-edu zoo build NAME`` with the package's own trainer on the
recipe in :mod:`cssl_edu.zoo.recipes`, and ships in the wheel as two files beside this
module: ``weights/NAME.pt`` (half-precision tensors, loaded with ``weights_only=True`` and
restored to float32) and ``weights/NAME.json``, the entry's *card*: the method, data,
architecture, full training config, epochs, steps, training time and machine, torch version,
git commit, the exact command that rebuilds it, and its kNN and linear-probe accuracy beside
the random-init baseline (mean ± sd over 3 seeds). Entries that lessons compare also carry
``seed_runs``: the same recipe trained with other training seeds on the same images, with the
mean ± sd of both accuracies (:func:`seed_values`, :func:`budget_rows`); the weights are seed 0.
The budget (steps, CPU-minutes), not convergence, decides where an entry stops: a longer run may
still gain. Nothing in a card is typed by hand.

    >>> from cssl_edu import zoo
    >>> zoo.names()[:2]  # doctest: +SKIP
    ['byol-shapes', 'membank-shapes']
    >>> zoo.card("simclr-shapes")["knn_acc"]  # doctest: +SKIP
    0.71
    >>> backbone = zoo.load_backbone("simclr-shapes")  # nn.Module, eval mode, CPU  # doctest: +SKIP
    >>> h = backbone(images)  # (B, 256) features  # doctest: +SKIP

What is *not* stored: the momentum (target/key) networks of MoCo, MoCHi and BYOL, which are
restored as copies of the online networks (they are an average of them), so :func:`load`
gives a method whose ``backbone`` and heads are exactly the trained ones. Entries used only as
frozen encoders (card ``weights_scope: "backbone"``: lesson 11's and ``moco-cifar10-subset``)
store the backbone alone; :func:`load_backbone` loads them and :func:`load` refuses them.
Lesson 11's evaluations of every seed's encoder (:mod:`cssl_edu.zoo.shift`) are on the cards of
the entries whose recipe asks for them (``shift``; :func:`seed_values` with ``"EVAL.KEY"``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cssl_edu.zoo.recipes import RECIPES, Recipe

FORMAT = "cssl-edu-zoo"
#: the tuning runs that chose the recipes (``bench/tune_zoo.py`` appends to it), shipped in the wheel
TUNING_RUNS = Path(__file__).resolve().parent / "tuning-cpu.jsonl"
#: SimCLR, MoCo, BYOL, SimSiam and SwAV at one budget over 3 seeds (``bench/equal_budget.py``), shipped in the wheel
EQUAL_BUDGET_RUNS = Path(__file__).resolve().parent / "equal-budget-cpu.jsonl"
VERSION = 1
#: state-dict prefixes not stored (momentum copies of the online networks) → what they copy
TARGET_COPIES: dict[str, str] = {
    "target_backbone.": "backbone.",
    "target_projector.": "projector.",
    "key_backbone.": "backbone.",
    "key_projector.": "projector.",
}
#: state-dict entries not stored: a memory bank (one row per training image; InstDisc, PIRL) is
#: training state, not part of the encoder, and would be most of its entry's size. A loaded
#: entry gets a freshly initialised bank; files that hold one (older builds) still load it.
NOT_SHIPPED: tuple[str, ...] = ("memory.bank",)
#: config fields that depend on where a build ran, not on the recipe
MACHINE_FIELDS = ("data_root", "out_dir", "device", "download")

__all__ = [
    "RECIPES",
    "Recipe",
    "ZooError",
    "budget_rows",
    "card",
    "compare_entries",
    "default_root",
    "equal_budget_runs",
    "load",
    "load_backbone",
    "matching_entry",
    "names",
    "recipe_config",
    "restore_backbone",
    "restore_state",
    "same_recipe",
    "seed_values",
    "stored_weights",
    "table",
    "tuning_pairs",
    "tuning_runs",
]


class ZooError(RuntimeError):
    """A zoo entry is missing, corrupt, or does not match its card."""


def default_root() -> Path:
    """Where the shipped entries live: ``$CSSL_EDU_ZOO`` if set, else ``cssl_edu/zoo/weights``."""
    env = os.environ.get("CSSL_EDU_ZOO", "").strip()
    return Path(env) if env else Path(__file__).resolve().parent / "weights"


def _root(root: str | os.PathLike[str] | None) -> Path:
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ValueError(
            f"root must be a folder path (str or pathlib.Path) or None, got {type(root).__name__}."
        )
    return Path(root) if root is not None else default_root()


def names(root: str | os.PathLike[str] | None = None) -> list[str]:
    """The entries present (a card and its weights), sorted by name."""
    r = _root(root)
    if not r.is_dir():
        return []
    return sorted(p.stem for p in r.glob("*.json") if p.with_suffix(".pt").is_file())


def tuning_runs(method: str | None = None) -> list[dict[str, Any]]:
    """The tuning runs behind the zoo's recipes, oldest first (``bench/tune_zoo.py``, cpu profile).

    Each run is one dict, as the script wrote it: ``method``, ``overrides`` (the settings changed
    from the recipe's starting point, e.g. ``{"batch_size": 128, "method_kwargs": {...}}``),
    ``n_train`` and ``epochs``, the resulting ``knn_acc`` (fraction in [0, 1]), ``scored_on`` (the
    split that gave ``knn_acc``: ``"test"`` for the runs that chose today's recipes — so their
    choices carry the optimism of selecting on the test set — and a held-out share of the training
    images for runs of the current script), ``final_loss``,
    the wall (and, for later runs, CPU) seconds and an optional ``note``. A lesson that shows how
    a recipe was chosen reads them from here, so an installed course has them too.

    Args:
        method: keep only this method's runs (a name from :data:`cssl_edu.methods.METHODS`, such as
            ``"byol"``); ``None``: every run.

    Raises:
        ValueError: ``method`` is not a method the package knows.
        ZooError: the shipped file is missing or a line is not a JSON object.
    """
    from cssl_edu.methods import METHODS

    if method is not None and (not isinstance(method, str) or method not in METHODS):
        raise ValueError(
            f"unknown method {method!r}; choose one of {', '.join(sorted(METHODS))} (or None for all)."
        )
    return [r for r in _read_runs(TUNING_RUNS, "tuning run") if method is None or r["method"] == method]


def tuning_pairs(method: str | None = None) -> list[dict[str, Any]]:
    """Tuning candidates run twice — scored on the test split, and again on a validation split.

    The first tuning script scored on the test split; its screening grids were run again by
    today's script, which holds a validation split out of the training images. Two runs pair up
    when method, data, ``overrides`` and ``epochs`` agree. One dict per pair: ``method``,
    ``dataset``, ``overrides`` (JSON text, keys sorted), ``epochs``, ``test`` and ``validation``
    (kNN accuracy in [0, 1] under each split) and ``scored_on`` (the validation run's split).

    Args:
        method: keep only this method's pairs (as in :func:`tuning_runs`); ``None``: every pair.
    """

    def key(r: dict[str, Any]) -> tuple:
        return (
            r["method"],
            r.get("dataset", "shapes"),
            json.dumps(r["overrides"], sort_keys=True),
            r["epochs"],
        )

    runs = tuning_runs(method)
    test = {key(r): r for r in runs if r.get("scored_on") == "test"}
    val = {key(r): r for r in runs if str(r.get("scored_on", "")).startswith("validation")}
    return [
        {
            "method": k[0],
            "dataset": k[1],
            "overrides": k[2],
            "epochs": k[3],
            "test": float(test[k]["knn_acc"]),
            "validation": float(val[k]["knn_acc"]),
            "scored_on": val[k]["scored_on"],
        }
        for k in sorted(set(test) & set(val))
    ]


def _read_runs(path: Path, what: str) -> list[dict[str, Any]]:
    """The JSON objects, one per line, of a shipped runs file (each must have a ``method``)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ZooError(f"the zoo's {what}s {path} cannot be read ({e}); reinstall cssl-edu.") from e
    runs = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ZooError(f"{path}, line {i}: not JSON ({e}).") from e
        if not isinstance(row, dict) or "method" not in row:
            raise ZooError(f"{path}, line {i}: not a {what} (a JSON object with a 'method').")
        runs.append(row)
    return runs


def equal_budget_runs() -> list[dict[str, Any]]:
    """The equal-budget runs (``bench/equal_budget.py``): five methods, one budget, three training seeds.

    SimCLR, MoCo, BYOL, SimSiam and SwAV each trained for the same optimiser steps (512) of the same
    batch size (128) on the same 8,192 Shapes images, with the same augmentations, optimiser and
    ConvNet — only the settings that define each method (τ, queue, target momentum, prototypes)
    are its zoo recipe's. One dict per run: ``method`` (the label, e.g. ``"SimCLR"``),
    ``recipe``, ``seed``, ``steps``, ``batch_size``, ``temperature`` (None without one),
    ``knn_acc`` and ``linear_probe_acc`` (fractions, the card's evaluation), ``final_loss``,
    ``train_seconds``, ``train_cpu_seconds``. Unlike the zoo's cards, these runs can rank the
    methods: their budgets are equal and their spread over training seeds is measured.

    Raises:
        ZooError: the shipped file is missing or a line is not a JSON object.
    """
    return _read_runs(EQUAL_BUDGET_RUNS, "equal-budget run")


def _unknown(name: str, root: Path) -> ZooError:
    have = names(root)
    hint = (
        f"available: {', '.join(have)}"
        if have
        else f"{root} holds no entries; build them with `cssl-edu zoo build`"
    )
    if name in RECIPES:
        hint = f"it has a recipe but was not built into {root}; build it with `cssl-edu zoo build {name}`"
    return ZooError(f"no zoo entry {name!r}: {hint}.")


def card(name: str, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The entry's card (a dict read from ``NAME.json``)."""
    r = _root(root)
    path = r / f"{name}.json"
    if not path.is_file():
        raise _unknown(name, r)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ZooError(
            f"the card {path} is unreadable ({e}); rebuild it with `cssl-edu zoo build {name}`."
        ) from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ZooError(f"{path} is not a cssl-edu zoo card; rebuild it with `cssl-edu zoo build {name}`.")
    return data


def recipe_config(name: str, data_root: str | os.PathLike[str] | None = None, out_dir: str | None = None):
    """The :class:`~cssl_edu.config.TrainConfig` that ``cssl-edu zoo build NAME`` trains with today.

    Args:
        name: a recipe name (:data:`RECIPES`).
        data_root: for ``cifar10-subset`` entries, the ``.npz`` file (default: found by
            :func:`cssl_edu.notebook.find_cifar_subset`, else ``cifar10-subset.npz``).
        out_dir: where the run's checkpoints go (default ``runs/zoo/NAME``).
    """
    from cssl_edu.config import make_config

    if name not in RECIPES:
        raise ValueError(f"no zoo recipe {name!r}; recipes: {', '.join(RECIPES)}.")
    rec = RECIPES[name]
    kw: dict[str, Any] = {"method": rec.method, "knn_every": 0, "seed": 0, "device": "cpu"}
    if rec.dataset == "shapes":
        kw["dataset"] = "shapes"
    elif rec.dataset == "cifar10-subset":
        if data_root is None:
            from cssl_edu.notebook import find_cifar_subset

            found = find_cifar_subset()
            data_root = found if found is not None else "cifar10-subset.npz"
        kw.update(dataset="npz", data_root=str(data_root), n_train=None, n_test=None, knn_bank_size=None)
    else:  # pragma: no cover - guarded by the recipe tests
        raise ValueError(f"recipe {name!r} names an unknown dataset {rec.dataset!r}.")
    kw.update(json.loads(json.dumps(rec.overrides)))  # a deep copy; tuples become lists as in a card
    kw["out_dir"] = out_dir or f"runs/zoo/{name}"
    cfg = make_config("cpu", **kw)
    if rec.dataset == "cifar10-subset":  # every image of the file (make_config skips None overrides)
        cfg = dataclasses.replace(cfg, n_train=None, n_test=None, knn_bank_size=None)
    return cfg


def comparable_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """A config dict without the machine-dependent fields, with tuples as lists (as JSON has them).

    A card written before ``dataset_kwargs`` existed trained on the dataset's defaults: ``{}``.
    """
    out = {k: v for k, v in json.loads(json.dumps(cfg)).items() if k not in MACHINE_FIELDS}
    out.setdefault("dataset_kwargs", {})
    return out


def same_recipe(card_config: dict[str, Any], config: dict[str, Any]) -> bool:
    """Whether a card's config equals ``config`` on every field both know (paths and devices aside).

    A field added to :class:`~cssl_edu.config.TrainConfig` after an entry was built is not a
    change of its recipe; every field that decides the trained weights must be on both.
    """
    from cssl_edu.train.trainer import RESUME_KEYS

    for arg, value in (("card_config", card_config), ("config", config)):
        if not isinstance(value, dict):
            raise ValueError(f"{arg} must be a config dict (e.g. cfg.to_dict()), got {type(value).__name__}.")
    a, b = comparable_config(card_config), comparable_config(config)
    if not set(RESUME_KEYS) <= set(a) & set(b):
        return False
    return all(a[k] == b[k] for k in set(a) & set(b))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_weights(name: str, root: Path, meta: dict[str, Any]) -> dict[str, torch.Tensor]:
    path = root / f"{name}.pt"
    if not path.is_file():
        raise _unknown(name, root)
    want = meta.get("weights_sha256")
    if want and _sha256(path) != want:
        raise ZooError(
            f"{path} does not match its card (sha256 differs): the file is corrupt or from another build. "
            f"Reinstall cssl-edu or rebuild it with `cssl-edu zoo build {name} --force`."
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ZooError(
            f"{path} is corrupt ({type(e).__name__}: {e}); rebuild it with `cssl-edu zoo build {name}`."
        ) from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "state_dict" not in payload:
        raise ZooError(f"{path} is not a cssl-edu zoo weights file.")
    return payload["state_dict"]


def stored_state(method: nn.Module, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """What a zoo file stores of a trained method: every tensor but the momentum copies and the
    memory banks (:data:`NOT_SHIPPED`), floats in ``dtype``."""
    out = {}
    for k, v in method.state_dict().items():
        if any(k.startswith(p) for p in TARGET_COPIES) or k in NOT_SHIPPED:
            continue
        out[k] = v.detach().cpu().to(dtype) if v.is_floating_point() else v.detach().cpu().clone()
    return out


def restore_state(method: nn.Module, stored: dict[str, torch.Tensor], what: str = "zoo entry") -> nn.Module:
    """Load :func:`stored_state` output into a freshly built method (floats back to its dtype).

    ``stored`` is a dict mapping state-dict keys to tensors.
    """
    if not isinstance(stored, dict) or not all(isinstance(v, torch.Tensor) for v in stored.values()):
        raise ValueError(
            f"stored must be a dict of name -> tensor (from stored_weights), got {type(stored).__name__}"
            + (" with non-tensor values." if isinstance(stored, dict) else ".")
        )
    own = method.state_dict()
    full: dict[str, torch.Tensor] = {}
    for k, v in own.items():
        src = k
        for prefix, online in TARGET_COPIES.items():
            if k.startswith(prefix):
                src = online + k[len(prefix) :]
        if src not in stored and src in NOT_SHIPPED:
            full[k] = v  # the freshly built model's own (initial) bank
            continue
        if src not in stored:
            raise ZooError(
                f"{what} lacks tensor {src!r}; the file and the code disagree — rebuild the entry."
            )
        t = stored[src]
        if t.shape != v.shape:
            raise ZooError(f"{what}: {src!r} has shape {tuple(t.shape)}, the model wants {tuple(v.shape)}.")
        full[k] = t.to(v.dtype)
    extra = set(stored) - set(own)
    if extra:
        raise ZooError(f"{what} holds tensors the model does not have: {', '.join(sorted(extra)[:5])}.")
    method.load_state_dict(full)
    return method


def _build_method(meta: dict[str, Any]) -> nn.Module:
    from cssl_edu.config import TrainConfig
    from cssl_edu.train import build_model

    cfg = TrainConfig.from_dict(meta["config"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. MoCo's queue-size note, irrelevant for a loaded model
        return build_model(cfg, meta.get("dataset_size"), meta.get("num_classes"))


@lru_cache(maxsize=32)
def _load_cached(name: str, root: str, mtime: float) -> dict[str, torch.Tensor]:
    return _read_weights(name, Path(root), card(name, root))


def matching_entry(cfg: Any, root: str | os.PathLike[str] | None = None) -> str | None:
    """The shipped entry trained with the same settings as ``cfg`` (a TrainConfig), if any.

    "The same" means equal on every field that decides the trained weights (the trainer's
    resume keys: method, arch, data, batch size, epochs, optimiser, τ, heads, method and
    augmentation options, seed) and the dataset size; paths and devices are ignored.
    """
    from cssl_edu.train.trainer import RESUME_KEYS

    if not callable(getattr(cfg, "to_dict", None)):
        raise ValueError(f"cfg must be a TrainConfig (e.g. make_config(...)), got {type(cfg).__name__}.")
    want = comparable_config(cfg.to_dict())
    keys = (*RESUME_KEYS, "n_test", "dataset_kwargs")
    for name in names(root):
        try:
            meta = card(name, root)
            have = comparable_config(meta["config"])
        except ZooError:
            continue
        if meta.get("weights_scope", "method") != "method":
            continue  # an encoder-only entry cannot stand in for a whole trained method
        if all(have.get(k) == want.get(k) for k in keys):
            return name
    return None


def stored_weights(name: str, root: str | os.PathLike[str] | None = None) -> dict[str, torch.Tensor]:
    """The entry's stored tensors (half precision; :func:`restore_state` loads them into a method)."""
    r = _root(root)
    path = r / f"{name}.pt"
    card(name, r)
    if not path.is_file():
        raise _unknown(name, r)
    return _load_cached(name, str(r), path.stat().st_mtime)


def load(name: str, root: str | os.PathLike[str] | None = None) -> nn.Module:
    """The whole trained method (backbone + heads; a :class:`~cssl_edu.methods.Method`), eval mode, CPU, float32.

    Raises :class:`ZooError` for an entry that ships its encoder only (card ``weights_scope``
    ``"backbone"``): use :func:`load_backbone`.
    """
    meta = card(name, root)
    if meta.get("weights_scope", "method") == "backbone":
        raise ZooError(
            f"zoo entry {name} ships its trained encoder only (its heads were left out to keep the zoo "
            f"within its size budget); load it with zoo.load_backbone({name!r})."
        )
    method = restore_state(_build_method(meta), stored_weights(name, root), what=f"zoo entry {name!r}")
    return method.eval()


#: methods whose loss has a temperature τ (BYOL, SimSiam and the supervised baseline have none)
TEMPERATURE_METHODS = frozenset({"simclr", "moco", "mochi", "membank", "pirl", "swav", "supcon"})


def seed_values(
    name: str, metric: str = "knn_acc", root: str | os.PathLike[str] | None = None
) -> list[float]:
    """``metric`` of every training-seed run on ``name``'s card.

    ``metric``: ``"knn_acc"``, ``"linear_probe_acc"``, or one of lesson 11's evaluations
    (:mod:`cssl_edu.zoo.shift`) as ``"EVAL.KEY"``, e.g. ``"colour_shortcut.gap"`` or
    ``"scenes.acc"``, for entries whose recipe runs it.

    One value per training seed (:func:`cssl_edu.zoo.build.add_seed_runs`: same recipe, same
    images, another initialisation, batch order and augmentations), in seed order — what
    :func:`cssl_edu.claims.compare` needs to tell two entries apart beyond the training noise.

    Raises:
        ValueError: ``metric`` is not one of the two.
        ZooError: the card has no seed runs (build them with ``cssl-edu zoo build NAME --seeds 3``).
    """
    shift = None
    if isinstance(metric, str) and metric.count(".") == 1:
        shift = metric.split(".")
        from cssl_edu.zoo.shift import SHIFT_EVALS

        if shift[0] not in SHIFT_EVALS or shift[1] not in ("acc", "aligned_acc", "conflicting_acc", "gap"):
            raise ValueError(
                f"metric {metric!r}: a lesson-11 metric is EVAL.KEY with EVAL one of {sorted(SHIFT_EVALS)} "
                "and KEY one of acc, aligned_acc, conflicting_acc, gap."
            )
    elif metric not in ("knn_acc", "linear_probe_acc"):
        raise ValueError(
            f"metric must be 'knn_acc', 'linear_probe_acc' or a lesson-11 metric such as "
            f"'colour_shortcut.gap', got {metric!r}."
        )
    c = card(name, root)
    runs = c.get("seed_runs") or []
    if len(runs) < 2:
        raise ZooError(
            f"zoo entry {name} has {len(runs) or 'no'} training-seed run{'s' if len(runs) != 1 else ''} on its "
            f"card, so it has no training-seed spread; add them with `cssl-edu zoo build {name} --seeds 3`."
        )
    if shift is None:
        return [float(r[metric]) for r in runs]
    missing = [r["seed"] for r in runs if shift[1] not in (r.get("shift") or {}).get(shift[0], {})]
    if missing:
        raise ZooError(
            f"zoo entry {name}'s card has no {metric} for training seed(s) {missing}; its recipe does not run "
            f"that evaluation (cssl_edu.zoo.RECIPES[{name!r}].evals)."
        )
    return [float(r["shift"][shift[0]][shift[1]]) for r in runs]


def compare_entries(a: str, b: str, metric: str = "knn_acc", root: str | os.PathLike[str] | None = None):
    """Entry ``a`` against entry ``b`` on ``metric``, beside the noise of training: a Welch t-test over seeds.

    Each side is the card's training-seed runs (:func:`seed_values`); an entry without seed runs
    counts as its one shipped run, compared with the other side's spread by a prediction
    interval (:func:`cssl_edu.claims.compare`). Two entries with one run each cannot be
    compared this way: :class:`ZooError`.

    Returns:
        a :class:`cssl_edu.claims.Comparison` (``diff`` = mean(a) − mean(b) as a fraction,
        ``verdict()`` "higher", "lower" or "within noise").
    """
    from cssl_edu.claims import compare

    def values(name: str) -> list[float]:
        try:
            return seed_values(name, metric, root)
        except ZooError:
            return [float(card(name, root)[metric])]

    va, vb = values(a), values(b)
    if len(va) == 1 and len(vb) == 1:
        raise ZooError(
            f"neither {a} nor {b} has training-seed runs, so nothing measures how far another seed would "
            f"move them; add them with `cssl-edu zoo build {a} {b} --seeds 3`."
        )
    return compare(va, vb)


def _pm(c: dict[str, Any], key: str) -> str:
    if "seed_runs" not in c:
        return "one seed"
    return f"{100 * c[f'{key}_mean']:.1f} ± {100 * c[f'{key}_sd']:.1f} % ({c['n_seeds']})"


def _data(c: dict[str, Any]) -> str:
    """A card's dataset, with the dataset's own options when it has any (``shapes (bias = 0.99)``)."""
    kw = c["config"].get("dataset_kwargs") or {}
    return c["dataset"] + (f" ({', '.join(f'{k} = {v}' for k, v in kw.items())})" if kw else "")


def budget_rows(entries: list[str], root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """One row per entry: its training budget beside its accuracy over training seeds.

    What every ranking of zoo entries should print next to it (the entries are trained to a
    fixed CPU budget, not to convergence, and their budgets differ): ``entry``, ``method``,
    ``steps``, ``batch``, ``τ`` (``"—"`` for methods without one), ``CPU-min`` of training,
    ``kNN (%)`` and ``probe (%)`` of the shipped weights, and both as mean ± sd over the
    training seeds with their count (``"one seed"`` when the card has none).
    """
    if isinstance(entries, str) or not all(isinstance(e, str) for e in entries):
        raise ValueError(
            f"entries must be a list of zoo entry names, e.g. ['simclr-shapes'], got {entries!r}."
        )
    rows = []
    for name in entries:
        c = card(name, root)
        cfg = c["config"]
        cpu = c.get("train_cpu_seconds")
        rows.append(
            {
                "entry": name,
                "method": c["method"],
                "steps": c["steps"],
                "batch": cfg["batch_size"],
                "τ": cfg["temperature"] if c["method"] in TEMPERATURE_METHODS else "—",
                "CPU-min": round(cpu / 60, 1) if cpu else "—",
                "kNN (%)": round(100 * c["knn_acc"], 1),
                "probe (%)": round(100 * c["linear_probe_acc"], 1),
                "kNN over seeds": _pm(c, "knn_acc"),
                "probe over seeds": _pm(c, "linear_probe_acc"),
            }
        )
    return rows


def table(root: str | os.PathLike[str] | None = None) -> str:
    """The entries as a markdown table (the README's zoo table is this output).

    Every entry is trained to a fixed CPU budget (its steps × batch and CPU-minutes are in the
    table), not to convergence. kNN and probe are the shipped weights' (training seed 0); the
    training-seed column gives mean ± sd (sample sd) over the card's seed runs, with their count.
    """
    lines = [
        "| entry | method | data | budget: steps × batch, τ | kNN | linear probe "
        "| over training seeds: kNN / probe (mean ± sd, n) | random init: kNN / probe (3 seeds) | floor (kNN) "
        "| training: epochs, CPU time (wall time, load) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names(root):
        c = card(name, root)
        rk, rp = c["random_init"]["knn_acc"], c["random_init"]["linear_probe_acc"]
        floor = f"{100 * c['floor']['knn_acc']:.1f} %" if c.get("floor") else "—"
        cpu = (
            f"{c['train_cpu_seconds'] / 60:.1f} CPU-min"
            if c.get("train_cpu_seconds")
            else "CPU time not recorded"
        )
        load = (c.get("machine", {}).get("load_average_at_start") or ["?"])[0]
        tau = f", τ = {c['config']['temperature']:g}" if c["method"] in TEMPERATURE_METHODS else ""
        seeds = (
            f"{100 * c['knn_acc_mean']:.1f} ± {100 * c['knn_acc_sd']:.1f} % / "
            f"{100 * c['linear_probe_acc_mean']:.1f} ± {100 * c['linear_probe_acc_sd']:.1f} % ({c['n_seeds']})"
            if "seed_runs" in c
            else "one seed"
        )
        lines.append(
            f"| {name} | {c['method']} | {_data(c)} | {c['steps']} × {c['config']['batch_size']}{tau} | "
            f"{100 * c['knn_acc']:.1f} % | {100 * c['linear_probe_acc']:.1f} % | {seeds} | "
            f"{100 * rk['mean']:.1f} ± {100 * rk['sd']:.1f} % / "
            f"{100 * rp['mean']:.1f} ± {100 * rp['sd']:.1f} % | {floor} | {c['epochs']} epochs, {cpu} "
            f"({c['train_seconds'] / 60:.1f} min wall, load {load}) |"
        )
    return "\n".join(lines)


def restore_backbone(
    meta: dict[str, Any], stored: dict[str, torch.Tensor], what: str = "zoo entry"
) -> nn.Module:
    """The encoder of a freshly built method (from card ``meta``) with the ``backbone.*`` tensors of ``stored``."""
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise ValueError(
            f"meta must be a zoo entry's card (a dict holding its training 'config'), got {type(meta).__name__}."
        )
    if not isinstance(stored, dict) or not all(isinstance(v, torch.Tensor) for v in stored.values()):
        raise ValueError(
            f"stored must be a dict of name -> tensor (from stored_weights), got {type(stored).__name__}"
            + (" with non-tensor values." if isinstance(stored, dict) else ".")
        )
    backbone = _build_method(meta).backbone
    own = {k[len("backbone.") :]: v for k, v in stored.items() if k.startswith("backbone.")}
    return restore_state(backbone, own, what=what).eval()


def load_backbone(name: str, root: str | os.PathLike[str] | None = None) -> nn.Module:
    """The trained encoder f (images (B, 3, 32, 32) → h (B, feature_dim)), eval mode, CPU, float32."""
    meta = card(name, root)
    if meta.get("weights_scope", "method") == "backbone":
        return restore_backbone(meta, stored_weights(name, root), what=f"zoo entry {name!r}")
    return load(name, root).backbone
