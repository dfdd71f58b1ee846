"""Data: the built-in Shapes dataset, real datasets, multi-view datasets and a device-resident loader.

Everything is an :class:`ImageDataset` (uint8 ``(N, 3, H, W)`` images, int64 labels, class
names, optional per-image factors); see ``docs/design.md`` for the contract.
"""

from cssl_edu.data.dataset import ImageDataset
from cssl_edu.data.render import BACKGROUNDS, SHAPE_CLASSES, hsv_to_rgb, render_shapes
from cssl_edu.data.sdf import SHAPE_SDFS
from cssl_edu.data.shapes import (
    SCENES,
    bias_subsets,
    hue_band_aligned,
    make_shapes,
    rerender,
    sample_shape_factors,
    split_generator,
)
from cssl_edu.data.sources import (
    DATASETS,
    DatasetNotFoundError,
    load_dataset,
    load_npz,
    random_subset,
    resize_images,
    validation_split,
)
from cssl_edu.data.views import DeviceLoader, MultiViewDataset

__all__ = [
    "BACKGROUNDS",
    "DATASETS",
    "SCENES",
    "SHAPE_CLASSES",
    "SHAPE_SDFS",
    "DatasetNotFoundError",
    "DeviceLoader",
    "ImageDataset",
    "MultiViewDataset",
    "bias_subsets",
    "hsv_to_rgb",
    "hue_band_aligned",
    "load_dataset",
    "load_npz",
    "make_shapes",
    "random_subset",
    "render_shapes",
    "rerender",
    "resize_images",
    "sample_shape_factors",
    "split_generator",
    "validation_split",
]
