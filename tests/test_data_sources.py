"""Tests of load_dataset without the network: fake datasets in torchvision's on-disk formats."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd
import torchvision.datasets.cifar as tv_cifar
import torchvision.datasets.stl10 as tv_stl10
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cssl_edu.data import (
    DatasetNotFoundError,
    ImageDataset,
    load_dataset,
    load_npz,
    make_shapes,
    random_subset,
    resize_images,
    validation_split,
)

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _fake_cifar_batch(
    n: int, seed: int, label_key: str, n_classes: int
) -> tuple[dict, np.ndarray, list[int]]:
    """A CIFAR batch dict: 'data' uint8 (n, 3072) in CHW-planar order, and labels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, n_classes, n).tolist()
    return {"data": images.reshape(n, 3072), label_key: labels}, images, labels


def write_fake_cifar10(root: Path, n_per_batch: int = 4) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Write cifar-10-batches-py/ under ``root``; return {split: (CHW images, labels)}."""
    folder = root / tvd.CIFAR10.base_folder
    train_x, train_y = [], []
    for i, (name, _) in enumerate(tvd.CIFAR10.train_list):
        batch, x, y = _fake_cifar_batch(n_per_batch, i, "labels", 10)
        _pickle(folder / name, batch)
        train_x.append(x)
        train_y += y
    batch, test_x, test_y = _fake_cifar_batch(n_per_batch, 99, "labels", 10)
    _pickle(folder / "test_batch", batch)
    _pickle(folder / "batches.meta", {"label_names": CIFAR10_NAMES})
    return {"train": (np.concatenate(train_x), train_y), "test": (test_x, test_y)}


@pytest.fixture
def cifar10_md5s(monkeypatch, tmp_path):
    """Point torchvision's CIFAR-10 checksums at the fake files (the real integrity check still runs)."""

    def apply(root: Path) -> None:
        folder = root / tvd.CIFAR10.base_folder
        monkeypatch.setattr(
            tvd.CIFAR10, "train_list", [[n, _md5(folder / n)] for n, _ in tvd.CIFAR10.train_list]
        )
        monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", _md5(folder / "test_batch")]])
        monkeypatch.setattr(tvd.CIFAR10, "meta", {**tvd.CIFAR10.meta, "md5": _md5(folder / "batches.meta")})

    return apply


def _network_forbidden(*args, **kwargs):
    raise AssertionError("the test tried to download")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", _network_forbidden)
    monkeypatch.setattr(tv_stl10, "download_and_extract_archive", _network_forbidden)


# ---------------------------------------------------------------------------- shapes
def test_load_shapes_default_sizes_and_options():
    train = load_dataset("shapes", split="train")
    test = load_dataset("shapes", split="test", n=300, bias=0.5, image_size=16)
    assert len(train) == 10_000 and train.images.shape[1:] == (3, 32, 32)
    assert len(load_dataset("shapes", split="test")) == 2_000
    assert test.images.shape == (300, 3, 16, 16) and test.factors is not None
    same = load_dataset("shapes", split="test", n=300, bias=0.5, image_size=16)
    assert torch.equal(test.images, same.images)
    with pytest.raises(ValueError, match="split"):
        load_dataset("shapes", split="unlabeled")


# ---------------------------------------------------------------------------- CIFAR
def test_cifar10_loads_pixels_labels_and_classes(tmp_path, cifar10_md5s):
    truth = write_fake_cifar10(tmp_path)
    cifar10_md5s(tmp_path)
    for split in ("train", "test"):
        ds = load_dataset("cifar10", root=tmp_path, split=split)
        x, y = truth[split]
        assert isinstance(ds, ImageDataset) and ds.name == "cifar10" and ds.classes == CIFAR10_NAMES
        assert ds.images.shape == (len(y), 3, 32, 32) and ds.images.is_contiguous()
        assert np.array_equal(ds.images.numpy(), x) and ds.labels.tolist() == y
    assert len(load_dataset("cifar10", root=tmp_path, split="train")) == 20


