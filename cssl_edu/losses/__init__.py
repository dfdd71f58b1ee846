"""Contrastive losses: a functional core and a small ``nn.Module`` for each, one file per loss."""

from cssl_edu.losses.debiased import DebiasedNTXent, debiased_nt_xent
from cssl_edu.losses.info_nce import InfoNCE, info_nce
from cssl_edu.losses.mochi import mix_hard_negatives
from cssl_edu.losses.nt_xent import NTXent, nt_xent
from cssl_edu.losses.nt_xent_chunked import nt_xent_chunked
from cssl_edu.losses.supcon import SupCon, supcon
from cssl_edu.losses.triplet import MarginContrastiveLoss, TripletLoss, margin_contrastive_loss, triplet_loss

__all__ = [
    "DebiasedNTXent",
    "InfoNCE",
    "MarginContrastiveLoss",
    "NTXent",
    "SupCon",
    "TripletLoss",
    "debiased_nt_xent",
    "info_nce",
    "margin_contrastive_loss",
    "mix_hard_negatives",
    "nt_xent",
    "nt_xent_chunked",
    "supcon",
    "triplet_loss",
]
