"""Helpers the course notebooks share: set-up, pre-load cells, timing, image grids.

A notebook starts with::

    from cssl_edu.notebook import setup, pretrained, timer, show_images
    env = setup()            # seeds, device, profile (cpu on a laptop/CI, gpu on CUDA), a summary table

and a section that needs a trained encoder uses a **pre-load cell**::

    trainer = pretrained("simclr-shapes", method="simclr", epochs=env.scale(15, 200))

which loads ``checkpoints/simclr-shapes-<profile>.pt`` when it exists and trains (then saves)
otherwise, so each section can run on its own.

A figure with controls (sliders, drop-downs) is one call::

    w = interactive_figure(plot_margin, margin=widgets.FloatSlider(value=1.0, min=0.1, max=2.5))

which shows ONE output: the live figure with its controls in JupyterLab, and a PNG of the
first drawing wherever no widget front end runs (nbval, ``cssl-edu course html``, GitHub).

A sentence that states a measured result is checked by the run that measures it (see
:mod:`cssl_edu.claims`, re-exported here)::

    claim_beyond_noise(acc_trained, acc_random_seeds, "the trained encoder beats random init")
"""

from __future__ import annotations

import base64
import functools
import io
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cssl_edu.claims import (  # noqa: F401 - re-exported: lessons check their sentences with these
    ClaimError,
    claim,
    claim_accuracy_beyond_noise,
    claim_between,
    claim_beyond_noise,
    claim_greater,
    claim_within_noise,
    compare,
    mcnemar,
)
from cssl_edu.config import default_profile, make_config


@dataclass(frozen=True)
class NotebookEnv:
    """What a notebook needs to know about where it runs."""

    profile: str  # "cpu" or "gpu"
    device: torch.device
    seed: int
    ci: bool  # running under CI / nbval

    @property
    def quick(self) -> bool:
        """True in the CPU profile: notebooks use their small settings."""
        return self.profile == "cpu"

    def scale(self, cpu: Any, gpu: Any) -> Any:
        """Pick the CPU-profile or the GPU-profile value of a setting."""
        return cpu if self.quick else gpu


def _in_ci() -> bool:
    return bool(os.environ.get("CI")) or "PYTEST_CURRENT_TEST" in os.environ


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds the legacy global RNG that user code may use
    torch.manual_seed(seed)


