"""Evaluation of frozen encoders: features, kNN, linear probes, embedding geometry."""

from cssl_edu.eval.features import extract_features
from cssl_edu.eval.finetune import finetune
from cssl_edu.eval.geometry import alignment, collapse_std, uniformity
from cssl_edu.eval.knn import knn_accuracy, knn_predict
from cssl_edu.eval.linear import balanced_subset, label_fraction_probe, linear_probe

__all__ = [
    "alignment",
    "balanced_subset",
    "collapse_std",
    "extract_features",
    "finetune",
    "knn_accuracy",
    "knn_predict",
    "label_fraction_probe",
    "linear_probe",
    "uniformity",
]
