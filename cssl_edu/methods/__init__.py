"""Self-supervised methods. Each registers itself by name for ``build_method`` and the CLI."""

from cssl_edu.methods.base import METHODS, Method, build_method, register
from cssl_edu.methods.byol import BYOL
from cssl_edu.methods.memory_bank import MemoryBank, MemoryBankMethod
from cssl_edu.methods.moco import MoCHi, MoCo
from cssl_edu.methods.momentum import cosine_momentum, make_target, momentum_update
from cssl_edu.methods.pirl import PIRL, jigsaw
from cssl_edu.methods.queue import KeyQueue
from cssl_edu.methods.simclr import SimCLR
from cssl_edu.methods.simsiam import SimSiam
from cssl_edu.methods.supcon import SupConMethod, Supervised
from cssl_edu.methods.swav import SwAV

__all__ = [
    "BYOL",
    "METHODS",
    "PIRL",
    "KeyQueue",
    "MemoryBank",
    "MemoryBankMethod",
    "Method",
    "MoCHi",
    "MoCo",
    "SimCLR",
    "SimSiam",
    "SupConMethod",
    "Supervised",
    "SwAV",
    "build_method",
    "cosine_momentum",
    "jigsaw",
    "make_target",
    "momentum_update",
    "register",
]
