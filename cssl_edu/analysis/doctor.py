"""``cssl-edu doctor``: is this run learning? A plain-language diagnosis of a run or a zoo entry.

:func:`diagnose` reads a run (the trainer's ``out_dir``: ``last.pt``, ``config.json``,
``metrics.jsonl``/``metrics.csv``), a checkpoint file, or a zoo entry (its name or its
``NAME.pt``), puts the trained method in **eval mode** (so a BatchNorm's batch statistics
cannot hide a collapse) and measures, on a small held-out batch — the run's own test split
(``N_TEST`` images) and ``N_BANK`` labelled training images as the kNN bank:

1. **Loss against chance.** Each method's loss has a value it takes when the outputs carry no
   information about which images belong together (the *chance* value ``L₀``):

   ========================  ===============================  ==================================
   method                    loss                             ``L₀`` (and its floor)
   ========================  ===============================  ==================================
   SimCLR, SupCon            NT-Xent / SupCon, batch ``B``    ``log(2B − 1)`` (floor 0)
   MoCo, MoCHi               InfoNCE, queue ``K``             ``log(K + 1)`` (+ MoCHi's mixes)
   memory bank, PIRL-InfoNCE InfoNCE, ``K`` drawn negatives   ``log(K + 1)``
   SwAV                      swapped prediction, ``K`` protos ``log K``
   supervised                cross-entropy, ``C`` classes     ``log C``
   BYOL                      ``2 − 2 cos(p, z')``             ``2`` (range [0, 4], floor 0)
   SimSiam                   ``−cos(p, sg(z))``               ``0`` (range [−1, 1], floor −1)
   ========================  ===============================  ==================================

   The *progress* is ``(L₀ − L_end) / (L₀ − L_floor)`` with ``L_end`` the mean loss of the last
   tenth of the recorded steps: 0 at chance, 1 at the floor. PIRL's NCE loss has no closed-form
   chance value (its normaliser Z is estimated on the first batch); its first recorded loss
   stands in for ``L₀``.
2. **Collapse** of the outputs ``r ∈ {h, z, p}`` (backbone, projector, predictor), each
   ``(M, d)`` and L2-normalised row by row (the package's :func:`~cssl_edu.eval.collapse_std`
   and :func:`~cssl_edu.eval.uniformity`):

   - the std ratio ``√d · mean_j std_i(r̂_ij)``: ≈ 1 when spread over the sphere, 0 when every
     image maps to one vector (*complete* collapse);
   - the effective rank ``exp(−Σ_k q_k log q_k)``, ``q_k = s_k / Σ s`` from the singular values
     ``s_k`` of ``r̂`` (Roy & Vetterli 2007): how many directions the outputs use. A low value
     with a healthy std ratio is *dimensional* collapse (Jing et al. 2022);
   - the uniformity ``log E exp(−2‖r̂_i − r̂_j‖²)`` (Wang & Isola 2020): 0 when collapsed,
     lower when spread.
3. **kNN against random init.** Weighted kNN top-1 (the package's
   :func:`~cssl_edu.eval.knn_accuracy`, the run's ``τ`` and ``k = min(run's k, bank / 10)``,
   so a small bank does not vote with a fifth of itself) of the trained backbone, beside the
   same architecture at random initialisation (seeds 0, 1, 2; cached per architecture and
   images) on the same images; and the kNN monitor's trend from the metrics when recorded.
4. **Sanity of the settings and the weights.** Non-finite weights or losses; the temperature
   of the contrastive methods; the learning rate against the optimiser's own rule
   (:attr:`~cssl_edu.config.TrainConfig.base_lr` without ``lr``: LARS 0.3·B/256, SGD 0.06·B/256,
   AdamW 1e-3).

Thresholds come from measurements (``pytest tests/test_doctor.py -s`` prints them): the 15
zoo entries, and four short runs the tests build (SimCLR, healthy; SimSiam without
stop-gradient; AdamW at lr = 5; τ = 0.005). Collapse is judged on the heads' outputs z and p:
the backbone's ReLU features h all share one mean direction, so their std ratio is low even
when healthy (0.53-0.75 over the zoo). Each constant below says which numbers it sits between.
A head counts as collapsing when its std ratio is below :data:`MIN_STD_RATIO` or its
uniformity above :data:`MAX_UNIFORMITY` (*complete* collapse under way), or its effective rank
is below :data:`MIN_EFFECTIVE_RANK`; an effective rank below :data:`THIN_RANK_SHARE` of d
with the outputs otherwise spread is reported as *dimensional* collapse, a warning only (the
SimSiam and BYOL of the zoo show it and learn well).

The verdict, first that applies: **diverged** (non-finite weights, outputs or losses, or the
loss ended above its chance value), **collapsed** (complete collapse of a head's output, or
its effective rank below :data:`MIN_EFFECTIVE_RANK`), **not learning yet** (loss progress
below :data:`MIN_PROGRESS`, or kNN not above the random-init encoder by
:data:`KNN_MARGIN`), else **healthy**. A setting flagged as a problem (τ far too small, a
learning rate far above the optimiser's rule) makes the exit code 1 whatever the verdict.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu._validation import check_image_batch
from cssl_edu.config import TrainConfig
from cssl_edu.data import ImageDataset, load_dataset
from cssl_edu.eval import collapse_std, extract_features, knn_accuracy, uniformity
from cssl_edu.models import build_backbone

#: the verdicts, in the order they are tested
VERDICTS = ("diverged", "collapsed", "not learning yet", "healthy")
#: held-out test images measured, and labelled training images in the kNN bank
N_TEST = 1000
N_BANK = 2048
#: random-init seeds of the kNN baseline
RANDOM_SEEDS = (0, 1, 2)

# Thresholds: see the module docstring; each comment gives the measurements it sits between.
#: a head's std ratio below this: its outputs crowd toward one vector (complete collapse under way).
#: Healthy: ≥ 0.74 over every zoo entry's z and p (lowest: supcon-shapes' z), 0.94 for the short
#: SimCLR run; collapsing: 0.30 (SimSiam without stop-gradient, p), 0.13 (τ = 0.005, z).
MIN_STD_RATIO = 0.5
#: a head's uniformity above this: the same crowding seen by Wang & Isola's measure (0 when all
#: outputs are equal, ≈ −4 spread in many dimensions). Healthy: ≤ −1.52 (simsiam-shapes' p);
#: collapsing: −0.16 (no stop-gradient, p), −0.07 (τ = 0.005, z).
MAX_UNIFORMITY = -0.5
#: a head's effective rank below this: collapse onto a few directions. Healthy: ≥ 7.0
#: (simsiam-shapes' p); collapsing: 3.6 (no stop-gradient, p; its z behind the BatchNorm 5.4).
MIN_EFFECTIVE_RANK = 5.0
#: effective rank below this share of d is reported (a warning) as dimensional collapse
THIN_RANK_SHARE = 0.1
#: share of the way from the chance loss to its floor below which the loss "is still at chance".
#: Every learning run measured covers ≥ 0.27 (supcon-shapes; the short SimCLR run 0.32); no run
#: measured stalled below it, so this is a guard for runs that never moved, set well below.
MIN_PROGRESS = 0.05
#: kNN accuracy (a fraction) the trained encoder must be above the random-init mean (3 seeds).
#: Healthy: +7.7 points (the short SimCLR run), ≥ +15.6 over the zoo (byol-cifar10-subset);
#: the nocolor control: −4.5; the random-init seeds' sd: 0.7-3.8 points.
KNN_MARGIN = 0.02
#: the loss "ended above chance" when L_end > L₀ + this share of |L₀ − L_floor| (a guard: no run
#: measured here ended above chance; a loss that rises past guessing means the weights blew up)
ABOVE_CHANCE = 0.1
#: τ below which a contrastive loss's logits 1/τ are too sharp to train: the zoo uses 0.1-0.2;
#: at τ = 0.005 the short SimCLR run's z collapses (std ratio 0.13) and kNN falls below random
MIN_TEMPERATURE = 0.02
#: a learning rate above this multiple of the optimiser's own rule is flagged: the zoo trains at
#: 2×, the lessons' short runs at 5× (AdamW 5e-3); 5,000× (lr = 5) drops kNN below random init
MAX_LR_FACTOR = 10.0

#: buffers that are NaN by design until used (PIRL's log Z, unset with its InfoNCE loss)
NAN_BY_DESIGN = ("log_z",)
#: methods whose loss has a temperature τ (the config's ``temperature`` reaches them)
TEMPERATURE_METHODS = ("simclr", "moco", "mochi", "membank", "pirl", "supcon", "swav")


class RunReadError(ValueError):
    """The run cannot be read: a missing path, a corrupt checkpoint, a missing config or data."""


@dataclass
class Finding:
    """One measurement and what it means.

    Attributes:
        name: what was measured (``"loss vs chance"``, ``"collapse"``, ...).
        status: ``"ok"``, ``"warn"`` (worth a look, not a failure) or ``"problem"``.
        values: the numbers behind the sentence.
        message: a plain sentence with those numbers.
        cause: the likely cause (empty when ``ok``).
        fix: what to try (empty when ``ok``).
    """

    name: str
    status: str
    values: dict[str, float | int | str | None]
    message: str
    cause: str = ""
    fix: str = ""

    def line(self) -> str:
        mark = {"ok": "ok     ", "warn": "warn   ", "problem": "PROBLEM"}[self.status]
        text = f"[{mark}] {self.name}: {self.message}"
        if self.cause:
            text += f"\n          likely cause: {self.cause}"
        if self.fix:
            text += f"\n          try: {self.fix}"
        return text


@dataclass
class Diagnosis:
    """The result of :func:`diagnose`: a verdict, the findings behind it, and an exit code.

    ``str(d)`` (or ``d.describe()``) is the readable report; in a notebook the diagnosis shows
    as markdown; :meth:`to_dict` gives the JSON that ``cssl-edu doctor --json`` prints.
    """

    run: str
    method: str
    verdict: str
    headline: str
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}.")

    @property
    def exit_code(self) -> int:
        """0 when healthy with no problem flagged, else 1."""
        ok = self.verdict == "healthy" and not any(f.status == "problem" for f in self.findings)
        return 0 if ok else 1

    def finding(self, name: str) -> Finding:
        """The finding called ``name``."""
        for f in self.findings:
            if f.name == name:
                return f
        raise KeyError(f"no finding {name!r}; findings: {', '.join(f.name for f in self.findings)}.")

    def describe(self) -> str:
        lines = [
            f"cssl-edu doctor: {self.run} ({self.method})",
            f"verdict: {self.verdict} — {self.headline}",
            "",
        ]
        lines += [f.line() for f in self.findings]
        lines.append(f"\n({self.seconds:.1f} s; exit code {self.exit_code})")
        return "\n".join(lines)

    __str__ = describe

    def _repr_markdown_(self) -> str:
        rows = [
            f"**{self.run}** ({self.method}) — verdict: **{self.verdict}**. {self.headline}",
            "",
            "| check | status | finding | likely cause | try |",
            "|---|---|---|---|---|",
        ]
        for f in self.findings:
            cells = [f.name, f.status, f.message, f.cause, f.fix]
            rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "method": self.method,
            "verdict": self.verdict,
            "headline": self.headline,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 2),
            "findings": [asdict(f) for f in self.findings],
        }


# ------------------------------------------------------------------------------------- reading
@dataclass
class _Run:
    """What :func:`diagnose` needs of a run, whatever it was read from."""

    source: str
    method: nn.Module
    cfg: TrainConfig
    step_loss: list[float]
    epochs: list[dict[str, Any]]
    data_stats: dict[str, list[float]]
    #: False for a zoo entry that ships its encoder only: its heads are untrained, so only h is judged
    heads: bool = True


def _read_metrics(folder: Path) -> list[dict[str, Any]]:
    """Per-epoch records from ``metrics.jsonl`` (or ``metrics.csv``) in ``folder``; [] if neither."""
    jl, cs = folder / "metrics.jsonl", folder / "metrics.csv"
    try:
        if jl.is_file():
            return [json.loads(line) for line in jl.read_text().splitlines() if line.strip()]
        if cs.is_file():
            with open(cs, newline="") as f:
                return [
                    {k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)
                ]
    except (OSError, ValueError) as e:
        raise RunReadError(f"the metrics in {folder} are unreadable ({e}); the run's log is damaged.") from e
    return []


def _read_zoo(name: str, root: Path | None) -> _Run:
    from cssl_edu import zoo

    try:
        meta = zoo.card(name, root)
        heads = meta.get("weights_scope", "method") != "backbone"
        if heads:
            method = zoo.load(name, root)
        else:  # the encoder alone ships: a freshly built method around the trained backbone
            method = zoo._build_method(meta).eval()
            method.backbone = zoo.load_backbone(name, root)
        cfg = TrainConfig.from_dict(meta["config"])
    except (zoo.ZooError, KeyError, TypeError, ValueError) as e:
        raise RunReadError(f"zoo entry {name!r} cannot be read: {e}") from e
    if cfg.dataset == "npz" and not Path(cfg.data_root).is_file():  # the card holds the builder's path
        from cssl_edu.notebook import find_cifar_subset

        found = find_cifar_subset()
        if found is not None:
            cfg = TrainConfig.from_dict({**cfg.to_dict(), "data_root": str(found)})
    return _Run(
        source=f"zoo entry {name}",
        method=method,
        cfg=cfg,
        step_loss=[],
        epochs=list(meta.get("history", {}).get("epochs", [])),
        data_stats=dict(meta.get("data_stats") or {}),
        heads=heads,
    )


def _read_checkpoint(path: Path) -> _Run:
    from cssl_edu.train import CheckpointError, build_model, load_checkpoint
    from cssl_edu.train.checkpoint import load_state_dict_strict, require_keys

    try:
        state = load_checkpoint(path)
        require_keys(state, ("config", "method"), path, "be diagnosed")
        try:
            cfg = TrainConfig.from_dict(state["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint {path} has no usable config: {e}") from e
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_model(cfg, state.get("dataset_size"), state.get("num_classes"))
        load_state_dict_strict(model, state["method"], what=f"{cfg.method}/{cfg.arch} model")
    except (CheckpointError, FileNotFoundError) as e:
        message = str(e)
        if "\n" in message and e.__cause__ is not None:  # torch.load's own error runs over many lines
            message = (
                f"checkpoint {path} is corrupt or not a cssl-edu checkpoint ({type(e.__cause__).__name__}: "
                "torch.load cannot read it); train the run again (`cssl-edu train --overwrite ...`)."
            )
        raise RunReadError(" ".join(message.split())) from e
    hist = state.get("history") or {}
    epochs = list(hist.get("epochs") or []) or _read_metrics(path.parent)
    stats = state.get("data_stats") or {}
    return _Run(str(path), model.eval(), cfg, list(hist.get("step_loss") or []), epochs, dict(stats))


def read_run(run: str | os.PathLike[str]) -> _Run:
    """Load ``run``: a run folder (its ``last.pt``), a checkpoint, a zoo ``NAME.pt``, or a zoo name."""
    if not isinstance(run, (str, os.PathLike)) or isinstance(run, bytes):
        raise RunReadError(
            f"run must be a run folder, a checkpoint path or a zoo entry name (a str or Path), got {type(run).__name__}."
        )
    path = Path(run)
    if not path.exists():
        from cssl_edu import zoo

        if isinstance(run, str) and run in zoo.names():
            return _read_zoo(run, None)
        hint = f" (zoo entries: {', '.join(zoo.names())})" if os.sep not in str(run) and zoo.names() else ""
        raise RunReadError(
            f"run {str(run)!r} does not exist: give a run folder (the --out-dir of `cssl-edu train`), a "
            f"checkpoint (last.pt) or a zoo entry name{hint}."
        )
    if path.is_dir():
        ckpt = path / "last.pt"
        if not ckpt.is_file():
            have = ", ".join(sorted(p.name for p in path.iterdir())[:6]) or "nothing"
            raise RunReadError(
                f"run {str(run)!r} has no checkpoint last.pt (it holds {have}); point at the --out-dir of "
                "`cssl-edu train`, after at least one epoch."
            )
        return _read_checkpoint(ckpt)
    card = path.with_suffix(".json")
    if path.suffix == ".pt" and card.is_file():
        try:
            is_zoo = json.loads(card.read_text()).get("format") == "cssl-edu-zoo"
        except (OSError, ValueError, AttributeError):
            is_zoo = False
        if is_zoo:
            return _read_zoo(path.stem, path.parent)
    return _read_checkpoint(path)


# ------------------------------------------------------------------------------- measurements
def effective_rank(x: Tensor) -> float:
    """``exp(H(q))`` of the normalised singular values ``q = s / Σ s`` of the L2-normalised rows of x (M, d).

    1 when every row points the same way, up to ``min(M, d)`` when the rows use every
    direction equally (Roy & Vetterli 2007). Computed in float64.
    """
    s = torch.linalg.svdvals(F.normalize(x.double(), dim=1))
    q = s / s.sum().clamp_min(1e-300)
    return math.exp(float(-(q * q.clamp_min(1e-300).log()).sum()))


def _heads(method: nn.Module, h: Tensor) -> dict[str, Tensor]:
    """The method's outputs after the backbone: z (projector, or PIRL's image head) and p (predictor)."""
    out: dict[str, Tensor] = {}
    if isinstance(getattr(method, "projector", None), nn.Module):
        out["z"] = method.projector(h)
    elif isinstance(getattr(method, "head_f", None), nn.Module):
        out["z"] = method.head_f(h)
    if "z" in out and isinstance(getattr(method, "predictor", None), nn.Module):
        out["p"] = method.predictor(out["z"])
    return out


def chance_loss(method: nn.Module, cfg: TrainConfig) -> tuple[float | None, float, str]:
    """``(L₀, L_floor, formula)`` of the run's loss (see the module docstring); L₀ None when it has none."""
    name, b = cfg.method, cfg.batch_size
    if name in ("simclr", "supcon"):
        return math.log(2 * b - 1), 0.0, f"log(2B − 1) with batch B = {b}"
    if name in ("moco", "mochi"):
        k = int(method.queue.size)
        extra = (method.s + method.s_prime) if name == "mochi" else 0
        return (
            math.log(k + extra + 1),
            0.0,
            f"log(K + 1) with K = {k + extra} negatives (queue{' + mixes' if extra else ''})",
        )
    if name == "membank" or (name == "pirl" and getattr(method, "loss", "") == "infonce"):
        k = int(method.num_negatives)
        return math.log(k + 1), 0.0, f"log(K + 1) with K = {k} negatives from the memory bank"
    if name == "swav":
        k = int(method.prototypes.weight.shape[0])
        return math.log(k), 0.0, f"log K with K = {k} prototypes"
    if name == "supervised":
        c = int(method.classifier.out_features)
        return math.log(c), 0.0, f"log C with C = {c} classes"
    if name == "byol":
        return 2.0, 0.0, "2 − 2·cos = 2 for unrelated prediction and target (range [0, 4])"
    if name == "simsiam":
        return 0.0, -1.0, "−cos = 0 for unrelated prediction and target (range [−1, 1])"
    return None, 0.0, "no closed form (the first recorded loss stands in)"