def cpu_threads(cores: int | None = None, load: float | None = None) -> int:
    """Threads for CPU work: ``$CSSL_EDU_THREADS`` if set, else up to 4 cores, halved on a busy machine.

    PyTorch's CPU kernels spin-wait on their worker threads, so when other processes already
    keep the cores busy (1-minute load average ``load`` ≥ ``cores - 0.5``) a notebook asking
    for every core runs several times *slower* than with half of them (measured on a shared
    2-core machine: 150 vs 470 SimCLR pairs/s). ``cores`` and ``load`` default to the machine's.
    """
    env = os.environ.get("CSSL_EDU_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"CSSL_EDU_THREADS must be a positive integer, got {env!r}.")
        return int(env)
    n = max(1, min(4, cores if cores is not None else os.cpu_count() or 1))
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # pragma: no cover - Windows has no load average
            load = 0.0
    return n if load < n - 0.5 else max(1, n // 2)


def setup(seed: int = 0, *, verbose: bool = True) -> NotebookEnv:
    """Seed everything, pick the profile and device, set plotting defaults, print a summary."""
    seed_everything(seed)
    profile = default_profile()
    device = torch.device("cuda" if profile == "gpu" and torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads())
    try:
        import matplotlib.pyplot as plt

        plt.rcParams.update(
            {"figure.dpi": 90, "axes.grid": True, "grid.alpha": 0.3, "figure.figsize": (6, 4)}
        )
    except ImportError:  # pragma: no cover
        pass
    env = NotebookEnv(profile=profile, device=device, seed=seed, ci=_in_ci())
    if verbose:
        from cssl_edu import __version__

        name = (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"CPU ({torch.get_num_threads()} threads)"
        )
        print(f"cssl-edu {__version__} | torch {torch.__version__} | device: {name} | profile: {profile}")
    return env


@contextmanager
def timer(label: str = "took") -> Iterator[None]:
    """``with timer("training"):`` prints the wall time of the block."""
    t0 = time.perf_counter()
    yield
    print(f"{label}: {time.perf_counter() - t0:.1f} s")


def checkpoint_dir() -> Path:
    """Where pre-load cells keep checkpoints: ``$CSSL_EDU_CHECKPOINTS`` or ``./checkpoints``."""
    return Path(os.environ.get("CSSL_EDU_CHECKPOINTS", "checkpoints"))


def pretrained(
    name: str,
    *,
    profile: str | None = None,
    retrain: bool = False,
    progress: bool = True,
    train_set: Any = None,
    wrap: Any = None,
    **overrides: Any,
):
    """Pre-load cell: return a :class:`~cssl_edu.train.Trainer` whose model is trained.

    In order, the first that applies:

    1. the :mod:`cssl_edu.zoo` entry trained with the same settings (in the ``cpu`` profile;
       ``name`` alone, without overrides, picks the zoo recipe of that name, e.g.
       ``pretrained("moco-shapes")``) — encoders trained to a fixed CPU budget by ``cssl-edu zoo build``;
    2. ``checkpoint_dir()/<name>-<profile>/last.pt`` if it holds a finished run with the same
       settings;
    3. otherwise trains with ``make_config(profile, **overrides)`` (which saves there).

    Args:
        name: a label for the run, e.g. ``"simclr-shapes"``. With ``train_set`` the name must
            also identify the data (e.g. ``"bias-p0.99"``): the checkpoint records the settings,
            not the images.
        profile: ``cpu``/``gpu`` (default: the one found).
        retrain: ignore an existing checkpoint.
        train_set: an :class:`~cssl_edu.data.ImageDataset` to train on instead of the one
            ``dataset`` names (e.g. biased or scene-centric Shapes); ``n_train`` defaults to its size.
        wrap: a function ``Method -> Method`` applied to the freshly built model (e.g. to add an
            input transformation), before training or loading.
        **overrides: TrainConfig fields (method, dataset, epochs, …).
    """
    from cssl_edu.train import CheckpointError, Trainer, build_model

    profile = profile or default_profile()
    out = checkpoint_dir() / f"{name}-{profile}"
    if wrap is not None and train_set is None:
        raise ValueError(
            "pretrained(wrap=...) needs train_set=...: the wrapped model is built for those images."
        )
    if train_set is not None:
        overrides.setdefault("n_train", len(train_set))
    if not retrain and train_set is None and wrap is None and profile == "cpu":
        from cssl_edu import zoo

        if not overrides and name in zoo.RECIPES:
            cfg = zoo.recipe_config(name, out_dir=str(out))
        else:
            cfg = make_config(profile, out_dir=str(out), **overrides)
        entry = zoo.matching_entry(cfg)
        if entry is not None:
            return _trainer_from_zoo(entry, cfg, progress)
    cfg = make_config(profile, out_dir=str(out), **overrides)

    def new_trainer() -> Trainer:
        method = None
        if wrap is not None:
            torch.manual_seed(cfg.seed)  # the same initialisation as the Trainer's own build
            method = wrap(build_model(cfg, len(train_set), max(1, len(train_set.classes))))
        return Trainer(cfg, method=method, train_set=train_set, progress=progress)

    trainer = new_trainer()
    resume = not retrain
    if resume and trainer.last_checkpoint.exists():
        try:
            trainer.load(trainer.last_checkpoint)
        except CheckpointError as e:  # another run's settings: train afresh (and overwrite it)
            print(f"ignoring {trainer.last_checkpoint}: {e}")
            trainer, resume = new_trainer(), False
        else:
            if trainer.step >= trainer.total_steps:
                print(f"loaded {trainer.last_checkpoint} ({trainer.step} steps)")
                return trainer
    with timer(f"trained {name}"):
        trainer.fit(resume=resume)
    return trainer


def _trainer_from_zoo(entry: str, cfg: Any, progress: bool):
    """A Trainer for ``cfg`` whose model holds the zoo entry's weights and whose history is the card's."""
    from cssl_edu import zoo
    from cssl_edu.train import History, Trainer

    card = zoo.card(entry)
    trainer = Trainer(cfg, progress=progress)
    zoo.restore_state(trainer.method, zoo.stored_weights(entry), what=f"zoo entry {entry!r}")
    trainer.step = trainer.total_steps
    hist = card.get("history", {})
    trainer.history = History(list(hist.get("step_loss", [])), list(hist.get("epochs", [])))
    base = card["random_init"]["knn_acc"]
    print(
        f"loaded zoo entry {entry}: kNN {100 * card['knn_acc']:.1f} % (random init {100 * base['mean']:.1f} "
        f"± {100 * base['sd']:.1f} %), {card['epochs']} epochs, {card['train_seconds'] / 60:.1f} min of training "
        f"(`{card['command']}`)"
    )
    return trainer


def show_images(
    images: Tensor, nrow: int = 8, title: str | None = None, ax: Any = None, labels: list[str] | None = None
):
    """Show a grid of images: uint8 (N, 3, H, W), or float (N, 3, H, W) in [0, 1]."""
    import matplotlib.pyplot as plt
    import torchvision

    x = images.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255
    grid = torchvision.utils.make_grid(x.clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(12, 1.3 * nrow), 1.3 * ((len(x) + nrow - 1) // nrow) + 0.4))
    ax.imshow(grid.permute(1, 2, 0).numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if labels is not None:
        ax.set_xlabel(", ".join(labels))
    return ax


def denormalize(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """Undo per-channel normalisation of (N, 3, H, W) float images, for display."""
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x * s + m).clamp(0, 1)


# ---------------------------------------------------------------------- data, tables, embeddings
#: where the course's real CIFAR-10 subset lives on the project's machines, relative to the
#: folder a notebook runs in (``notebooks/``) and to the repository root
CIFAR_SUBSET_CANDIDATES: tuple[str, ...] = (
    "../../shared/data/cifar10-subset.npz",
    "../shared/data/cifar10-subset.npz",
)


def find_cifar_subset(*candidates: str | os.PathLike[str]) -> Path | None:
    """Path of the real CIFAR-10 subset (``cifar10-subset.npz``), or ``None`` when it is absent.

    Looks at ``$CSSL_EDU_CIFAR_NPZ`` first (and ``$CSSL_EDU_CIFAR_SUBSET``, the tests' name),
    then at ``candidates`` (default :data:`CIFAR_SUBSET_CANDIDATES`, relative to the working
    directory). Notebooks skip their real-image cells when this returns ``None``.
    """
    paths: list[str | os.PathLike[str]] = [
        v for k in ("CSSL_EDU_CIFAR_NPZ", "CSSL_EDU_CIFAR_SUBSET") if (v := os.environ.get(k))
    ]
    paths += list(candidates or CIFAR_SUBSET_CANDIDATES)
    for p in paths:
        path = Path(p).expanduser()
        if path.is_file():
            return path.resolve()
    return None


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None, floatfmt: str = ".1f") -> str:
    """A Markdown table of ``rows`` (dicts), floats formatted with ``floatfmt``.

    Args:
        rows: one dict per row; missing keys print as empty cells.
        columns: the keys to show, in order (default: the keys of the first row, then any new ones).
        floatfmt: format spec of float cells.

    Returns:
        the table as a string (print it, or ``IPython.display.Markdown`` it).
    """
    if not rows:
        raise ValueError("format_table needs at least one row (a list of dicts).")
    if columns is None:
        columns = []
        for r in rows:
            columns += [k for k in r if k not in columns]

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return format(v, floatfmt)
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def pca_2d(x: Tensor) -> Tensor:
    """Project (N, D) features onto their first two principal components: (N, 2) float32.

    Centred, computed with an SVD in float64; each component's sign is fixed so that its
    largest-magnitude loading is positive, so the picture does not flip between runs.
    """
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"pca_2d needs a (N, D) tensor with N >= 2, got {getattr(x, 'shape', type(x))}.")
    xc = x.detach().cpu().double()
    xc = xc - xc.mean(0, keepdim=True)
    _, _, vh = torch.linalg.svd(xc, full_matrices=False)
    comps = vh[:2]
    if comps.shape[0] < 2:  # D == 1: pad with a zero component
        comps = torch.cat([comps, torch.zeros_like(comps)])
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True))).clamp(min=0) * 2 - 1
    return (xc @ (comps * signs).T).float()


