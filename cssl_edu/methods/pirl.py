"""PIRL (Misra & van der Maaten 2020): representations invariant to a pretext transform, with NCE.

Pretext tasks such as jigsaw puzzles used to ask the network to *predict* the transform
(which permutation was applied), which makes the representation covary with it. PIRL asks
for the opposite: the representation of an image I and of its transformed version I^t must
be the same.

    I   ──f_θ──▶ v_I   ──f (linear)──▶ f(v_I)
    I^t ──jigsaw: G patches, each ──f_θ──▶ per-patch head ──▶ concatenated in a random order ──g──▶ g(v_{I^t})

A **memory bank** holds m_I, an exponential moving average of f(v_I) for every image of the
dataset D (``cssl_edu.methods.MemoryBank``). With s(·,·) the cosine similarity, N negatives
I' drawn uniformly from the bank and the NCE posterior

    h(u, v) = exp(s(u, v)/τ) / (exp(s(u, v)/τ) + N/|D|)

(NCE with uniform noise q = 1/|D| and k = N noise samples, see
:func:`cssl_edu.losses.nce_loss`), each term is

    L_NCE(m_I, v) = −log h(m_I, v) − Σ_{I'} log(1 − h(m_{I'}, v))

Read literally with p̃ = exp(s/τ), a random negative (s ≈ 0) has exp(s/τ) ≈ 1 against
N/|D| < 1 and counts as "data", so every one of the N noise terms is large. The model
density must be normalised over the dataset: p̃(I' | v) = exp(s/τ)/Z with Z ≈ |D| · E[exp(s/τ)],
which the memory-bank methods (Wu et al. 2018, and PIRL's released implementation) estimate
once, on the first batch, and then keep fixed — done here too (buffer ``log_z``). With it a
random negative scores ≈ 1/|D| and the loss starts near log(N + 1) + 1.

The loss is the λ-weighted pair of the paper (λ = 0.5):

    L = λ L_NCE(m_I, g(v_{I^t})) + (1 − λ) L_NCE(m_I, f(v_I))

The first term makes the jigsaw representation match the image's memory; the second keeps
f(v_I) close to its own memory (the memory bank's InstDisc loss). The bank is then updated,
m_I ← normalise(0.5 m_I + 0.5 f(v_I)).

``loss="infonce"`` replaces each L_NCE by InfoNCE over the same positive and negatives,

    L_InfoNCE(m_I, v) = −log [ exp(s(m_I, v)/τ) / (exp(s(m_I, v)/τ) + Σ_{I'} exp(s(m_{I'}, v)/τ)) ],

the other loss the PIRL authors' own implementation offers (VISSL's memory-bank loss takes
``nce`` or ``cross_entropy``). It needs no Z: the softmax normalises over the drawn
candidates at every step. On a small dataset that matters. The fixed Z is estimated while
the bank still holds random vectors; as training pulls the bank's entries together, random
negatives score far above 1/|D| under it, and the N noise terms grow without bound (on 4,096
Shapes images, λ = 0: the loss went from 10.7 to 139 in 10 epochs, and kNN stayed at the
random network's level).

Here the two branches see two independent augmentations of the image (as in the paper's
implementation, where the patches are augmented separately), and each jigsaw patch is a
random crop inside its grid cell, so the patches do not line up at their edges.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu._validation import as_indices
from cssl_edu.losses import info_nce
from cssl_edu.losses.nce import nce_loss
from cssl_edu.methods.base import Method, register
from cssl_edu.methods.memory_bank import MemoryBank
from cssl_edu.models.heads import ProjectionHead


def jigsaw(
    images: Tensor, grid: int = 3, patch_size: int | None = None, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Cut each image into grid × grid cells, take a random crop in each, and shuffle the patches.

    Args:
        images: (B, C, H, W) float images.
        grid: cells per side (PIRL: 3, i.e. 9 patches).
        patch_size: side of each patch, at most the cell side ⌊min(H, W)/grid⌋ (default: 80 % of it,
            so neighbouring patches do not share an edge).
        generator: source of the crop offsets and the permutations.

    Returns:
        ``(patches, order)``: patches (B, grid², C, p, p), ``patches[b, j]`` being the cell
        ``order[b, j]`` (cells numbered row by row); order (B, grid²) int64, a permutation per image.

    Example:
        >>> patches, order = jigsaw(torch.rand(4, 3, 32, 32), grid=3)
        >>> patches.shape, order.shape
        (torch.Size([4, 9, 3, 8, 8]), torch.Size([4, 9]))
    """
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise ValueError(
            "images must be a float tensor of shape (B, C, H, W), got "
            f"{tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__}."
        )
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
        raise ValueError(f"grid must be an int ≥ 1 (cells per side), got {grid!r}.")
    b, _, h, w = images.shape
    cell = min(h, w) // grid
    if cell < 1:
        raise ValueError(f"a {grid}×{grid} grid does not fit images of {h}×{w} pixels; use a smaller grid.")
    p = patch_size if patch_size is not None else max(1, round(0.8 * cell))
    if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= cell:
        raise ValueError(f"patch_size must be an int in [1, {cell}] (the cell side), got {patch_size!r}.")
    g = grid * grid
    dev = images.device
    gen_dev = generator.device if generator is not None else "cpu"
    offsets = torch.randint(cell - p + 1, (b, g, 2), generator=generator, device=gen_dev).to(dev)
    order = torch.argsort(torch.rand(b, g, generator=generator, device=gen_dev), dim=1).to(dev)
    cell_row, cell_col = order // grid, order % grid  # (B, G): the cell each output slot takes
    ar = torch.arange(p, device=dev)
    rows = (cell_row * cell + offsets[..., 0]).unsqueeze(-1) + ar  # (B, G, p)
    cols = (cell_col * cell + offsets[..., 1]).unsqueeze(-1) + ar  # (B, G, p)
    bidx = torch.arange(b, device=dev).view(b, 1, 1, 1)
    hwc = images.permute(0, 2, 3, 1)  # (B, H, W, C)
    patches = hwc[bidx, rows.unsqueeze(-1), cols.unsqueeze(-2)]  # (B, G, p, p, C)
    return patches.permute(0, 1, 4, 2, 3).contiguous(), order