def _losses(run: _Run) -> list[float]:
    if run.step_loss:
        return [float(v) for v in run.step_loss]
    return [float(r["loss"]) for r in run.epochs if "loss" in r]


def _images_and_bank(
    run: _Run, images: Any
) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor | None, str]:
    """(test images, test labels, bank images, bank labels, where they came from)."""
    if isinstance(images, ImageDataset):
        n = len(images)
        labelled = images.labels >= 0
        if n < 4 or int(labelled.sum()) < 4:
            return images.images, None, None, None, f"the {n} images passed (too few labelled for kNN)"
        idx = torch.arange(n)
        bank, test = idx[idx % 2 == 0], idx[idx % 2 == 1]  # halves: even rows vote for the odd ones
        return (
            images.images[test],
            images.labels[test],
            images.images[bank],
            images.labels[bank],
            f"the {n} images passed (half as the kNN bank)",
        )
    if images is not None:
        return images, None, None, None, f"the {images.shape[0]} images passed (no labels: kNN not measured)"
    cfg = run.cfg
    kw: dict[str, Any] = {"root": cfg.data_root, "image_size": cfg.image_size, "seed": cfg.seed}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test = load_dataset(cfg.dataset, split="test", n=min(cfg.n_test or N_TEST, N_TEST), **kw)
            bank = load_dataset(cfg.dataset, split="train", n=min(cfg.n_train or N_BANK, N_BANK), **kw)
    except (OSError, ValueError, RuntimeError) as e:
        raise RunReadError(
            f"the data of {run.source} ({cfg.dataset} at {cfg.data_root!r}) cannot be loaded ({e}); "
            "pass images=... (an ImageDataset with labels) to measure on other images."
        ) from e
    return (
        test.images,
        test.labels,
        bank.images,
        bank.labels,
        f"{len(test)} {cfg.dataset} test images, {len(bank)} training images as the kNN bank",
    )