def test_cifar10_subset_and_resize(tmp_path, cifar10_md5s):
    truth = write_fake_cifar10(tmp_path)
    cifar10_md5s(tmp_path)
    ds = load_dataset("cifar10", root=tmp_path, n=7, seed=3, image_size=16)
    again = load_dataset("cifar10", root=tmp_path, n=7, seed=3, image_size=16)
    full = load_dataset("cifar10", root=tmp_path)
    assert ds.images.shape == (7, 3, 16, 16) and torch.equal(ds.images, again.images)
    # the subset is seeded, in original order, and its labels follow its images
    kept = [
        i
        for i in range(20)
        if any(torch.equal(resize_images(full.images[i : i + 1], 16)[0], im) for im in ds.images)
    ]
    assert len(kept) == 7 and ds.labels.tolist() == [truth["train"][1][i] for i in kept]
    assert not torch.equal(load_dataset("cifar10", root=tmp_path, n=7, seed=4).labels, full.labels[kept])


def test_missing_cifar_raises_a_clear_error(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar10", root=tmp_path / "nowhere")
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert "cifar10" in msg and str((tmp_path / "nowhere").resolve()) in msg
    assert "download=True" in msg and "--download" in msg


def test_corrupted_cifar_raises_the_same_error(tmp_path):
    write_fake_cifar10(tmp_path)  # real torchvision md5s: the fake files do not match them
    with pytest.raises(DatasetNotFoundError, match="corrupted"):
        load_dataset("cifar10", root=tmp_path)


def test_download_true_calls_torchvision_download_then_loads(tmp_path, monkeypatch, cifar10_md5s):
    # compute the fake files' checksums in a scratch folder, as if they were the published ones
    scratch = tmp_path / "scratch"
    write_fake_cifar10(scratch)
    cifar10_md5s(scratch)
    calls = []

    def fake_download(url, download_root, filename=None, md5=None, **kw):
        calls.append((url, Path(download_root), filename, md5))
        write_fake_cifar10(Path(download_root))

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", fake_download)
    root = tmp_path / "data"
    ds = load_dataset("cifar10", root=root, split="test", download=True)
    assert len(calls) == 1 and calls[0][0] == tvd.CIFAR10.url and calls[0][1] == root
    assert len(ds) == 4 and ds.classes == CIFAR10_NAMES
    load_dataset("cifar10", root=root, split="test", download=True)
    assert len(calls) == 1  # already there: no second download


def test_cifar100_uses_fine_labels(tmp_path, monkeypatch):
    folder = tmp_path / tvd.CIFAR100.base_folder
    names = [f"class{i}" for i in range(100)]
    train, x, y = _fake_cifar_batch(5, 0, "fine_labels", 100)
    test, _, _ = _fake_cifar_batch(3, 1, "fine_labels", 100)
    _pickle(folder / "train", train)
    _pickle(folder / "test", test)
    _pickle(folder / "meta", {"fine_label_names": names})
    monkeypatch.setattr(tvd.CIFAR100, "train_list", [["train", _md5(folder / "train")]])
    monkeypatch.setattr(tvd.CIFAR100, "test_list", [["test", _md5(folder / "test")]])
    monkeypatch.setattr(tvd.CIFAR100, "meta", {**tvd.CIFAR100.meta, "md5": _md5(folder / "meta")})
    ds = load_dataset("cifar100", root=tmp_path)
    assert np.array_equal(ds.images.numpy(), x) and ds.labels.tolist() == y and ds.classes == names
    assert len(load_dataset("cifar100", root=tmp_path, split="test")) == 3
    with pytest.raises(ValueError, match="split"):
        load_dataset("cifar100", root=tmp_path, split="unlabeled")


# ---------------------------------------------------------------------------- STL-10
def write_fake_stl10(root: Path, monkeypatch) -> dict[str, np.ndarray]:
    """stl10_binary/ with 3 train, 2 test and 4 unlabeled 96-px images, checksums patched."""
    folder = root / tvd.STL10.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 3), ("test", 2), ("unlabeled", 4)):
        x = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
        arrays[split] = x
        # the binary files store each channel column-major; torchvision transposes back
        np.ascontiguousarray(x.transpose(0, 1, 3, 2)).tofile(folder / f"{split}_X.bin")
    arrays["train_y"] = np.array([1, 10, 4], dtype=np.uint8)  # 1-based on disk
    arrays["test_y"] = np.array([2, 3], dtype=np.uint8)
    arrays["train_y"].tofile(folder / "train_y.bin")
    arrays["test_y"].tofile(folder / "test_y.bin")
    (folder / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    monkeypatch.setattr(tvd.STL10, "train_list", [[n, _md5(folder / n)] for n, _ in tvd.STL10.train_list])
    monkeypatch.setattr(tvd.STL10, "test_list", [[n, _md5(folder / n)] for n, _ in tvd.STL10.test_list])
    return arrays


def test_stl10_splits_and_unlabeled_labels(tmp_path, monkeypatch):
    arrays = write_fake_stl10(tmp_path, monkeypatch)
    train = load_dataset("stl10", root=tmp_path, split="train")
    assert train.images.shape == (3, 3, 96, 96) and np.array_equal(train.images.numpy(), arrays["train"])
    assert train.labels.tolist() == [0, 9, 3] and train.classes == [f"c{i}" for i in range(10)]
    test = load_dataset("stl10", root=tmp_path, split="test")
    assert np.array_equal(test.images.numpy(), arrays["test"]) and test.labels.tolist() == [1, 2]
    unl = load_dataset("stl10", root=tmp_path, split="unlabeled")
    assert len(unl) == 4 and (unl.labels == -1).all()
    both = load_dataset("stl10", root=tmp_path, split="train+unlabeled", image_size=32)
    assert both.images.shape == (7, 3, 32, 32) and both.labels.tolist() == [0, 9, 3, -1, -1, -1, -1]
    with pytest.raises(ValueError, match="split"):
        load_dataset("stl10", root=tmp_path, split="val")


def test_missing_stl10_raises_a_clear_error(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"'stl10'.*--download"):
        load_dataset("stl10", root=tmp_path, split="unlabeled")


# ---------------------------------------------------------------------------- folder
def _write_png(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_folder_loads_resized_images_with_class_labels(tmp_path):
    _write_png(tmp_path / "cats" / "a.png", (40, 30), (255, 0, 0))
    _write_png(tmp_path / "cats" / "b.png", (20, 20), (0, 255, 0))
    _write_png(tmp_path / "dogs" / "c.png", (64, 100), (0, 0, 255))
    ds = load_dataset("folder", root=tmp_path, image_size=16)
    assert ds.classes == ["cats", "dogs"] and ds.labels.tolist() == [0, 0, 1]
    assert ds.images.shape == (3, 3, 16, 16) and ds.images.dtype == torch.uint8
    assert ds.images[0, :, 8, 8].tolist() == [255, 0, 0] and ds.images[2, :, 8, 8].tolist() == [0, 0, 255]
    assert load_dataset("folder", root=tmp_path).images.shape[-1] == 32  # default size


def test_folder_uses_the_split_subfolder_when_there_is_one(tmp_path):
    _write_png(tmp_path / "train" / "x" / "1.png", (8, 8), (1, 2, 3))
    _write_png(tmp_path / "test" / "x" / "1.png", (8, 8), (4, 5, 6))
    _write_png(tmp_path / "test" / "y" / "1.png", (8, 8), (7, 8, 9))
    assert len(load_dataset("folder", root=tmp_path, split="train")) == 1
    test = load_dataset("folder", root=tmp_path, split="test", image_size=8)
    assert test.classes == ["x", "y"] and test.images[1, :, 0, 0].tolist() == [7, 8, 9]


def test_folder_missing_or_empty(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="class sub-folders"):
        load_dataset("folder", root=tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="class sub-folders"):
        load_dataset("folder", root=tmp_path / "empty")


# ---------------------------------------------------------------------------- npz
def test_npz_with_splits_and_plain_arrays(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    path = tmp_path / "mine.npz"
    np.savez(
        path, train_images=train, train_labels=np.array([0, 1, 2, 1, 0]), classes=np.array(["a", "b", "c"])
    )
    ds = load_dataset("npz", root=path)
    assert ds.images.shape == (5, 3, 8, 8) and torch.equal(
        ds.images, torch.from_numpy(train).permute(0, 3, 1, 2)
    )
    assert ds.classes == ["a", "b", "c"] and ds.labels.dtype == torch.int64
    with pytest.raises(ValueError, match="test_images"):
        load_dataset("npz", root=path, split="test")
    plain = tmp_path / "plain.npz"
    np.savez(plain, images=train.transpose(0, 3, 1, 2), labels=np.array([1, 0, 0, 0, 0], dtype=np.int32))
    ds2 = load_npz(plain, "all")  # plain arrays: "all" is every image ("train"/"test" a hold-out split)
    assert torch.equal(ds2.images, ds.images) and ds2.classes == ["0", "1"]
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=train.astype(np.float32), labels=np.zeros(5))
    with pytest.raises(ValueError, match="uint8"):
        load_npz(bad)
    with pytest.raises(DatasetNotFoundError, match=r"absent\.npz"):
        load_dataset("npz", root=tmp_path / "absent.npz")


def test_npz_real_cifar10_subset(cifar_subset_path):
    train = load_dataset("npz", root=cifar_subset_path, split="train")
    test = load_dataset("npz", root=cifar_subset_path, split="test", n=100, seed=1)
    assert train.images.shape == (5170, 3, 32, 32) and len(test) == 100
    assert train.classes == CIFAR10_NAMES and set(train.labels.unique().tolist()) == set(range(10))
    assert 0.4 < train.mean[0] < 0.55 and 0.2 < train.std[2] < 0.3  # natural-image statistics
    raw = np.load(cifar_subset_path)["train_images"][:2]
    assert np.array_equal(train.images[:2].permute(0, 2, 3, 1).numpy(), raw)


# ---------------------------------------------------------------------------- helpers, bad input
def test_resize_and_random_subset_helpers():
    flat = torch.full((3, 3, 20, 20), 77, dtype=torch.uint8)
    assert torch.equal(resize_images(flat, 8), torch.full((3, 3, 8, 8), 77, dtype=torch.uint8))
    assert resize_images(flat, 20) is flat
    ds = ImageDataset(flat, torch.tensor([0, 1, 2]), ["a", "b", "c"])
    sub = random_subset(ds, 2, seed=0)
    assert len(sub) == 2 and sub.labels.tolist() == sorted(sub.labels.tolist())
    with pytest.raises(ValueError, match="only 3"):
        random_subset(ds, 4)


@given(
    counts=st.lists(st.integers(0, 40), min_size=1, max_size=5),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 10),
)
@settings(max_examples=40, deadline=None)
def test_validation_split_is_stratified_disjoint_and_covers_the_training_split(counts, fraction, seed):
    labels = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])[torch.randperm(sum(counts))]
    if not any(int(c * fraction) for c in counts):
        return  # too few images to hold any out: the error case, tested below
    images = (
        torch.arange(len(labels), dtype=torch.int64).view(-1, 1, 1, 1).expand(-1, 3, 2, 2).to(torch.uint8)
    )
    ds = ImageDataset(images.clone(), labels, [str(k) for k in range(len(counts))])
    ds.factors = {"index": torch.arange(len(labels))}
    fit, val = validation_split(ds, fraction, seed=seed)
    got = sorted(fit.factors["index"].tolist() + val.factors["index"].tolist())
    assert got == list(range(len(labels))), "fit and val are disjoint and cover the split"
    for k, c in enumerate(counts):  # ⌊n_c · fraction⌋ of each class in val
        assert int((val.labels == k).sum()) == int(c * fraction), (k, c, fraction)
    assert fit.factors["index"].tolist() == sorted(fit.factors["index"].tolist()), "the order is kept"
    again = validation_split(ds, fraction, seed=seed)[1]
    assert torch.equal(again.factors["index"], val.factors["index"]), "the same split on every call"


