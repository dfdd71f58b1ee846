"""Contrastive losses: a functional core and a small ``nn.Module`` for each, one file per loss."""

from cssl_edu.losses.debiased import DebiasedNTXent, debiased_nt_xent
from cssl_edu.losses.info_nce import InfoNCE, info_nce
from cssl_edu.losses.mochi import mix_hard_negatives
from cssl_edu.losses.nce import nce_loss, negative_sampling_loss
from cssl_edu.losses.nt_xent import NTXent, nt_xent
from cssl_edu.losses.nt_xent_chunked import nt_xent_chunked
from cssl_edu.losses.supcon import SupCon, supcon
from cssl_edu.losses.swav import SwAVLoss, sinkhorn, swav_loss
from cssl_edu.losses.triplet import MarginContrastiveLoss, TripletLoss, margin_contrastive_loss, triplet_loss

__all__ = [
    "DebiasedNTXent",
    "InfoNCE",
    "MarginContrastiveLoss",
    "NTXent",
    "SupCon",
    "SwAVLoss",
    "TripletLoss",
    "debiased_nt_xent",
    "info_nce",
    "margin_contrastive_loss",
    "mix_hard_negatives",
    "nce_loss",
    "negative_sampling_loss",
    "nt_xent",
    "nt_xent_chunked",
    "sinkhorn",
    "supcon",
    "swav_loss",
    "triplet_loss",
]