def _finite_weights(method: nn.Module) -> tuple[int, int]:
    """(non-finite entries, tensors holding them) over the method's parameters and float buffers."""
    bad = tensors = 0
    named = [*method.named_parameters(), *method.named_buffers()]
    for name, t in named:
        if t.is_floating_point() and not name.endswith(NAN_BY_DESIGN):
            n = int((~torch.isfinite(t)).sum())
            if n:
                bad, tensors = bad + n, tensors + 1
    return bad, tensors


#: the random-init kNN accuracies already measured, by architecture, kNN settings and images
_RANDOM_KNN: dict[tuple[Any, ...], list[float]] = {}


def _channel_stats(images: Tensor) -> dict[str, list[float]]:
    """Per-channel mean and std in [0, 1] units of uint8 (or [0, 1] float) images (N, 3, H, W)."""
    x = images.float() / (255.0 if images.dtype == torch.uint8 else 1.0)
    return {"mean": x.mean(dim=(0, 2, 3)).tolist(), "std": x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()}


def _fingerprint(x: Tensor) -> tuple[Any, ...]:
    """A cheap identity of an image batch: shape and a checksum of its values."""
    return (
        tuple(x.shape),
        str(x.device),
        int(x.to(torch.int64).sum()),
        int((x.to(torch.int64) * 7 % 13).sum()),
    )


