"""What did the encoder learn? Invariance, dataset bias and representation diagnostics.

- :mod:`~cssl_edu.analysis.invariance`: scores on features (cosine, firing-based, category).
- :mod:`~cssl_edu.analysis.transforms`: the transformation family at a given strength, batched.
- :mod:`~cssl_edu.analysis.sweeps`: per-factor sweeps on Shapes, per-transformation scores,
  instance vs category invariance, encoder comparison tables.
- :mod:`~cssl_edu.analysis.training`: CPU-profile encoders through the Trainer (augmentation
  sets, supervised, random).
- :mod:`~cssl_edu.analysis.bias`: the colour-shortcut sweep and object- vs scene-centric data.
- :mod:`~cssl_edu.analysis.suppression`: feature suppression by an easy shared feature.
- :mod:`~cssl_edu.analysis.diagnostics`: similarity matrices, PCA and t-SNE, geometry over training.
- :mod:`~cssl_edu.analysis.doctor`: ``cssl-edu doctor`` — is a run learning, collapsed or diverged?
- :mod:`~cssl_edu.analysis.tables` and :mod:`~cssl_edu.analysis.plots`: markdown tables and figures.
"""

from cssl_edu.analysis.bias import (
    BIAS_METHODS,
    BIASES,
    object_scene_experiment,
    probe_accuracy,
    spurious_correlation_experiment,
)
from cssl_edu.analysis.diagnostics import (
    embed_2d,
    embedding_geometry,
    geometry_over_training,
    pca,
    similarity_matrix,
    sort_order,
    tsne,
)
from cssl_edu.analysis.doctor import Diagnosis, Finding, diagnose
from cssl_edu.analysis.invariance import (
    category_invariance,
    firing_invariance,
    invariance_score,
    topk_mask,
)
from cssl_edu.analysis.plots import plot_bias, plot_embedding, plot_geometry, plot_invariance, plot_rsm
from cssl_edu.analysis.suppression import (
    SharedBitsMethod,
    encode_with_bits,
    feature_suppression_experiment,
    paste_bits,
    random_codes,
)
from cssl_edu.analysis.sweeps import (
    SWEEP_FACTORS,
    compare_invariance,
    encode,
    factor_invariance,
    factor_values,
    instance_category_invariance,
    render_factor_sweep,
    sweep_scores,
    transform_invariance,
)
from cssl_edu.analysis.tables import markdown_table, pivot
from cssl_edu.analysis.training import (
    AUGMENTATIONS,
    TrainedEncoder,
    augment_kwargs,
    random_encoder,
    train_encoder,
)
from cssl_edu.analysis.transforms import TRANSFORMS, apply_transform

__all__ = [
    "AUGMENTATIONS",
    "BIASES",
    "BIAS_METHODS",
    "SWEEP_FACTORS",
    "TRANSFORMS",
    "Diagnosis",
    "Finding",
    "SharedBitsMethod",
    "TrainedEncoder",
    "apply_transform",
    "augment_kwargs",
    "category_invariance",
    "compare_invariance",
    "diagnose",
    "embed_2d",
    "embedding_geometry",
    "encode",
    "encode_with_bits",
    "factor_invariance",
    "factor_values",
    "feature_suppression_experiment",
    "firing_invariance",
    "geometry_over_training",
    "instance_category_invariance",
    "invariance_score",
    "markdown_table",
    "object_scene_experiment",
    "paste_bits",
    "pca",
    "pivot",
    "plot_bias",
    "plot_embedding",
    "plot_geometry",
    "plot_invariance",
    "plot_rsm",
    "probe_accuracy",
    "random_codes",
    "random_encoder",
    "render_factor_sweep",
    "similarity_matrix",
    "sort_order",
    "spurious_correlation_experiment",
    "sweep_scores",
    "topk_mask",
    "train_encoder",
    "transform_invariance",
    "tsne",
]
