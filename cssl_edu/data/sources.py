"""``load_dataset``: every dataset of the course, as an in-memory :class:`ImageDataset`.

=========== ===================================================== ==============================
name        what                                                  splits
=========== ===================================================== ==============================
shapes      generated on the fly (:func:`make_shapes`), no files  train, test, val
cifar10     ``torchvision.datasets.CIFAR10`` under ``root``       train, test
cifar100    ``torchvision.datasets.CIFAR100`` under ``root``      train, test
stl10       ``torchvision.datasets.STL10`` under ``root`` (96 px) train, test, unlabeled,
                                                                  train+unlabeled
folder      ``torchvision.datasets.ImageFolder`` at ``root``      ``root/<split>`` if it exists,
                                                                  else a fixed 80/20 split
npz         a ``.npz`` file at ``root`` (see :func:`load_npz`)    whatever the file holds, else
                                                                  a fixed 80/20 split
=========== ===================================================== ==============================

A source without named splits (a flat image folder, an ``.npz`` with plain ``images`` /
``labels``) is never used as both the training and the test set: ``train`` and ``test`` are
a fixed, class-stratified 80/20 split of it (:func:`holdout_split`, with a warning that says
so), and ``split="all"`` gives every image. Class ids are the same in every split of a
source: an image folder numbers its classes by name over all its split folders.

Downloads only happen when asked (``download=True`` here, ``--download`` on the command line);
missing files raise :class:`DatasetNotFoundError`, which says where the loader looked and how
to get the data.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import check_positive_int
from cssl_edu.data.dataset import ImageDataset
from cssl_edu.data.shapes import make_shapes

#: names accepted by :func:`load_dataset`
DATASETS: tuple[str, ...] = ("shapes", "cifar10", "cifar100", "stl10", "folder", "npz")
#: Shapes images per split when ``n`` is not given
SHAPES_DEFAULT_N: dict[str, int] = {"train": 10_000, "test": 2_000, "val": 2_000}
#: STL-10's classes, used when ``class_names.txt`` is missing
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are not where the loader looked; the message says how to get them."""


def _not_found(
    name: str, root: Path, looked_for: str, *, downloadable: bool = True, extra: str = ""
) -> DatasetNotFoundError:
    how = (
        f"Download it with load_dataset({name!r}, root={str(root)!r}, download=True) in Python, or add "
        f"--download to the cssl-edu command line; or pass root= the directory that already holds it."
        if downloadable
        else extra
    )
    return DatasetNotFoundError(
        f"dataset {name!r} not found: looked for {looked_for} in {root.resolve()}. {how}"
    )


def _download_failed(name: str, root: Path, error: OSError) -> DatasetNotFoundError:
    reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
    return DatasetNotFoundError(
        f"dataset {name!r} could not be downloaded into {root.resolve()} ({type(error).__name__}: {reason}). "
        "Check the network connection (and any proxy) and the free disk space, or fetch the files on "
        f"another machine and copy them into {root}."
    )


def resize_images(images: Tensor, size: int, *, chunk: int = 1024) -> Tensor:
    """Resize uint8 ``(N, 3, H, W)`` images to ``(N, 3, size, size)`` (bilinear, antialiased).

    Works in chunks of ``chunk`` images so that the float copy stays small; returns the input
    unchanged when it already has the size.
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"image_size must be a positive int, got {size!r}.")
    chunk = check_positive_int(chunk, "chunk")
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], 3, size, size), dtype=torch.uint8, device=images.device)
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + chunk] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def random_subset(ds: ImageDataset, n: int, seed: int = 0) -> ImageDataset:
    """``n`` images chosen uniformly without replacement (seeded), kept in their original order."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (number of images), got {n!r}.")
    if n > len(ds):
        raise ValueError(
            f"n={n} images were asked for, but {ds.name or 'the dataset'} has only {len(ds)} in this split; "
            "pass a smaller n, or n=None for all of them."
        )
    if n == len(ds):
        return ds
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:n].sort().values
    return ds.subset(idx)


def _check_split(name: str, split: str, allowed: tuple[str, ...]) -> None:
    if split not in allowed:
        raise ValueError(f"split {split!r} does not exist for {name!r}; choose one of {allowed}.")