def plot_embedding_2d(
    features: Tensor,
    labels: Tensor,
    classes: list[str] | None = None,
    ax: Any = None,
    title: str | None = None,
    max_points: int = 2000,
):
    """Scatter the first two principal components of ``features`` (N, D), coloured by ``labels`` (N,)."""
    import matplotlib.pyplot as plt

    if labels.shape[0] != features.shape[0]:
        raise ValueError(f"{features.shape[0]} features but {labels.shape[0]} labels; they must match.")
    f, y = features[:max_points], labels[:max_points].cpu()
    xy = pca_2d(f)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    for c in torch.unique(y).tolist():
        m = y == c
        name = classes[c] if classes is not None and 0 <= c < len(classes) else str(c)
        ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.6, label=name)
    ax.set(xlabel="principal component 1", ylabel="principal component 2")
    if title:
        ax.set_title(title)
    ax.legend(markerscale=3, fontsize=7, loc="best")
    return ax


def nearest_neighbours(query: Tensor, bank: Tensor, k: int = 8, *, exclude: Tensor | None = None) -> Tensor:
    """Indices (M, k) of the ``k`` most cosine-similar rows of ``bank`` (N, D) for each query (M, D).

    ``exclude``: optional int64 (M,) bank index to leave out per query (the query itself when
    the queries come from the bank).
    """
    if query.dim() != 2 or bank.dim() != 2 or query.shape[1] != bank.shape[1]:
        raise ValueError(
            f"query (M, D) and bank (N, D) must be 2-D with the same D, got {tuple(query.shape)} and {tuple(bank.shape)}."
        )
    k_eff = k + (exclude is not None)
    if not 1 <= k <= bank.shape[0] - (exclude is not None):
        raise ValueError(f"k must be in [1, {bank.shape[0] - (exclude is not None)}], got {k}.")
    sim = (
        torch.nn.functional.normalize(query.float(), dim=1)
        @ torch.nn.functional.normalize(bank.float(), dim=1).T
    )
    if exclude is not None:
        sim[torch.arange(len(query)), exclude.to(sim.device)] = float("-inf")
    return sim.topk(k_eff, dim=1).indices[:, :k]


