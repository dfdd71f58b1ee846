"""CERT-style sentence augmentation, offline: synonyms, swaps and deletions from the corpus itself.

CERT (Fang et al. 2020, arXiv:2005.12766) makes the two views of a sentence by
**back-translation** (English → German → English) and trains a MoCo-style contrastive loss on
them. Back-translation needs translation models and a network connection; this module is the
**offline stand-in** the course uses instead: cheap token edits in the spirit of EDA (Wei &
Zou 2019, arXiv:1901.11196) that, like a round trip through another language, change the words
but keep the meaning —

- **synonym replacement**: each word that has a synonym in the generated corpus (every verb has
  one: ``runs``/``sprints``) is replaced by it with probability ``p_synonym``;
- **swap**: with probability ``p_swap`` a sentence swaps two neighbouring words;
- **deletion**: each word is dropped with probability ``p_delete`` (at least one word is kept).

Two independent augmentations of a sentence are a positive pair; the other sentences of the
batch are negatives (:func:`train_pairs` with :func:`cssl_edu.text.simcse_loss`). Unlike
SimCSE's dropout, these views differ in their *words*, so an encoder trained on them can learn
that two different words mean the same — which no amount of dropout teaches.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cssl_edu._validation import check_module, check_positive_int
from cssl_edu.text.corpus import GROUPS, Vocab
from cssl_edu.text.pairs import train_pairs


def synonym_table(vocab: Vocab) -> Tensor:
    """int64 (V,): the id of each word's synonym in the generated corpus, or the word's own id.

    ``vocab`` is a :class:`Vocab` (e.g. :func:`build_vocab`).
    """
    if not isinstance(vocab, Vocab):
        raise ValueError(f"vocab must be a Vocab (e.g. build_vocab()), got {type(vocab).__name__}.")
    table = torch.arange(len(vocab))
    for _, _, verbs, _ in GROUPS.values():
        for a, b in verbs:
            ia, ib = vocab.index[a], vocab.index[b]
            table[ia], table[ib] = ib, ia
    return table


def augment_tokens(
    tokens: Tensor,
    lengths: Tensor,
    synonyms: Tensor,
    *,
    p_synonym: float = 0.5,
    p_swap: float = 0.3,
    p_delete: float = 0.1,
    pad_id: int = 0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """One random augmentation of every sentence: synonyms, then a swap, then deletions.

    Args:
        tokens: int64 (S, L) padded sentences (padding ``pad_id`` after the words).
        lengths: int64 (S,) words per sentence (≥ 1).
        synonyms: int64 (V,) from :func:`synonym_table`.
        p_synonym, p_swap, p_delete: the probabilities described in the module docstring.
        generator: CPU generator for every draw.

    Returns:
        (tokens, lengths) of the augmented sentences, same shape, words packed to the left.
    """
    if tokens.dim() != 2 or tokens.dtype != torch.long or lengths.shape != (tokens.shape[0],):
        raise ValueError(
            f"tokens must be int64 (S, L) and lengths (S,), got {tokens.dtype} {tuple(tokens.shape)} "
            f"and {tuple(lengths.shape)}."
        )
    for name, p in (("p_synonym", p_synonym), ("p_swap", p_swap), ("p_delete", p_delete)):
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}.")
    if bool((lengths < 1).any()) or bool((lengths > tokens.shape[1]).any()):
        raise ValueError(f"lengths must be in [1, {tokens.shape[1]}] (one or more words per sentence).")
    s, L = tokens.shape
    pos = torch.arange(L).expand(s, L)
    real = pos < lengths.unsqueeze(1)  # (S, L) the words

    # synonyms: replace each word that has one with probability p_synonym
    syn = synonyms[tokens]
    replace = real & (syn != tokens) & (torch.rand(s, L, generator=generator) < p_synonym)
    out = torch.where(replace, syn, tokens)

    # swap: position i with i + 1, i uniform in [0, length − 2], for a p_swap share of the sentences
    can = (lengths >= 2) & (torch.rand(s, generator=generator) < p_swap)
    i = (torch.rand(s, generator=generator) * (lengths - 1).clamp(min=1)).long()
    src = pos.clone()
    rows = can.nonzero().squeeze(1)
    src[rows, i[rows]], src[rows, i[rows] + 1] = i[rows] + 1, i[rows]
    out = out.gather(1, src)

    # deletion: drop each word with probability p_delete, keep at least the first one
    keep = real & (torch.rand(s, L, generator=generator) >= p_delete)
    keep[:, 0] |= ~keep.any(1)
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # kept words first, in order
    out = torch.where(keep, out, torch.full_like(out, pad_id)).gather(1, order)
    return out, keep.sum(1)


def train_cert(
    encoder: nn.Module,
    tokens: Tensor,
    lengths: Tensor,
    synonyms: Tensor,
    *,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 3e-3,
    temperature: float = 0.05,
    seed: int = 0,
    progress: bool = True,
    **augment_kwargs: float,
) -> list[float]:
    """Train ``encoder`` in place on pairs of augmented sentences (InfoNCE, in-batch negatives).

    Each step takes a shuffled batch of sentences, augments it twice with :func:`augment_tokens`
    and takes an Adam step on :func:`cssl_edu.text.simcse_loss` between the two views. Returns
    the step losses. ``encoder`` is an ``nn.Module``; ``epochs`` a positive int.
    """
    check_positive_int(epochs, "epochs")
    check_module(encoder, "encoder")
    g = torch.Generator().manual_seed(seed)

    def views(idx: Tensor) -> tuple[Tensor, Tensor]:
        x, n = tokens[idx], lengths[idx]
        v1, _ = augment_tokens(x, n, synonyms, generator=g, **augment_kwargs)
        v2, _ = augment_tokens(x, n, synonyms, generator=g, **augment_kwargs)
        return v1, v2

    return train_pairs(
        encoder,
        views,
        tokens.shape[0],
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        temperature=temperature,
        seed=seed,
        progress=progress,
        desc="CERT",
    )
