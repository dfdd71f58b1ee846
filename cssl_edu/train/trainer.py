"""A plain-PyTorch trainer for every method: no framework, every line readable.

One training step:

    uint8 batch on the device ──SimCLRAugment (per sample)──▶ n_views float views
        ──method(views) under autocast──▶ {"loss", …} ──backward, optimiser, LR schedule──▶
        method.on_train_step_end (EMA encoders, queues)

Randomness is a pure function of (seed, step): the batch order of epoch e comes from
(seed, e), the augmentation of step s from (seed, s). Together with the model, optimiser,
scheduler and RNG states saved in each checkpoint, this makes ``resume=True`` continue a run
exactly where it stopped — on CPU, the resumed run's losses equal the uninterrupted run's.
"""

from __future__ import annotations

import csv
import difflib
import inspect
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from cssl_edu import distributed as cdist
from cssl_edu.augment import SimCLRAugment
from cssl_edu.config import TrainConfig
from cssl_edu.data import DeviceLoader, ImageDataset, load_dataset
from cssl_edu.eval import extract_features, knn_accuracy
from cssl_edu.methods import Method, build_method
from cssl_edu.methods.base import method_options
from cssl_edu.models import build_backbone
from cssl_edu.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_state_dict_strict,
    remove_stale_temp_files,
    require_keys,
    save_checkpoint,
)
from cssl_edu.train.optim import build_optimizer, warmup_cosine

#: fields that must agree between a checkpoint and the config that resumes it
RESUME_KEYS = (
    "method",
    "arch",
    "dataset",
    "image_size",
    "batch_size",
    "seed",
    "n_train",
    "epochs",
    "optimizer",
    "lr",
    "weight_decay",
    "warmup_epochs",
    "temperature",
    "proj_hidden_dim",
    "proj_out_dim",
    "strength",
    "method_kwargs",
    "augment_kwargs",
)