def _fmt_pct(x: float) -> str:
    return f"{100 * x:.1f} %"


# -------------------------------------------------------------------------------------- checks
def _check_loss(run: _Run, findings: list[Finding]) -> dict[str, Any]:
    losses = _losses(run)
    l0, floor, formula = chance_loss(run.method, run.cfg)
    state: dict[str, Any] = {"diverged": False, "stalled": False}
    if not losses:
        findings.append(
            Finding(
                "loss vs chance",
                "warn",
                {"chance": l0},
                "the run recorded no losses, so it cannot be compared with chance.",
                "a run stopped before its first epoch ended",
                "train at least one epoch",
            )
        )
        return state
    bad = [i for i, v in enumerate(losses) if not math.isfinite(v)]
    if bad:
        state["diverged"] = True
        findings.append(
            Finding(
                "loss vs chance",
                "problem",
                {"first_nonfinite_at": bad[0], "recorded": len(losses)},
                f"the loss became NaN/inf (record {bad[0] + 1} of {len(losses)}).",
                "the learning rate is too high, or τ too small for the precision used",
                "lower --lr (e.g. ÷10) or raise --temperature; check the inputs for NaN",
            )
        )
        return state
    tail = max(1, len(losses) // 10)
    first, end = sum(losses[:tail]) / tail, sum(losses[-tail:]) / tail
    ref = l0 if l0 is not None else first
    span = abs(ref - floor) if abs(ref - floor) > 1e-12 else 1.0
    progress = (ref - end) / span
    values = {
        "chance": ref,
        "floor": floor,
        "first": first,
        "end": end,
        "progress": progress,
        "steps_recorded": len(losses),
    }
    where = f"L₀ = {ref:.3f} ({formula})"
    if end > ref + ABOVE_CHANCE * span:
        state["diverged"] = True
        findings.append(
            Finding(
                "loss vs chance",
                "problem",
                values,
                f"the loss ended at {end:.3f}, above its chance value {where}: the run got worse than guessing.",
                "the learning rate is far too high (the weights blew up), or the loss is misconfigured",
                "lower --lr by 10× and train again",
            )
        )
    elif progress < MIN_PROGRESS:
        state["stalled"] = True
        findings.append(
            Finding(
                "loss vs chance",
                "problem",
                values,
                f"the loss is still at chance: {end:.3f} vs {where}, {100 * progress:.1f} % of the way to its floor {floor:g}.",
                "too few steps, a learning rate far too low or far too high, or views too easy/hard",
                "train longer; check --lr against the optimiser's rule; look at the augmentations",
            )
        )
    else:
        findings.append(
            Finding(
                "loss vs chance",
                "ok",
                values,
                f"the loss moved from {first:.3f} to {end:.3f}; chance is {where}; {100 * progress:.0f} % of the way to its floor {floor:g}.",
            )
        )
    return state


@torch.no_grad()
def _check_collapse(run: _Run, h: Tensor, findings: list[Finding]) -> dict[str, Any]:
    heads = _heads(run.method, h) if run.heads else {}
    outs = {"h": h, **{k: v.float() for k, v in heads.items()}}
    stats: dict[str, dict[str, float]] = {}
    for key, r in outs.items():
        if not bool(torch.isfinite(r).all()):
            findings.append(
                Finding(
                    "collapse",
                    "problem",
                    {"output": key},
                    f"the outputs {key} hold NaN/inf on the held-out images.",
                    "the weights or BatchNorm statistics are not finite (diverged)",
                    "lower --lr and train again",
                )
            )
            return {"nonfinite": True}
        stats[key] = {
            "d": r.shape[1],
            "std_ratio": collapse_std(r)["ratio"],
            "effective_rank": effective_rank(r),
            "uniformity": float(uniformity(r)),
        }
    values: dict[str, Any] = {f"{k}_{m}": v for k, s in stats.items() for m, v in s.items()}
    heads = [k for k in stats if k != "h"] or ["h"]  # ReLU features h share one mean direction: heads judge
    crowded = [
        k for k in heads if stats[k]["std_ratio"] < MIN_STD_RATIO or stats[k]["uniformity"] > MAX_UNIFORMITY
    ]
    narrow = [k for k in heads if k not in crowded and stats[k]["effective_rank"] < MIN_EFFECTIVE_RANK]
    thin = [k for k in heads if stats[k]["effective_rank"] < THIN_RANK_SHARE * stats[k]["d"]]
    summary = "; ".join(
        f"{k} (d = {s['d']}): std ratio {s['std_ratio']:.2f}, effective rank {s['effective_rank']:.1f}, "
        f"uniformity {s['uniformity']:.2f}"
        for k, s in stats.items()
    )
    state = {"complete": bool(crowded), "dimensional": bool(narrow), "stats": stats}
    cause = (
        "nothing keeps the outputs apart: a missing stop-gradient or target network (BYOL/SimSiam), "
        "or a temperature or learning rate that lets one direction win"
    )
    fix = "check stop_gradient=True and the EMA momentum; check τ and --lr (the findings above)"
    if crowded:
        findings.append(
            Finding(
                "collapse",
                "problem",
                values,
                f"complete collapse under way: {', '.join(crowded)} crowd into one narrow cone (std ratio below "
                f"{MIN_STD_RATIO} or uniformity above {MAX_UNIFORMITY}; spread outputs: ratio ≈ 1, uniformity ≈ −4). "
                f"{summary}.",
                cause,
                fix,
            )
        )
    elif narrow:
        findings.append(
            Finding(
                "collapse",
                "problem",
                values,
                f"collapse onto a few directions: {', '.join(narrow)} have an effective rank below "
                f"{MIN_EFFECTIVE_RANK:g}. {summary}.",
                cause,
                fix,
            )
        )
    elif thin:
        findings.append(
            Finding(
                "collapse",
                "warn",
                values,
                f"no collapse, but {', '.join(thin)} use few of their d directions (effective rank below "
                f"{THIN_RANK_SHARE:.0%} of d: dimensional collapse, Jing et al. 2022). {summary}.",
                "common for BYOL/SimSiam (no negatives) and SupCon (one direction per class); a failure only "
                "when kNN suffers",
                "nothing, if kNN is well above random init; else a wider projector or longer training",
            )
        )
    else:
        findings.append(Finding("collapse", "ok", values, f"no collapse (in eval mode). {summary}."))
    return state


def _check_knn(
    run: _Run,
    test: Tensor,
    y_test: Tensor | None,
    bank: Tensor | None,
    y_bank: Tensor | None,
    findings: list[Finding],
) -> tuple[dict[str, Any], Tensor]:
    cfg = run.cfg
    stats = run.data_stats or _channel_stats(test)  # the run's normalisation; else the images' own
    kw = {"mean": tuple(stats["mean"]), "std": tuple(stats["std"]), "image_size": cfg.image_size}
    backbone = run.method.backbone
    h_test = extract_features(backbone, test, **kw)
    if y_test is None or bank is None or y_bank is None:
        findings.append(
            Finding(
                "kNN vs random init",
                "warn",
                {},
                "not measured: the images came without labels.",
                "",
                "pass images as an ImageDataset with labels (or leave images=None for the run's test split)",
            )
        )
        return {}, h_test
    state: dict[str, Any] = {}
    if not bool(torch.isfinite(h_test).all()):
        return {"nonfinite": True}, h_test
    k = max(1, min(cfg.knn_k, len(bank) // 10))

    def knn(b: nn.Module, h_q: Tensor | None = None) -> float:
        hq = h_q if h_q is not None else extract_features(b, test, **kw)
        hb = extract_features(b, bank, **kw)
        return knn_accuracy(hb, y_bank, hq, y_test, k=k, temperature=cfg.knn_temperature)

    trained = knn(backbone, h_test)
    key = (cfg.arch, cfg.image_size, k, cfg.knn_temperature, str(kw), _fingerprint(test), _fingerprint(bank))
    if key not in _RANDOM_KNN:
        rand = []
        for seed in RANDOM_SEEDS:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                rb = build_backbone(cfg.arch, cfg.image_size).to(test.device).eval()
            rand.append(knn(rb))
        _RANDOM_KNN[key] = rand
    rand = _RANDOM_KNN[key]
    mean = sum(rand) / len(rand)
    sd = (sum((r - mean) ** 2 for r in rand) / max(1, len(rand) - 1)) ** 0.5
    trend = [
        float(r["knn_acc"])
        for r in run.epochs
        if isinstance(r.get("knn_acc"), (int, float)) and math.isfinite(r["knn_acc"])
    ]
    values: dict[str, Any] = {
        "knn": trained,
        "random_mean": mean,
        "random_sd": sd,
        "k": k,
        "n_bank": len(bank),
        "n_test": len(test),
    }
    trend_text = ""
    if len(trend) >= 2:
        values.update(knn_first=trend[0], knn_last=trend[-1], knn_best=max(trend))
        trend_text = f" The kNN monitor went {_fmt_pct(trend[0])} → {_fmt_pct(trend[-1])} over {len(trend)} records (best {_fmt_pct(max(trend))})."
    gap = trained - mean
    head = (
        f"kNN {_fmt_pct(trained)} vs {_fmt_pct(mean)} ± {_fmt_pct(sd)} for the same {cfg.arch} at random init "
        f"(seeds {', '.join(map(str, RANDOM_SEEDS))}; k = {k}, τ = {cfg.knn_temperature:g}, {len(bank)} bank / {len(test)} test images)."
    )
    if gap < -KNN_MARGIN:
        state["below_random"] = True
        findings.append(
            Finding(
                "kNN vs random init",
                "problem",
                values,
                f"below random init by {100 * -gap:.1f} points: {head}{trend_text}",
                "the encoder learned a shortcut that throws away what the labels need (e.g. colour without "
                "colour augmentation, position without cropping), or training broke it (see the learning-rate, "
                "temperature and collapse findings)",
                "restore the augmentation that removes the shortcut (colour jitter/greyscale, crops), or fix "
                "the flagged setting",
            )
        )
    elif gap <= KNN_MARGIN:
        state["not_above_random"] = True
        findings.append(
            Finding(
                "kNN vs random init",
                "problem",
                values,
                f"not above random init: {head}{trend_text}",
                "too few steps for this method (BYOL/SimSiam need far more), or the run is not learning",
                "train longer; check the loss finding and the learning rate",
            )
        )
    else:
        findings.append(
            Finding(
                "kNN vs random init",
                "ok",
                values,
                f"above random init by {100 * gap:.1f} points: {head}{trend_text}",
            )
        )
    return state, h_test


def _check_settings(run: _Run, findings: list[Finding]) -> dict[str, Any]:
    cfg, state = run.cfg, {}
    if cfg.method in TEMPERATURE_METHODS:
        tau = float(getattr(run.method, "temperature", cfg.temperature))
        if tau < MIN_TEMPERATURE:
            state["tau"] = True
            findings.append(
                Finding(
                    "temperature",
                    "problem",
                    {"temperature": tau, "min": MIN_TEMPERATURE},
                    f"τ = {tau:g} is far too small (below {MIN_TEMPERATURE}): logits 1/τ = {1 / tau:.0f}× the "
                    "cosines make the loss chase the single hardest negative and its gradients spiky.",
                    "a temperature meant for another loss or a typo (0.005 for 0.05)",
                    "use τ in 0.05-0.5 (SimCLR 0.1-0.5, MoCo v2 0.2, SupCon 0.1)",
                )
            )
        else:
            findings.append(
                Finding(
                    "temperature",
                    "ok",
                    {"temperature": tau},
                    f"τ = {tau:g} is in the usual range (≥ {MIN_TEMPERATURE}).",
                )
            )
    rule = TrainConfig.from_dict({**cfg.to_dict(), "lr": None}).base_lr
    lr = cfg.base_lr
    ratio = lr / rule
    values = {"lr": lr, "optimizer_rule": rule, "ratio": ratio}
    if ratio > MAX_LR_FACTOR:
        state["lr"] = True
        findings.append(
            Finding(
                "learning rate",
                "problem",
                values,
                f"lr = {lr:g} is {ratio:.0f}× the {cfg.optimizer} rule's {rule:g} (flagged above {MAX_LR_FACTOR:g}×).",
                "a learning rate meant for another optimiser (SGD/LARS rates with AdamW) or a typo",
                f"try --lr {rule:g}",
            )
        )
    else:
        findings.append(
            Finding(
                "learning rate",
                "ok",
                values,
                f"lr = {lr:g}, {ratio:.2g}× the {cfg.optimizer} rule's {rule:g}.",
            )
        )
    return state


# ------------------------------------------------------------------------------------- diagnose
def diagnose(
    run: str | os.PathLike[str], *, images: ImageDataset | Tensor | None = None, device: str = "cpu"
) -> Diagnosis:
    """Diagnose a run: is it learning, collapsed or diverged? (the checks: see the module docstring).

    Args:
        run: a run folder (``--out-dir`` of ``cssl-edu train``: ``last.pt``, ``config.json``,
            ``metrics.jsonl``), a checkpoint file, a zoo entry's ``NAME.pt`` or its name.
        images: measure on these instead of the run's test split: an
            :class:`~cssl_edu.data.ImageDataset` (its even rows the kNN bank, odd rows the
            queries) or a uint8 tensor (N, 3, H, W) (no labels: the kNN check is skipped).
        device: where the measurements run (``"cpu"``, ``"cuda"``, ...).

    Returns:
        a :class:`Diagnosis`; ``print(d)`` gives the report, ``d.exit_code`` 0 (healthy) or 1.

    Raises:
        RunReadError (a ``ValueError``): the run cannot be read (missing path, corrupt
        checkpoint, no config) or its data cannot be loaded.
    """
    from cssl_edu.train import resolve_device

    if images is not None and not isinstance(images, ImageDataset):
        check_image_batch(images, "images")
        if images.device.type == "meta":
            raise ValueError(
                "images are on the meta device (no values); pass real uint8 images (N, 3, H, W)."
            )
    if isinstance(images, ImageDataset):
        check_image_batch(images.images, "images")
    if not isinstance(device, (str, torch.device)):
        raise ValueError(f"device must be a str such as 'cpu' or 'cuda', got {type(device).__name__}.")
    dev = resolve_device(device)
    t0 = time.perf_counter()
    r = read_run(run)
    r.method.to(dev).eval()
    findings: list[Finding] = []
    bad, tensors = _finite_weights(r.method)
    settings = _check_settings(r, findings)
    loss = _check_loss(r, findings)
    collapse: dict[str, Any] = {}
    knn: dict[str, Any] = {}
    if bad:
        findings.insert(
            0,
            Finding(
                "weights",
                "problem",
                {"nonfinite_entries": bad, "tensors": tensors},
                f"{bad} weights in {tensors} tensors are NaN/inf.",
                "the training diverged",
                "lower --lr by 10× and train again",
            ),
        )
    else:
        findings.insert(0, Finding("weights", "ok", {"nonfinite_entries": 0}, "every weight is finite."))
        test, y_test, bank, y_bank, where = _images_and_bank(r, images)
        knn, h = _check_knn(r, test.to(dev), y_test, None if bank is None else bank.to(dev), y_bank, findings)
        if knn.get("nonfinite"):
            findings.append(
                Finding(
                    "collapse",
                    "problem",
                    {},
                    "the backbone's features are NaN/inf on the held-out images.",
                    "the weights or BatchNorm statistics are not finite",
                    "lower --lr and train again",
                )
            )
            collapse = {"nonfinite": True}
        else:
            collapse = _check_collapse(r, h, findings)
        findings.append(
            Finding("held-out images", "ok", {"n": int(test.shape[0])}, f"measured on {where}, in eval mode.")
        )
    diverged = bool(bad) or loss.get("diverged") or collapse.get("nonfinite")
    if diverged:
        verdict, headline = (
            "diverged",
            "the weights, outputs or loss blew up (or the loss ended above chance).",
        )
    elif collapse.get("complete") or collapse.get("dimensional"):
        verdict, headline = (
            "collapsed",
            "the outputs fall onto one vector or a few directions (see collapse).",
        )
    elif loss.get("stalled") or knn.get("below_random") or knn.get("not_above_random"):
        if knn.get("below_random"):
            headline = "its kNN accuracy is below the random-init encoder's: training made the features worse for the labels."
        elif loss.get("stalled"):
            headline = "the loss has not left its chance value."
        else:
            headline = "its kNN accuracy is not above the random-init encoder's yet."
        verdict = "not learning yet"
    else:
        verdict, headline = (
            "healthy",
            "the loss left chance, the outputs are spread, kNN is above random init.",
        )
    if verdict == "healthy" and settings:
        headline += " But a setting is flagged (see below)."
    return Diagnosis(r.source, r.cfg.method, verdict, headline, findings, time.perf_counter() - t0)
