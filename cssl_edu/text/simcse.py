"""Unsupervised SimCSE: dropout noise as the augmentation (Gao, Yao & Chen 2021, arXiv:2104.08821).

Pass the same batch of N sentences through an encoder with dropout **twice**: the two dropout
masks differ, so the outputs z1, z2 ∈ R^{N×d} are two "views" of each sentence. With cosine
similarities s_ij = z1_i·z2_j / (‖z1_i‖‖z2_j‖), sentence i's positive is column i and the
other N − 1 columns are its in-batch negatives:

    L = −(1/N) Σ_i log [ exp(s_ii/τ) / Σ_j exp(s_ij/τ) ]  =  cross_entropy(S/τ, [0, 1, …, N−1])

**Relation to the other losses.** This is the *one-directional* InfoNCE: only z1's rows are
anchors and only z2's rows are candidates. It equals
``info_nce(z1, z2, negatives=z2, negative_mask=eye(N))`` (each key is masked out of its own
query's shared negatives). SimCLR's :func:`cssl_edu.losses.nt_xent` differs in two ways: both
views serve as anchors (the loss is symmetric), and each anchor's candidates also include the
N − 1 other rows of its *own* view (2N − 2 negatives instead of N − 1). The paper uses τ = 0.05.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu._validation import (
    as_indices,
    check_finite,
    check_matrix,
    check_module,
    check_positive_int,
    check_same_device,
    check_same_shape,
    check_temperature,
    check_token_ids,
    common_float_dtype,
    l2_normalize,
)


def simcse_loss(z1: Tensor, z2: Tensor, temperature: float = 0.05) -> Tensor:
    """Unsupervised SimCSE loss (one-directional InfoNCE with in-batch negatives).

    Args:
        z1: (N, d) embeddings from the first forward pass (any scale; normalised here).
        z2: (N, d) embeddings of the same sentences from the second pass (another dropout mask).
        temperature: τ > 0 (SimCSE: 0.05).

    Returns:
        a scalar tensor; its chance level (all similarities equal) is log N.
    """
    check_matrix(z1, "z1")
    check_matrix(z2, "z2")
    check_same_shape(z1, z2, "z1", "z2")
    if z1.shape[0] < 2:
        raise ValueError(
            f"simcse_loss needs N >= 2 sentences so each has an in-batch negative, got N = {z1.shape[0]}."
        )
    t = check_temperature(temperature)
    check_same_device(("z1", z1), ("z2", z2))
    check_finite(z1, "z1")
    check_finite(z2, "z2")
    dtype = common_float_dtype(z1, z2)  # mixed float dtypes: the common one, as nt_xent
    logits = l2_normalize(z1.to(dtype)) @ l2_normalize(z2.to(dtype)).T / t  # (N, N)
    return F.cross_entropy(
        logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits,
        torch.arange(z1.shape[0], device=z1.device),
    )


class SentenceEncoder(nn.Module):
    """A tiny sentence encoder: word embeddings → dropout → masked mean over words → MLP.

    ``tokens`` (B, L) int64 padded with ``pad_id`` → (B, out_dim). Dropout (on the word
    embeddings and inside the MLP) is the only source of noise SimCSE needs: in ``train()`` mode
    two calls on the same batch give two different views; in ``eval()`` mode the output is
    deterministic.
    """

    def __init__(
        self, vocab_size: int, dim: int = 64, out_dim: int = 64, dropout: float = 0.1, pad_id: int = 0
    ) -> None:
        super().__init__()
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.pad_id = pad_id
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, out_dim))

    def forward(self, tokens: Tensor) -> Tensor:
        """``tokens``: integer (B, L) word ids in [0, vocab_size) → (B, out_dim) float32."""
        tokens = check_token_ids(tokens, "tokens", self.embed.num_embeddings)
        mask = (tokens != self.pad_id).unsqueeze(-1).float()  # (B, L, 1)
        h = self.drop(self.embed(tokens)) * mask  # (B, L, dim)
        pooled = h.sum(1) / mask.sum(1).clamp(min=1.0)  # mean over the real words
        return self.mlp(pooled)


def train_simcse(
    encoder: nn.Module,
    tokens: Tensor,
    *,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 3e-3,
    temperature: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Train ``encoder`` in place with unsupervised SimCSE on ``tokens`` (S, L); returns step losses.

    Each step encodes one shuffled batch twice in ``train()`` mode (two dropout masks) and takes
    an Adam step on :func:`simcse_loss`. Seeds the global torch RNG with ``seed`` (dropout).
    ``encoder`` is an ``nn.Module``, ``tokens`` an int64 (S, L) tensor.
    """
    check_positive_int(epochs, "epochs")
    check_module(encoder, "encoder")
    if not isinstance(tokens, Tensor) or tokens.dim() != 2:
        raise ValueError(f"tokens must be an int64 (S, L) tensor of word ids, got {type(tokens).__name__}.")
    from cssl_edu.text.pairs import train_pairs  # pairs.py imports simcse_loss from here

    # the two "views" are the same sentences: the encoder's two calls draw two dropout masks
    return train_pairs(
        encoder,
        lambda idx: (tokens[idx], tokens[idx]),
        tokens.shape[0],
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        temperature=temperature,
        seed=seed,
        progress=progress,
        desc="SimCSE",
    )