#: the files a run writes into its ``out_dir``
RUN_FILES = ("last.pt", "config.json", "metrics.jsonl", "metrics.csv")
#: method options that have their own config field, so they may not also be in ``method_kwargs``
OWN_FIELDS = ("temperature", "proj_hidden_dim", "proj_out_dim")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA if available, else CPU; else ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked."""
    if isinstance(device, torch.device):
        d = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            d = torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            d = None
        if d is None or d.type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N (or mps on a Mac).")
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but CUDA is not available; use --device cpu.")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s), "
                "numbered from 0."
            )
    if d.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for but is not available here; use --device cpu.")
    return d


def existing_run_files(out_dir: str | Path) -> list[Path]:
    """The outputs of an earlier run in ``out_dir`` (checkpoint, config, metrics), if any."""
    out = Path(out_dir)
    return [out / name for name in RUN_FILES if (out / name).exists()]


def _unknown_options(given: dict[str, Any], accepted: set[str], what: str, flag: str) -> None:
    unknown = sorted(set(given) - accepted)
    if not unknown:
        return
    hints = []
    for k in unknown:
        close = difflib.get_close_matches(k, sorted(accepted), n=1)
        hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ValueError(
        f"{flag}: {what} has no option {', '.join(hints)}; its options are {', '.join(sorted(accepted))}."
    )


def augment_options() -> set[str]:
    """The keyword options of :class:`~cssl_edu.augment.SimCLRAugment` that ``augment_kwargs`` may set."""
    params = inspect.signature(SimCLRAugment.__init__).parameters
    return {k for k in params if k not in ("self", "image_size")}


def check_options(cfg: TrainConfig, *, method: bool = True) -> None:
    """Check the user-given ``method_kwargs`` and ``augment_kwargs`` by name, before anything runs.

    Misspelled keys (``queue_sise``) would otherwise be dropped silently or fail deep inside.
    """
    if method:
        accepted = method_options(cfg.method)  # also refuses an unknown method
        own = sorted(set(cfg.method_kwargs) & set(OWN_FIELDS))
        if own:
            raise ValueError(
                f"--method-kwargs: {', '.join(own)} has its own option; set it with "
                f"{', '.join('--' + k.replace('_', '-') for k in own)} instead."
            )
        _unknown_options(cfg.method_kwargs, accepted, f"method {cfg.method!r}", "--method-kwargs")
    if "image_size" in cfg.augment_kwargs:
        raise ValueError("--augment-kwargs: image_size has its own option; set it with --image-size instead.")
    _unknown_options(
        cfg.augment_kwargs, augment_options(), "the augmentation (SimCLRAugment)", "--augment-kwargs"
    )
    if cfg.dataset_kwargs:
        _unknown_options(
            cfg.dataset_kwargs, dataset_options(cfg.dataset), f"dataset {cfg.dataset!r}", "--dataset-kwargs"
        )


def dataset_options(dataset: str) -> set[str]:
    """The options ``dataset_kwargs`` may set for ``dataset`` (Shapes: :func:`~cssl_edu.data.make_shapes`'s)."""
    from cssl_edu.data import make_shapes

    if dataset == "shapes":
        params = inspect.signature(make_shapes).parameters
        return {k for k in params if k not in ("n", "image_size", "seed", "split")}
    if dataset == "stl10":
        return {"folds"}
    return set()


def load_splits(cfg: TrainConfig) -> tuple[ImageDataset, ImageDataset, ImageDataset]:
    """(training set, labelled kNN bank, test set) for ``cfg.dataset``.

    Raises ``ValueError`` when the test split has classes that the labelled bank lacks (or
    names them differently): kNN and the probe could never predict them, so the accuracy
    would be silently capped.
    """
    kw: dict[str, Any] = {
        "root": cfg.data_root,
        "download": cfg.download,
        "image_size": cfg.image_size,
        "seed": cfg.dataset_seed,
        **cfg.dataset_kwargs,
    }
    train_split = "train+unlabeled" if cfg.dataset == "stl10" else "train"
    train = load_dataset(cfg.dataset, split=train_split, n=cfg.n_train, **kw)
    bank = load_dataset(cfg.dataset, split="train", n=cfg.n_train, **kw) if cfg.dataset == "stl10" else train
    if cfg.knn_bank_size is not None and len(bank) > cfg.knn_bank_size:
        g = torch.Generator().manual_seed(cfg.dataset_seed)
        bank = bank.subset(torch.randperm(len(bank), generator=g)[: cfg.knn_bank_size])
    test = load_dataset(cfg.dataset, split="test", n=cfg.n_test, **kw)
    check_class_coverage(bank, test)
    return train, bank, test


def check_class_coverage(bank: ImageDataset, test: ImageDataset) -> None:
    """Raise ``ValueError`` unless every labelled test class is one the labelled ``bank`` holds, by name."""
    if list(bank.classes) != list(test.classes):
        raise ValueError(
            f"the training and test splits number their classes differently ({bank.classes[:5]} … vs "
            f"{test.classes[:5]} …), so their labels cannot be compared; give both splits the same classes."
        )
    have = set(bank.labels[bank.labels >= 0].unique().tolist())
    need = set(test.labels[test.labels >= 0].unique().tolist())
    missing = sorted(need - have)
    if missing:
        names = [test.classes[c] for c in missing]
        share = float(torch.isin(test.labels, torch.tensor(missing)).float().mean())
        raise ValueError(
            f"the test split has images of class(es) {names[:5]}{' …' if len(names) > 5 else ''} that the "
            f"labelled training images lack, so kNN and the linear probe can never predict them ({share:.0%} of "
            "the test images would count as wrong). Use splits with the same classes, or raise --n-train / "
            "--knn-bank-size if a subset left a class out."
        )


def build_model(cfg: TrainConfig, dataset_size: int | None = None, num_classes: int | None = None) -> Method:
    """The method named by ``cfg.method`` around the backbone named by ``cfg.arch``.

    ``cfg.method_kwargs`` is checked by name first (:func:`check_options`); it may set
    ``dataset_size`` or ``num_classes`` itself (e.g. the supervised baseline's classes).
    """
    check_options(cfg, method=True)
    extra = dict(cfg.method_kwargs)
    dataset_size = extra.pop("dataset_size", dataset_size)
    num_classes = extra.pop("num_classes", num_classes)
    backbone = build_backbone(cfg.arch, cfg.image_size, channels_last=cfg.channels_last)
    return build_method(
        cfg.method,
        backbone,
        temperature=cfg.temperature,
        proj_hidden_dim=cfg.proj_hidden_dim,
        proj_out_dim=cfg.proj_out_dim,
        dataset_size=dataset_size,
        num_classes=num_classes,
        **extra,
    )


@dataclass
class History:
    """What a run measured: one loss per step and one record per epoch."""

    step_loss: list[float] = field(default_factory=list)
    epochs: list[dict[str, float]] = field(default_factory=list)


class Trainer:
    """Train ``cfg.method`` on ``cfg.dataset``; see the module docstring for the loop.

    Args:
        cfg: the run's configuration.
        method, train_set, bank_set, test_set: pass your own objects (e.g. from a notebook)
            instead of building them from ``cfg``.
        progress: show tqdm progress bars.

    Example:
        >>> from cssl_edu.config import make_config
        >>> trainer = Trainer(make_config("cpu", epochs=2, out_dir="runs/try"))  # doctest: +SKIP
        >>> history = trainer.fit()  # doctest: +SKIP
    """

    def __init__(
        self,
        cfg: TrainConfig,
        *,
        method: Method | None = None,
        train_set: ImageDataset | None = None,
        bank_set: ImageDataset | None = None,
        test_set: ImageDataset | None = None,
        progress: bool = True,
    ) -> None:
        self.cfg = cfg
        self.rank, self.world_size = cdist.rank(), cdist.world_size()
        self.device = resolve_device(cfg.device)
        if self.world_size > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", torch.cuda.current_device())
        if cfg.batch_size % self.world_size:
            raise ValueError(
                f"batch_size {cfg.batch_size} (the global batch) must be divisible by the number of processes "
                f"({self.world_size})."
            )
        check_options(cfg, method=method is None)  # before any data is loaded or any step runs
        torch.manual_seed(cfg.seed)
        if train_set is None:
            train_set, bank_set, test_set = load_splits(cfg)
        self.train_set = train_set
        self.bank_set = bank_set if bank_set is not None else train_set
        self.test_set = test_set
        self.method = (
            method if method is not None else build_model(cfg, len(train_set), max(1, len(train_set.classes)))
        ).to(self.device)
        if self.world_size > 1 and cfg.sync_bn:
            self.method = nn.SyncBatchNorm.convert_sync_batchnorm(self.method)
        if self.method.needs_labels and bool((train_set.labels < 0).any()):
            raise ValueError(
                f"method {cfg.method!r} needs labels, but the training set has unlabeled images."
            )
        if len(train_set) < cfg.batch_size:
            raise ValueError(
                f"batch_size {cfg.batch_size} is larger than the training set ({len(train_set)} images); "
                "lower --batch-size or raise --n-train."
            )
        self.loader = DeviceLoader(
            train_set, cfg.batch_size, shuffle=True, drop_last=True, device=self.device, seed=cfg.seed
        )
        aug_kw = {
            "strength": cfg.strength,
            "mean": train_set.mean,
            "std": train_set.std,
            **cfg.augment_kwargs,
        }
        try:
            self.augment = SimCLRAugment(cfg.image_size, **aug_kw).to(self.device)
        except TypeError as e:  # a value of the wrong type in augment_kwargs
            raise ValueError(f"--augment-kwargs: {e}; see help(cssl_edu.augment.SimCLRAugment).") from e
        self.steps_per_epoch = len(self.loader)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.optimizer = build_optimizer(
            self.method, cfg.optimizer, cfg.base_lr, cfg.weight_decay, cfg.momentum
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(self.total_steps, int(cfg.warmup_epochs * self.steps_per_epoch))
        )
        self.amp_dtype = torch.bfloat16 if cfg.amp else None
        self.forward: nn.Module = self.method
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward = nn.parallel.DistributedDataParallel(self.method, device_ids=ids)
        if cfg.compile:
            self.forward = torch.compile(self.forward)
        self.progress = progress
        self.step = 0
        self.history = History()
        self.out_dir = Path(cfg.out_dir)
        self._aug_gen = torch.Generator(device=self.device)

    # ------------------------------------------------------------------ checkpoints
    @property
    def last_checkpoint(self) -> Path:
        return self.out_dir / "last.pt"

    def state_dict(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "config": self.cfg.to_dict(),
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "rng": rng,
            "history": {"step_loss": self.history.step_loss, "epochs": self.history.epochs},
            "feature_dim": int(self.method.backbone.feature_dim),
            "dataset_size": len(self.train_set),
            "num_classes": max(1, len(self.train_set.classes)),
            "data_stats": {"mean": list(self.train_set.mean), "std": list(self.train_set.std)},
        }

    def save(self, path: Path | None = None) -> Path:
        """Write a checkpoint (rank 0 only under DDP; the others wait for it)."""
        path = path or self.last_checkpoint
        if self.rank == 0:
            try:
                save_checkpoint(self.state_dict(), path)
            except OSError as e:
                raise _write_error(Path(path).parent, e) from e
        if self.world_size > 1:
            torch.distributed.barrier()
        return path

    def load(self, path: str | Path) -> None:
        """Restore a run from ``path``; the checkpoint's config must match on :data:`RESUME_KEYS`."""
        state = load_checkpoint(path, map_location=self.device)
        require_keys(
            state, ("config", "method", "optimizer", "scheduler", "step", "rng"), path, "resume a run"
        )
        if not isinstance(state["rng"], dict) or "torch" not in state["rng"]:
            raise CheckpointError(f"checkpoint {path} has no torch RNG state, so it cannot resume exactly.")
        theirs = state["config"] if isinstance(state["config"], dict) else {}
        diffs = [
            f"{k}: checkpoint {theirs.get(k)!r} vs now {getattr(self.cfg, k)!r}"
            for k in RESUME_KEYS
            if _plain(theirs.get(k)) != _plain(getattr(self.cfg, k))
        ]
        # the data's seed: ``data_seed`` when set, else ``seed`` (checkpoints from before the
        # field existed have no ``data_seed``, which means the same)
        their_data_seed = (
            theirs.get("data_seed") if theirs.get("data_seed") is not None else theirs.get("seed")
        )
        if their_data_seed != self.cfg.dataset_seed:
            diffs.append(f"data seed: checkpoint {their_data_seed!r} vs now {self.cfg.dataset_seed!r}")
        # the dataset's own options (older checkpoints have none: the dataset's defaults)
        their_data_kw = _plain(theirs.get("dataset_kwargs") or {})
        if their_data_kw != _plain(self.cfg.dataset_kwargs):
            diffs.append(f"dataset options: checkpoint {their_data_kw!r} vs now {self.cfg.dataset_kwargs!r}")
        if diffs:
            raise CheckpointError(
                f"cannot resume from {path}: the run's settings differ ({'; '.join(diffs)})."
            )
        load_state_dict_strict(self.method, state["method"], what=f"{self.cfg.method} model")
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        except (KeyError, ValueError) as e:
            raise CheckpointError(f"optimizer/scheduler state in {path} does not match: {e}") from e
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), self.device)
        h = state.get("history", {})
        self.history = History(list(h.get("step_loss", [])), list(h.get("epochs", [])))

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def knn_monitor(self) -> float:
        """Weighted-kNN top-1 accuracy of the current backbone on the test split."""
        if self.test_set is None or self.rank != 0:
            return float("nan")
        kw = {
            "mean": self.train_set.mean,
            "std": self.train_set.std,
            "image_size": self.cfg.image_size,
            "amp": self.cfg.amp,
        }
        bank = extract_features(self.method.backbone, self.bank_set.images, **kw)
        test = extract_features(self.method.backbone, self.test_set.images, **kw)
        return knn_accuracy(
            bank,
            self.bank_set.labels,
            test,
            self.test_set.labels,
            k=self.cfg.knn_k,
            temperature=self.cfg.knn_temperature,
        )

    # ------------------------------------------------------------------ training
    def _views(self, images: torch.Tensor) -> list[torch.Tensor]:
        self._aug_gen.manual_seed((self.cfg.seed * 1_000_003 + self.step) * self.world_size + self.rank)
        views = self.method.make_views(images, self.augment, self._aug_gen)  # n_views augmented batches
        if self.cfg.channels_last:
            views = [v.contiguous(memory_format=torch.channels_last) for v in views]
        return views

    def train_step(self, images: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """One optimiser step on this rank's share of the global batch; returns the detached loss."""
        if self.world_size > 1:  # every rank sees the same global batch and takes its slice
            b = images.shape[0] // self.world_size
            sl = slice(self.rank * b, (self.rank + 1) * b)
            images, labels, indices = images[sl], labels[sl], indices[sl]
        views = self._views(images)
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            out = self.forward(views, labels, indices)
        loss = out["loss"]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.method.on_train_step_end(self.step, self.step / self.total_steps)
        return loss.detach()

    def fit(self, *, resume: bool = False, max_steps: int | None = None) -> History:
        """Train until ``cfg.epochs`` are done (or ``max_steps`` total steps, then save and stop).

        Args:
            resume: continue from ``out_dir/last.pt`` if it exists. Without it, the run's files
                in ``out_dir`` are replaced (what :func:`cssl_edu.notebook.pretrained` relies on);
                ``cssl-edu train`` refuses that unless ``--overwrite`` is given
                (see :func:`existing_run_files`).
            max_steps: stop after this many optimiser steps in total (a checkpoint is saved),
                as an interruption would; a later ``fit(resume=True)`` continues exactly.
        """
        if resume and self.last_checkpoint.exists():
            self.load(self.last_checkpoint)
        if self.rank == 0:
            try:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                remove_stale_temp_files(self.last_checkpoint)  # left by a write that was killed
                (self.out_dir / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
            except OSError as e:
                raise _write_error(self.out_dir, e) from e
        self.method.train()
        stop = min(self.total_steps, max_steps) if max_steps is not None else self.total_steps
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc=f"{self.cfg.method} {self.cfg.dataset}",
            disable=not self.progress,
            unit="step",
        )
        while self.step < stop:
            epoch, start = divmod(self.step, self.steps_per_epoch)
            self.method.current_epoch = epoch
            t0, losses = time.perf_counter(), []
            for images, labels, indices in self.loader.epoch(epoch, start_batch=start):
                losses.append(self.train_step(images, labels, indices))
                bar.update(1)
                if self.cfg.save_every_steps and self.step % self.cfg.save_every_steps == 0:
                    self._record_steps(losses)
                    losses = []
                    self.save()
                if self.step >= stop:
                    break
            self._record_steps(losses)
            if self.step % self.steps_per_epoch == 0:  # a whole epoch is done
                self._end_epoch(epoch, time.perf_counter() - t0, start)
            self.save()
        bar.close()
        return self.history

    def _record_steps(self, losses: list[torch.Tensor]) -> None:
        if not losses:
            return
        values = torch.stack(losses).float().cpu().tolist()
        if not all(math.isfinite(v) for v in values):
            raise FloatingPointError(
                f"the loss became NaN/inf near step {self.step}; lower the learning rate (--lr) or "
                "raise the temperature, and check the inputs."
            )
        self.history.step_loss.extend(values)

    def _end_epoch(self, epoch: int, seconds: float, start_batch: int) -> None:
        n = self.steps_per_epoch
        rec: dict[str, float] = {
            "epoch": epoch + 1,
            "step": self.step,
            "loss": sum(self.history.step_loss[-n:]) / n,
            "lr": self.scheduler.get_last_lr()[0],
            "seconds": seconds,
            "pairs_per_s": (n - start_batch) * self.cfg.batch_size / max(seconds, 1e-9),
        }
        last = epoch + 1 == self.cfg.epochs
        if self.cfg.knn_every and ((epoch + 1) % self.cfg.knn_every == 0 or last):
            rec["knn_acc"] = self.knn_monitor()
            self.method.train()
        self.history.epochs.append(rec)
        if self.rank == 0:
            self._write_log()

    def _write_log(self) -> None:
        try:
            self._write_log_files()
        except OSError as e:
            raise _write_error(self.out_dir, e) from e

    def _write_log_files(self) -> None:
        if self.cfg.log_format == "jsonl":
            lines = [json.dumps(r) for r in self.history.epochs]
            (self.out_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
        else:
            keys = sorted({k for r in self.history.epochs for k in r})
            with open(self.out_dir / "metrics.csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=keys)
                w.writeheader()
                w.writerows(self.history.epochs)


class RunWriteError(OSError):
    """A run's output (checkpoint, config, metrics) could not be written: read-only, full or missing folder."""


def _write_error(folder: Path, error: OSError) -> RunWriteError:
    reason = error.strerror or str(error)
    err = RunWriteError(
        f"cannot write the run's files to {folder} ({reason}); choose a writable --out-dir with free "
        "space (a checkpoint written before this is intact)."
    )
    err.errno = error.errno
    return err


def _plain(value: Any) -> Any:
    """``value`` as JSON would store it, so a tuple (0.5, 1.0) equals the list [0.5, 1.0] of a config.json."""
    return json.loads(json.dumps(value, default=str))


def backbone_from_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the trained backbone (encoder f) from a checkpoint; returns (backbone, state)."""
    state = load_checkpoint(path, map_location=map_location)
    require_keys(state, ("config", "method"), path, "rebuild its encoder")
    try:
        cfg = TrainConfig.from_dict(state["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} has no usable config: {e}") from e
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_model(cfg, state.get("dataset_size"), state.get("num_classes"))
    load_state_dict_strict(model, state["method"], what=f"{cfg.method}/{cfg.arch} model")
    return model.backbone, state