def test_validation_split_depends_on_the_seed_and_refuses_bad_input():
    ds = make_shapes(200, seed=0)
    a, b = validation_split(ds, 0.2, seed=0)[1], validation_split(ds, 0.2, seed=1)[1]
    assert len(a) == len(b) > 0 and not torch.equal(a.images, b.images)
    for bad in (0, 1, 1.5, -0.1, "0.1", True):
        with pytest.raises(ValueError, match="fraction must be a number in"):
            validation_split(ds, bad)
    with pytest.raises(ValueError, match="seed must be"):
        validation_split(ds, 0.1, seed=-1)
    tiny = ImageDataset(torch.zeros(3, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 2]), ["a", "b", "c"])
    with pytest.raises(ValueError, match="too few for a validation share"):
        validation_split(tiny, 0.1)


@pytest.mark.parametrize(
    ("args", "kw", "match"),
    [
        (("imagenet",), {}, "unknown dataset"),
        (("shapes",), {"n": 0}, "n must"),
        (("shapes",), {"image_size": 4}, "image_size"),
        (("cifar10",), {"split": "val"}, "split"),
        (("cifar10",), {"bias": 0.5}, "unexpected option"),
        (("shapes",), {"seed": -2}, "seed"),
        (("shapes",), {"colour_bias": 0.5}, "unexpected option"),
    ],
)
def test_load_dataset_rejects_bad_arguments(tmp_path, args, kw, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(*args, root=tmp_path, **kw)