def show_retrieval(
    query_images: Tensor,
    bank_images: Tensor,
    neighbours: Tensor,
    *,
    correct: Tensor | None = None,
    title: str | None = None,
):
    """A grid: each row is a query image followed by its retrieved neighbours.

    Args:
        query_images: uint8 (M, 3, H, W).
        bank_images: uint8 (N, 3, H, W).
        neighbours: int64 (M, k) indices into ``bank_images`` (e.g. from :func:`nearest_neighbours`).
        correct: optional bool (M, k): neighbours with the query's label get a green frame, others red.
        title: figure title.
    """
    import matplotlib.pyplot as plt

    m, k = neighbours.shape
    fig, axes = plt.subplots(m, k + 1, figsize=(1.1 * (k + 1), 1.15 * m + 0.4), squeeze=False)
    for i in range(m):
        row = [query_images[i], *bank_images[neighbours[i].cpu()]]
        for j, img in enumerate(row):
            a = axes[i, j]
            a.imshow(img.detach().cpu().permute(1, 2, 0).numpy())
            a.set_xticks([])
            a.set_yticks([])
            if j == 0:
                a.set_ylabel(f"query {i}", fontsize=7)
            elif correct is not None:
                colour = "tab:green" if bool(correct[i, j - 1]) else "tab:red"
                for s in a.spines.values():
                    s.set_edgecolor(colour)
                    s.set_linewidth(2.5)
    axes[0, 0].set_title("query", fontsize=8)
    for j in range(1, k + 1):
        axes[0, j].set_title(f"#{j}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- figures with controls
#: the MIME type under which Jupyter front ends look up a live widget
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def _b64(png: bytes | str) -> str:
    return png if isinstance(png, str) else base64.b64encode(png).decode("ascii")


def _draw_capturing(fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> tuple[list, Callable]:
    """Call ``fn(*args, **kwargs)``, capturing what it prints and shows.

    Returns ``(figures, show)``: the figures as ``(base64 PNG, PNG metadata)`` pairs, in order,
    and a function that shows everything captured (text and figures) where it is called.
    Figures shown by the inline backend (``plt.show()`` in a kernel) are taken from the captured
    displays; figures ``fn`` leaves open (another backend, or no ``plt.show()``) are rendered
    to PNG and closed.
    """
    import matplotlib.pyplot as plt
    from IPython import get_ipython
    from IPython.utils.capture import RichOutput, capture_output

    before = set(plt.get_fignums())
    with capture_output(display=True) as captured:
        fn(*args, **kwargs)
        if get_ipython() is not None:  # what ipywidgets' interact does after the call, inside the capture
            from ipywidgets.widgets.interaction import show_inline_matplotlib_plots

            show_inline_matplotlib_plots()
    outputs = captured.outputs
    for num in sorted(set(plt.get_fignums()) - before):
        fig = plt.figure(num)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        plt.close(fig)
        outputs.append(RichOutput(data={"image/png": _b64(buf.getvalue()), "text/plain": repr(fig)}))
    figures = [
        (_b64(o.data["image/png"]), dict((o.metadata or {}).get("image/png", {}) or {}))
        for o in outputs
        if "image/png" in o.data
    ]

    def show() -> None:  # CapturedIO.show(), with the figures rendered here added
        sys.stdout.write(captured.stdout)
        sys.stderr.write(captured.stderr)
        if get_ipython() is not None:
            from IPython.display import display

            for o in outputs:
                display(o.data, raw=True, metadata=o.metadata or None)

    return figures, show


def interactive_figure(fn: Callable[..., Any], /, **controls: Any):
    """Show ``fn``'s figure with controls as ONE output; return the ``ipywidgets.interactive``.

    ``fn(**values)`` draws one matplotlib figure (ending with ``plt.show()`` or not); ``controls``
    are what ``ipywidgets.interactive`` takes (sliders, drop-downs, ``widgets.fixed``, or
    abbreviations such as ``(0.0, 1.0)``). The output is a single display whose MIME bundle holds

    - ``application/vnd.jupyter.widget-view+json``: the live widget, which JupyterLab, Notebook 7,
      VS Code and Colab render (controls and a figure that redraws when a control moves);
    - ``image/png``: the figure at the controls' initial values, which front ends without
      widgets show instead (nbval runs, ``cssl-edu course html``, GitHub's notebook viewer);
    - ``text/plain``: a one-line description.

    so every front end shows exactly one figure, the richest it can. ``fn`` is called once to
    build it (the drawing inside the widget and the PNG are the same call), then once per change.

    Assign the result (``w = interactive_figure(...)``): a bare call as a cell's last line would
    display the widget a second time.

    Raises:
        ValueError: the first call of ``fn`` drew no figure, or more than one (draw all panels
            into one figure with ``plt.subplots``).
        Exception: whatever the first call of ``fn`` raised (later calls, from moving a control,
            show their traceback under the figure instead).
    """
    import ipywidgets
    from IPython.display import display

    first: dict[str, Any] = {}

    @functools.wraps(fn)  # keeps fn's signature: interactive reads its defaults and annotations
    def draw(*args: Any, **kwargs: Any) -> None:
        if first:  # a control moved: draw into the widget's output area, as interact does
            _draw_capturing(fn, args, kwargs)[1]()
            return
        try:
            figures, show = _draw_capturing(fn, args, kwargs)
        except Exception as e:  # raised again below, once, instead of shown inside the widget
            first["error"] = e
            return
        first["figures"] = figures
        show()

    widget = ipywidgets.interactive(draw, **controls)
    if "error" in first:
        raise first["error"]
    figures = first.get("figures", [])
    if len(figures) != 1:
        raise ValueError(
            f"interactive_figure: {getattr(fn, '__name__', 'fn')}(...) drew {len(figures)} figures at the "
            "controls' initial values; it must draw exactly one (put several panels in one figure "
            "with plt.subplots)."
        )
    png, png_meta = figures[0]
    values = ", ".join(f"{k}={v!r}" for k, v in widget.kwargs.items())
    bundle = {
        WIDGET_VIEW_MIME: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id},
        "image/png": png,
        "text/plain": f"<figure of {getattr(fn, '__name__', 'fn')}({values}); "
        "run the notebook in Jupyter to move its controls>",
    }
    display(bundle, raw=True, metadata={"image/png": png_meta} if png_meta else None)
    return widget