class JigsawHead(nn.Module):
    """g: per-patch head (D → d), the G patch embeddings concatenated (in the given order) → d."""

    def __init__(self, in_dim: int, out_dim: int, n_patches: int, hidden_dim: int = 0) -> None:
        super().__init__()
        self.patch = (
            nn.Linear(in_dim, out_dim) if hidden_dim <= 0 else ProjectionHead(in_dim, hidden_dim, out_dim)
        )
        self.mix = nn.Linear(n_patches * out_dim, out_dim)
        self.n_patches = n_patches

    def forward(self, patch_features: Tensor) -> Tensor:
        """(B·G, D) features of the patches, image-major → (B, d)."""
        e = self.patch(patch_features)
        return self.mix(e.view(-1, self.n_patches * e.shape[-1]))


@register("pirl")
class PIRL(Method):
    """PIRL with a jigsaw transform and a memory bank.

    Args:
        backbone: the encoder f_θ.
        dataset_size: number of training images |D| (one bank row each; the trainer passes it).
        num_negatives: N negatives drawn from the bank per step (32,000 in the paper).
        lam: λ, the weight of the jigsaw term (0.5 in the paper).
        temperature: τ (0.07 in the paper; the trainer passes the run's).
        bank_momentum: the bank's EMA momentum (0.5).
        jigsaw_grid: cells per side (3 → 9 patches).
        jigsaw_patch: patch side in pixels (default 80 % of a cell).
        proj_out_dim: d of f(v_I) and g(v_{I^t}) (128).
        proj_hidden_dim: 0 for the paper's linear heads; > 0 for 2-layer MLP heads.
        loss: ``"nce"`` (the paper's NCE with a fixed normaliser Z) or ``"infonce"`` (a softmax
            over the positive and the N negatives, no Z).
    """

    n_views = 2  # the image I, and the image the jigsaw I^t is cut from (augmented independently)

    def __init__(
        self,
        backbone: nn.Module,
        *,
        dataset_size: int | None = None,
        num_negatives: int = 4096,
        lam: float = 0.5,
        temperature: float = 0.07,
        bank_momentum: float = 0.5,
        jigsaw_grid: int = 3,
        jigsaw_patch: int | None = None,
        proj_out_dim: int = 128,
        proj_hidden_dim: int = 0,
        loss: str = "nce",
    ) -> None:
        super().__init__(backbone)
        if loss not in ("nce", "infonce"):
            raise ValueError(f"loss must be 'nce' (the paper's) or 'infonce', got {loss!r}.")
        self.loss = loss
        if dataset_size is None:
            raise ValueError(
                "pirl needs dataset_size (the number of training images); the trainer passes it."
            )
        if not 0 <= lam <= 1:
            raise ValueError(f"lam (λ) must be in [0, 1], got {lam}.")
        if num_negatives < 1:
            raise ValueError(f"num_negatives must be ≥ 1, got {num_negatives}.")
        d = backbone.feature_dim
        self.head_f = (
            nn.Linear(d, proj_out_dim)
            if proj_hidden_dim <= 0
            else ProjectionHead(d, proj_hidden_dim, proj_out_dim)
        )
        self.head_g = JigsawHead(d, proj_out_dim, jigsaw_grid**2, proj_hidden_dim)
        self.memory = MemoryBank(dataset_size, proj_out_dim, bank_momentum)
        self.num_negatives, self.lam, self.temperature = num_negatives, float(lam), temperature
        self.jigsaw_grid, self.jigsaw_patch = jigsaw_grid, jigsaw_patch
        self.log_q = -math.log(dataset_size)  # uniform noise over the dataset
        self.log_dataset_size = math.log(dataset_size)
        #: log Z of the model density exp(s/τ)/Z, estimated on the first training batch (NaN until then)
        self.register_buffer("log_z", torch.tensor(float("nan")))

    def embed_image(self, x: Tensor) -> Tensor:
        """f(v_I), L2-normalised: (B, d)."""
        return F.normalize(self.head_f(self.backbone(x)), dim=1)

    def embed_jigsaw(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """g(v_{I^t}) of a jigsaw of ``x``, L2-normalised: (B, d)."""
        patches, _ = jigsaw(x, self.jigsaw_grid, self.jigsaw_patch, generator)
        feats = self.backbone(patches.flatten(0, 1))  # every patch through the encoder, one batch
        return F.normalize(self.head_g(feats), dim=1)

    def scores(self, positives: Tensor, v: Tensor, negatives: Tensor) -> tuple[Tensor, Tensor]:
        """s(m_I, v)/τ (B,) and s(m_I', v)/τ (B, N), before the normaliser."""
        t = self.temperature
        return (positives * v).sum(1) / t, v @ negatives.T / t

    @torch.no_grad()
    def estimate_log_z(self, data: Tensor, noise: Tensor) -> None:
        """log Z = log |D| + log mean exp(s/τ) over one batch's scores (InstDisc's Monte-Carlo estimate)."""
        all_scores = torch.cat([data.reshape(-1), noise.reshape(-1)]).float()
        mean_log = torch.logsumexp(all_scores, 0) - math.log(all_scores.numel())
        self.log_z.fill_(float(mean_log) + self.log_dataset_size)

    def nce_term(self, data: Tensor, noise: Tensor, mask: Tensor | None) -> Tensor:
        """L_NCE(m_I, v): NCE with scores s/τ − log Z, k = N negatives and q = 1/|D|."""
        log_z = self.log_z.to(data.dtype)
        return nce_loss(data - log_z, noise - log_z, self.log_q, self.log_q, noise_mask=mask)

    def forward(
        self, views: list[Tensor], labels: Tensor | None = None, indices: Tensor | None = None
    ) -> dict[str, Tensor]:
        self._check_views(views)
        if indices is None:
            raise ValueError("pirl needs the dataset indices of the batch (the trainer passes them).")
        indices = as_indices(
            indices, views[0].shape[0], self.memory.bank.shape[0], device=self.memory.bank.device
        )
        f_i = self.embed_image(views[0])
        g_t = self.embed_jigsaw(views[1])
        positives = self.memory.bank[indices].clone().to(f_i.dtype)
        negatives, mask = self.memory.sample(self.num_negatives, indices)
        negatives = negatives.to(f_i.dtype)
        if self.loss == "infonce":
            jig = info_nce(g_t, positives, negatives, self.temperature, negative_mask=mask)
            img = info_nce(f_i, positives, negatives, self.temperature, negative_mask=mask)
        else:
            jig_scores = self.scores(positives, g_t, negatives)
            img_scores = self.scores(positives, f_i, negatives)
            if bool(torch.isnan(self.log_z)):
                self.estimate_log_z(*img_scores)
            jig = self.nce_term(*jig_scores, mask)
            img = self.nce_term(*img_scores, mask)
        loss = self.lam * jig + (1 - self.lam) * img
        if self.training:
            self.memory.update(indices, f_i)
        return {"loss": loss, "nce_jigsaw": jig.detach(), "nce_image": img.detach()}