def _no_kwargs(name: str, kw: dict[str, Any], allowed: tuple[str, ...] = ()) -> None:
    unknown = set(kw) - set(allowed)
    if unknown:
        hint = f" (it accepts {sorted(allowed)})" if allowed else ""
        raise ValueError(f"unexpected option(s) {sorted(unknown)} for dataset {name!r}{hint}.")


#: the share of a split-less source held out as its ``test`` split (per class, rounded down)
HOLDOUT_FRACTION = 0.2


def _stratified_holdout(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """bool (N,): ⌊n_c · fraction⌋ images of each class c (−1 counts as a class) chosen with ``seed``."""
    n = len(labels)
    y = labels.cpu() + 1  # 0 = unlabeled
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=g)
    order = order[torch.argsort(y[order], stable=True)]  # grouped by class, random within it
    counts = torch.bincount(y, minlength=1)
    first = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.int64)
    rank[order] = torch.arange(n) - first[y[order]]  # position of each image within its class
    return rank < (counts[y].double() * fraction).floor().long()


def validation_split(
    ds: ImageDataset, fraction: float = 0.1, seed: int = 0
) -> tuple[ImageDataset, ImageDataset]:
    """Carve a validation split out of a *training* split: ``(fit, val)``, class-stratified.

    Of each class's n_c images, ⌊n_c · fraction⌋ chosen at random with ``seed`` go to ``val`` and
    the rest to ``fit``; the two are disjoint, cover ``ds`` and keep its order. Choose every
    setting (a recipe, an epoch, ``k`` and ``τ`` of a kNN) by its score on ``val`` and train on
    ``fit``: the test split then stays untouched until the one number you report.

    Raises:
        ValueError: ``fraction`` is not in (0, 1), or no class has enough images to give ``val`` one.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ValueError(
            f"fraction must be a number in (0, 1), the share held out for validation; got {fraction!r}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    is_val = _stratified_holdout(ds.labels, float(fraction), seed)
    if not bool(is_val.any()):
        raise ValueError(
            f"{ds.name or 'the dataset'} has {len(ds)} images: too few for a validation share of {fraction:g} "
            f"(a class needs ≥ {math.ceil(1 / fraction)} images to give one); raise fraction or add images."
        )
    mask = is_val.to(ds.labels.device)
    return ds.subset(~mask), ds.subset(mask)


def holdout_split(ds: ImageDataset, split: str, source: str, seed: int = 0) -> ImageDataset:
    """``split`` of a source that has no named splits: a fixed, class-stratified hold-out.

    Of each class's n_c images (unlabeled ones count as one more class), ⌊n_c / 5⌋ chosen at
    random with ``seed`` form ``test`` and the rest ``train``; ``all`` is every image. The two
    are disjoint and the same on every call. A warning says that the split was made.
    """
    _check_split(source, split, ("train", "test", "all"))
    if split == "all":
        return ds
    n = len(ds)
    is_test = _stratified_holdout(ds.labels, HOLDOUT_FRACTION, seed)
    n_test = int(is_test.sum())
    if split == "test" and n_test == 0:
        raise ValueError(
            f"{source} has no train/test split and too few images to hold one out (a class needs ≥ "
            f"{round(1 / HOLDOUT_FRACTION)} images to give one to 'test'); add images, or give it its own splits."
        )
    warnings.warn(
        f"{source} has no train/test split, so it is split here: {n - n_test} images for 'train' and "
        f"{n_test} held out for 'test' (a fixed {1 - HOLDOUT_FRACTION:.0%}/{HOLDOUT_FRACTION:.0%} "
        "split per class, seed 0). Use split='all' for every image, or give the source its own splits.",
        UserWarning,
        stacklevel=3,
    )
    return ds.subset(is_test if split == "test" else ~is_test)


# ---------------------------------------------------------------------- loaders by name
def _load_shapes(
    root: Path, split: str, *, n: int | None, image_size: int | None, seed: int, download: bool, **kw: Any
) -> ImageDataset:
    del root, download  # generated, nothing to read or fetch
    _check_split("shapes", split, tuple(SHAPES_DEFAULT_N))
    options = set(inspect.signature(make_shapes).parameters) - {"n", "image_size", "seed", "split"}
    _no_kwargs("shapes", kw, tuple(sorted(options)))
    count = SHAPES_DEFAULT_N[split] if n is None else n
    return make_shapes(count, image_size=image_size or 32, seed=seed, split=split, **kw)


def _torchvision_cifar(name: str) -> Callable[..., ImageDataset]:
    def load(root: Path, split: str, *, download: bool, **kw: Any) -> ImageDataset:
        import torchvision.datasets as tvd

        _check_split(name, split, ("train", "test"))
        _no_kwargs(name, kw)
        cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
        if not download and not (root / cls.base_folder).is_dir():
            raise _not_found(name, root, f"the folder '{cls.base_folder}'")
        try:
            tv = cls(str(root), train=split == "train", download=download)
        except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
            raise _not_found(name, root, f"complete, uncorrupted files in '{cls.base_folder}' ({e})") from e
        except OSError as e:  # no network (URLError), a proxy, a full disk, ...
            if not download:
                raise
            raise _download_failed(name, root, e) from e
        images = torch.from_numpy(np.ascontiguousarray(tv.data)).permute(0, 3, 1, 2).contiguous()
        labels = torch.as_tensor(tv.targets, dtype=torch.int64)
        return ImageDataset(images, labels, list(tv.classes), name=name)

    return load


def _load_stl10(
    root: Path, split: str, *, download: bool, folds: int | None = None, **kw: Any
) -> ImageDataset:
    import torchvision.datasets as tvd

    _check_split("stl10", split, tuple(tvd.STL10.splits))
    _no_kwargs("stl10", kw)
    if not download and not (root / tvd.STL10.base_folder).is_dir():
        raise _not_found("stl10", root, f"the folder '{tvd.STL10.base_folder}'")
    try:
        tv = tvd.STL10(str(root), split=split, folds=folds, download=download)
    except RuntimeError as e:
        raise _not_found(
            "stl10", root, f"complete, uncorrupted files in '{tvd.STL10.base_folder}' ({e})"
        ) from e
    except OSError as e:
        if not download:
            raise
        raise _download_failed("stl10", root, e) from e
    images = torch.from_numpy(np.ascontiguousarray(tv.data))  # already (N, 3, 96, 96)
    labels = torch.as_tensor(np.asarray(tv.labels), dtype=torch.int64)
    classes = list(getattr(tv, "classes", None) or STL10_CLASSES)
    return ImageDataset(images, labels, classes, name="stl10")


#: folder names treated as splits of an image folder (``root/<split>/<class>/...``)
FOLDER_SPLITS: tuple[str, ...] = ("train", "test", "val", "valid", "validation", "unlabeled")


def _load_folder(root: Path, split: str, *, image_size: int | None, **kw: Any) -> ImageDataset:
    """Every image under ``root[/split]/<class>/`` (torchvision ``ImageFolder`` layout).

    Each image is resized so its shorter side is ``image_size`` and centre-cropped to a square
    (default 32 px), then held in memory as uint8. Class ids are assigned by class-folder name
    over all split folders of ``root`` (train, test, val, ...), so ``cat`` has the same id in
    every split even when one split lacks a class. Without split folders, ``train``/``test`` are
    a fixed hold-out split (:func:`holdout_split`).
    """
    import torchvision.datasets as tvd
    from PIL import Image, ImageOps

    _no_kwargs("folder", kw)
    layout = "class sub-folders with images (root/<class>/<image>.png, or root/<split>/<class>/...)"
    if not root.is_dir():
        raise _not_found("folder", root, "a directory", downloadable=False, extra=f"Create it with {layout}.")
    has_splits = (root / split).is_dir()
    folder = root / split if has_splits else root
    try:
        tv = tvd.ImageFolder(str(folder))
    except FileNotFoundError as e:  # no class folders, or no images in them
        raise _not_found("folder", folder, layout, downloadable=False, extra=f"({e})") from e
    classes = list(tv.classes)
    if has_splits:  # one class index for all splits, by name
        names = set(classes)
        for other in {split, *FOLDER_SPLITS}:
            if (root / other).is_dir() and other != split:
                names |= {
                    d.name for d in (root / other).iterdir() if d.is_dir() and not d.name.startswith(".")
                }
        classes = sorted(names)
    index = {c: i for i, c in enumerate(classes)}
    size = image_size or 32
    images = np.empty((len(tv.samples), size, size, 3), dtype=np.uint8)
    for i, (path, _) in enumerate(tv.samples):  # file decoding is per image by nature
        try:
            with Image.open(path) as im:
                images[i] = np.asarray(
                    ImageOps.fit(im.convert("RGB"), (size, size), Image.Resampling.BICUBIC)
                )
        except Exception as e:  # unreadable, truncated or not an image: PIL's errors name no file
            raise ValueError(
                f"cannot read the image {path} ({type(e).__name__}: {e}); it is corrupt, truncated or not "
                "an image. Replace or delete the file."
            ) from e
    labels = torch.tensor([index[tv.classes[t]] for _, t in tv.samples], dtype=torch.int64)
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    ds = ImageDataset(tensor, labels, classes, name=f"folder:{folder.name}")
    if has_splits:
        return ds
    return holdout_split(ds, split, f"the image folder {root}")


def load_npz(path: str | Path, split: str = "train") -> ImageDataset:
    """Load images from a ``.npz`` file.

    The file holds ``{split}_images`` uint8 ``(N, H, W, 3)`` (HWC; ``(N, 3, H, W)`` is accepted
    too) and ``{split}_labels`` int ``(N,)``, or plain ``images`` / ``labels`` when it has no
    splits; optionally ``classes`` (str ``(C,)``). This is the format of the course's
    ``cifar10-subset.npz``.

    Labels are integer class ids in ``[0, C)`` (``-1`` = unlabeled), with one index for all
    splits: C is ``len(classes)``, or, without ``classes``, the number of distinct labels in
    the whole file — so its labels must then be exactly ``0 … C−1``. They are checked before
    anything is allocated. A file with plain ``images`` / ``labels`` is split into a fixed
    80/20 ``train`` / ``test`` hold-out (:func:`holdout_split`, with a warning); ``all`` is
    every image.
    """
    path = Path(path)
    if not path.is_file():
        raise _not_found(
            "npz",
            path.parent,
            f"the file '{path.name}'",
            downloadable=False,
            extra="Pass root= the path of an .npz file with {split}_images (N,H,W,3) uint8 and {split}_labels.",
        )
    with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        if f"{split}_images" in keys:
            img_key, lab_key, plain = f"{split}_images", f"{split}_labels", False
        elif "images" in keys:
            img_key, lab_key, plain = "images", "labels", True
        else:
            raise ValueError(
                f"{path.name} has no '{split}_images' (nor plain 'images') array; it holds {sorted(keys)}. "
                "Choose a split that exists."
            )
        if lab_key not in keys:
            raise ValueError(f"{path.name} has '{img_key}' but no '{lab_key}'; add the labels array.")
        arr, lab = z[img_key], z[lab_key]
        classes = [str(c) for c in z["classes"]] if "classes" in keys else None
        all_labels = [z[k] for k in sorted(keys) if k == "labels" or k.endswith("_labels")]
    if arr.dtype != np.uint8 or arr.ndim != 4 or 3 not in (arr.shape[1], arr.shape[3]):
        raise ValueError(
            f"'{img_key}' in {path.name} must be uint8 (N, H, W, 3), got {arr.dtype} {arr.shape}."
        )
    if lab.size != arr.shape[0] or lab.ndim > 2:
        raise ValueError(
            f"'{lab_key}' in {path.name} must hold one label per image, shape ({arr.shape[0]},), got {lab.shape}."
        )
    n_classes = _check_npz_labels(path.name, all_labels, classes)
    images = torch.from_numpy(arr)
    if arr.shape[3] == 3:  # HWC (the documented format); otherwise it is already CHW
        images = images.permute(0, 3, 1, 2)
    labels = torch.from_numpy(np.asarray(lab).astype(np.int64)).reshape(-1)
    if classes is None:
        classes = [str(c) for c in range(n_classes)]
    ds = ImageDataset(images.contiguous(), labels, classes, name=f"npz:{path.stem}")
    if plain:
        return holdout_split(ds, split, f"{path.name} (plain 'images'/'labels')")
    return ds


def _check_npz_labels(name: str, arrays: list[np.ndarray], classes: list[str] | None) -> int:
    """Check every label array of an ``.npz``; return C, the number of classes (one index for all splits)."""
    for a in arrays:
        if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(
                f"the labels in {name} must be integer class ids, got dtype {a.dtype} "
                "(float labels would be truncated); store them with labels.astype(np.int64)."
            )
    flat = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0, dtype=np.int64)
    if flat.size and int(flat.min()) < -1:
        raise ValueError(f"the labels in {name} must be ≥ 0 (or −1 for unlabeled), found {int(flat.min())}.")
    distinct = np.unique(flat[flat >= 0])
    if classes is not None:
        c = len(classes)
        if distinct.size and int(distinct[-1]) >= c:
            raise ValueError(
                f"a label in {name} is {int(distinct[-1])}, but its 'classes' array names only {c} classes "
                f"(ids 0..{c - 1}); fix the labels or the class names."
            )
        return c
    c = int(distinct.size)
    if c and int(distinct[-1]) != c - 1:
        raise ValueError(
            f"the labels in {name} must be the class ids 0..{c - 1} of its {c} distinct labels (one index "
            f"for all its splits), but one of them is {int(distinct[-1])}. Renumber the labels, or add a "
            "'classes' array of names that they index."
        )
    return c


def _load_npz(root: Path, split: str, **kw: Any) -> ImageDataset:
    kw.pop("download", None)
    _no_kwargs("npz", kw)
    return load_npz(root, split)


_LOADERS: dict[str, Callable[..., ImageDataset]] = {
    "cifar10": _torchvision_cifar("cifar10"),
    "cifar100": _torchvision_cifar("cifar100"),
    "stl10": _load_stl10,
    "folder": _load_folder,
    "npz": _load_npz,
}


def load_dataset(
    name: str,
    root: str | Path = "data",
    split: str = "train",
    *,
    download: bool = False,
    image_size: int | None = None,
    n: int | None = None,
    seed: int = 0,
    **kw: Any,
) -> ImageDataset:
    """Load a dataset split into memory as uint8 ``(N, 3, H, W)`` images with int64 labels.

    Args:
        name: one of :data:`DATASETS`.
        root: data directory (torchvision datasets, ``folder``), or the ``.npz`` file (``npz``);
            unused by ``shapes``.
        split: e.g. ``"train"`` / ``"test"``; STL-10 also has ``"unlabeled"`` and
            ``"train+unlabeled"`` (labels ``-1``).
        download: fetch a missing torchvision dataset into ``root`` (``cifar10``, ``cifar100``,
            ``stl10``); without it a missing dataset raises :class:`DatasetNotFoundError`.
        image_size: resize to this side (antialiased) when it differs; ``shapes`` renders at
            this size directly (default 32), ``folder`` loads at it (default 32).
        n: keep a seeded random subset of ``n`` images (``shapes``: generate ``n``, default
            10,000 train / 2,000 test).
        seed: seed of the subset (and of the Shapes generator).
        **kw: dataset options: ``shapes`` takes :func:`make_shapes`'s (``bias``, ``scene``,
            ``backgrounds``, ...), ``stl10`` takes ``folds``.

    Returns:
        An :class:`ImageDataset` on the CPU.

    Example:
        >>> train = load_dataset("shapes", split="train", n=1000, bias=0.9)
        >>> len(train), train.classes[:3]
        (1000, ['circle', 'square', 'triangle'])
    """
    if not isinstance(name, str) or name.lower() not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}.")
    name = name.lower()
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int or None (all images), got {n!r}.")
    if image_size is not None and (not isinstance(image_size, int) or image_size < 8):
        raise ValueError(
            f"image_size must be an int >= 8 or None (keep the native size), got {image_size!r}."
        )
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    root = Path(root).expanduser()
    if name == "shapes":
        return _load_shapes(root, split, n=n, image_size=image_size, seed=seed, download=download, **kw)
    if name == "folder":
        ds = _LOADERS[name](root, split, image_size=image_size, **kw)
    else:
        ds = _LOADERS[name](root, split, download=download, **kw)
    if n is not None:
        ds = random_subset(ds, n, seed)
    if image_size is not None and ds.images.shape[-2:] != (image_size, image_size):
        ds = ImageDataset(resize_images(ds.images, image_size), ds.labels, ds.classes, ds.factors, ds.name)
    return ds