@torch.no_grad()
def encode(encoder: nn.Module, tokens: Tensor, batch_size: int = 1024) -> Tensor:
    """Embeddings (S, d) of ``tokens`` (S, L) integer word ids in ``eval()`` mode (no dropout), on the CPU."""
    check_module(encoder, "encoder")
    if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.shape[0] < 1:
        raise ValueError(
            f"tokens must be a (S, L) tensor of word ids with S ≥ 1, got "
            f"{tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__}."
        )
    batch_size = check_positive_int(batch_size, "batch_size")
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = torch.cat(
        [encoder(tokens[i : i + batch_size].to(device)).cpu() for i in range(0, len(tokens), batch_size)]
    )
    encoder.train(was_training)
    return out


def bag_of_words(tokens: Tensor, vocab_size: int, pad_id: int = 0) -> Tensor:
    """Word-count vectors float (S, V): entry (s, w) counts word w in sentence s (padding left out).

    ``tokens``: integer (S, L) ids in [0, vocab_size); ``vocab_size`` ≥ 1; ``pad_id`` in [0, vocab_size).
    """
    vocab_size = check_positive_int(vocab_size, "vocab_size")
    tokens = check_token_ids(tokens, "tokens", vocab_size)
    if not 0 <= int(pad_id) < vocab_size:
        raise ValueError(f"pad_id must be a word id in [0, {vocab_size}), got {pad_id!r}.")
    counts = torch.zeros(tokens.shape[0], vocab_size, dtype=torch.float32)
    counts.scatter_add_(1, tokens.cpu(), torch.ones(tokens.shape, dtype=torch.float32))
    counts[:, pad_id] = 0.0
    return counts


def paraphrase_retrieval(embeddings: Tensor, partner: Tensor) -> dict[str, float]:
    """Find each sentence's paraphrase among all the others by cosine similarity.

    Args:
        embeddings: (S, d) finite sentence embeddings.
        partner: int64 (S,): the index of each sentence's paraphrase.

    Returns:
        ``recall@1`` (share of sentences whose nearest other sentence is the paraphrase, in %),
        ``recall@5`` (in %) and ``mrr`` (mean of 1 / rank of the paraphrase, in [0, 1]). Ties are
        counted pessimistically (the paraphrase ranks after every candidate it ties with).
    """
    check_matrix(embeddings, "embeddings", min_rows=2)
    check_finite(embeddings, "embeddings")
    if isinstance(partner, Tensor) and partner.shape != (embeddings.shape[0],):
        raise ValueError(f"partner must have shape ({embeddings.shape[0]},), got {tuple(partner.shape)}.")
    partner = as_indices(partner, embeddings.shape[0], embeddings.shape[0], "partner")
    z = F.normalize(embeddings.detach().double(), dim=1)
    sims = z @ z.T
    sims.fill_diagonal_(float("-inf"))
    target = sims.gather(1, partner.view(-1, 1).to(sims.device))  # (S, 1)
    rank = (sims >= target).sum(1)  # 1 = the paraphrase is the nearest
    return {
        "recall@1": 100 * float((rank == 1).double().mean()),
        "recall@5": 100 * float((rank <= 5).double().mean()),
        "mrr": float((1.0 / rank.double()).mean()),
    }
