"""DeCLUTR's span sampling: anchor and positive spans of the same document (Giorgi et al. 2021).

DeCLUTR (arXiv:2006.03659) needs no augmentation at all: the two views of a *document* are two
spans of its text. For every document it samples

- an **anchor** span of length ℓ_a = ⌊p_a (ℓ_max − ℓ_min)⌋ + ℓ_min with p_a ~ Beta(4, 2) (long
  spans are likely), starting anywhere in the document;
- a **positive** span of length ℓ_p = ⌊p_p (ℓ_max − ℓ_min)⌋ + ℓ_min with p_p ~ Beta(2, 4) (short
  spans are likely), starting anywhere from ℓ_p words before the anchor to its end, so that it
  **overlaps** the anchor, is **adjacent** to it, or is **subsumed** by it.

Spans of other documents in the batch are the negatives. The idea: text that sits close together
in one document talks about the same thing.

The course's generated corpus has single sentences; :func:`make_documents` strings sentences
into short documents, each about one **entity** — a fixed group, noun and adjective ("the
furry cat …") — with a fresh verb, place and template in every sentence. Beta(a, b) with integer
a, b is drawn as the a-th smallest of a + b − 1 uniforms, so every draw takes a ``generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cssl_edu._validation import check_module, check_positive_int
from cssl_edu.text.corpus import TEMPLATES, Vocab, _render, build_vocab
from cssl_edu.text.pairs import train_pairs


@dataclass
class Documents:
    """Padded documents: tokens int64 (D, L), lengths (D,), and each one's group and entity (noun, adj)."""

    tokens: Tensor
    lengths: Tensor
    vocab: Vocab
    group: Tensor
    entity: Tensor

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def text(self, i: int) -> str:
        return self.vocab.decode(self.tokens[i])


def pack_left(tokens: Tensor, keep: Tensor, pad_id: int = 0) -> tuple[Tensor, Tensor]:
    """Move the ``keep`` entries of each row to its front, in order, padding the rest: (tokens, lengths)."""
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    out = torch.where(keep, tokens, torch.full_like(tokens, pad_id)).gather(1, order)
    return out, keep.sum(1)


def make_documents(n_docs: int = 1000, sentences_per_doc: int = 4, seed: int = 0) -> Documents:
    """``n_docs`` documents of ``sentences_per_doc`` sentences each, every document about one entity.

    A document draws a group, a noun and an adjective once; each of its sentences draws a verb
    (and which synonym), a place and a template. Same ``seed`` → the same documents.
    """
    if int(n_docs) < 1 or int(sentences_per_doc) < 1:
        raise ValueError(f"n_docs and sentences_per_doc must be >= 1, got {n_docs!r}, {sentences_per_doc!r}.")
    d, k = int(n_docs), int(sentences_per_doc)
    g = torch.Generator().manual_seed(seed)
    group = torch.randint(8, (d,), generator=g)
    noun, adj = torch.randint(8, (d,), generator=g), torch.randint(3, (d,), generator=g)
    verb, place = torch.randint(3, (d, k), generator=g), torch.randint(2, (d, k), generator=g)
    synonym, template = (
        torch.randint(2, (d * k,), generator=g),
        torch.randint(len(TEMPLATES), (d * k,), generator=g),
    )
    meaning = torch.stack(
        [noun.repeat_interleave(k), adj.repeat_interleave(k), verb.flatten(), place.flatten()], dim=1
    )
    sentences = _render(build_vocab(), group.repeat_interleave(k), meaning, synonym, template)
    flat = sentences.tokens.view(d, -1)  # the k sentences of a document side by side, padding between
    tokens, lengths = pack_left(flat, flat != 0)
    tokens = tokens[:, : int(lengths.max())]
    counts = torch.bincount(tokens.flatten(), minlength=len(sentences.vocab))
    counts[0] = 0
    return Documents(
        tokens, lengths, Vocab(sentences.vocab.words, counts), group, torch.stack([noun, adj], 1)
    )


def _beta(a: int, b: int, n: int, generator: torch.Generator | None) -> Tensor:
    """n draws of Beta(a, b), integer a, b ≥ 1: the a-th smallest of a + b − 1 uniforms."""
    return torch.rand(n, a + b - 1, generator=generator).sort(dim=1).values[:, a - 1]


def sample_spans(
    lengths: Tensor,
    min_len: int = 3,
    max_len: int = 16,
    n_positives: int = 1,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """DeCLUTR's anchor and positive spans for documents of the given lengths.

    Args:
        lengths: int64 (D,) words per document (each ≥ ``min_len``).
        min_len, max_len: ℓ_min and ℓ_max; ℓ_max is capped at each document's length.
        n_positives: positive spans per anchor.
        generator: CPU generator.

    Returns:
        ``(anchor_start, anchor_len, pos_start, pos_len)``: int64 (D,), (D,), (D, P), (D, P). Every
        span lies inside its document; every positive overlaps, touches or lies inside its anchor.
    """
    if lengths.dim() != 1 or lengths.dtype != torch.long:
        raise ValueError(f"lengths must be int64 (D,), got {lengths.dtype} {tuple(lengths.shape)}.")
    if not 1 <= int(min_len) <= int(max_len):
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len!r}, {max_len!r}.")
    if bool((lengths < min_len).any()):
        raise ValueError(
            f"lengths must be >= min_len = {min_len} for every document; the shortest has {int(lengths.min())}."
        )
    if int(n_positives) < 1:
        raise ValueError(f"n_positives must be >= 1, got {n_positives!r}.")
    d, p = lengths.shape[0], int(n_positives)
    top = lengths.clamp(max=int(max_len))  # ℓ_max per document
    span = (top - min_len).double()
    a_len = (_beta(4, 2, d, generator) * span).floor().long() + min_len
    a_len = torch.minimum(a_len, top)
    a_start = (torch.rand(d, generator=generator) * (lengths - a_len + 1)).long()
    p_len = (_beta(2, 4, d * p, generator).view(d, p) * span[:, None]).floor().long() + min_len
    p_len = torch.minimum(p_len, top[:, None])
    lo = (a_start[:, None] - p_len).clamp(min=0)  # from ℓ_p words before the anchor (adjacent on the left) …
    hi = torch.minimum(a_start + a_len, lengths)[:, None].expand(
        d, p
    )  # … to the anchor's end (adjacent on the right)
    hi = torch.minimum(hi, lengths[:, None] - p_len)  # … staying inside the document
    p_start = lo + (torch.rand(d, p, generator=generator) * (hi - lo + 1)).long()
    return a_start, a_len, p_start, p_len


def gather_spans(tokens: Tensor, start: Tensor, length: Tensor, pad_id: int = 0) -> Tensor:
    """Rows ``tokens[i, start[i] : start[i] + length[i]]``, left-aligned and padded: int64 (N, max length).

    ``tokens`` is int64 (N, L); ``start`` and ``length`` are integer (N,) tensors with
    ``0 <= start`` and ``start + length <= L`` (one reduction checks it).
    """
    if not isinstance(tokens, Tensor) or tokens.dim() != 2:
        raise ValueError("tokens must be an int64 (N, L) tensor of word ids.")
    for name, x in (("start", start), ("length", length)):
        if not isinstance(x, Tensor) or x.shape != (tokens.shape[0],):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} must be an int64 tensor of shape ({tokens.shape[0]},), got {shape}.")
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise ValueError(f"{name} must hold integer positions, got dtype {x.dtype}; use .long().")
    if tokens.shape[0] and bool(((start < 0) | (length < 0) | (start + length > tokens.shape[1])).any()):
        raise ValueError(
            f"every span must lie inside its row: need start >= 0, length >= 0 and start + length <= "
            f"{tokens.shape[1]} (the row length)."
        )
    width = int(length.max())
    pos = start[:, None] + torch.arange(width)
    inside = torch.arange(width) < length[:, None]
    out = tokens.gather(1, pos.clamp(max=tokens.shape[1] - 1))
    return torch.where(inside, out, torch.full_like(out, pad_id))


def train_declutr(
    encoder: nn.Module,
    docs: Documents,
    *,
    min_len: int = 3,
    max_len: int = 16,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 3e-3,
    temperature: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Train ``encoder`` in place on (anchor span, positive span) pairs of documents; returns step losses.

    Fresh spans every step (:func:`sample_spans`), one positive per anchor, the other documents'
    positives as negatives (:func:`cssl_edu.text.simcse_loss`; the paper symmetrises it and can
    average several positives — one-directional InfoNCE keeps the comparison with SimCSE and CERT
    to the views alone). ``encoder`` is an ``nn.Module``, ``docs`` :class:`Documents`.
    """
    check_positive_int(epochs, "epochs")
    check_module(encoder, "encoder")
    if not isinstance(docs, Documents):
        raise ValueError(f"docs must be Documents (see make_documents), got {type(docs).__name__}.")
    g = torch.Generator().manual_seed(seed)

    def views(idx: Tensor) -> tuple[Tensor, Tensor]:
        a_start, a_len, p_start, p_len = sample_spans(docs.lengths[idx], min_len, max_len, 1, g)
        x = docs.tokens[idx]
        return gather_spans(x, a_start, a_len), gather_spans(x, p_start[:, 0], p_len[:, 0])

    return train_pairs(
        encoder,
        views,
        len(docs),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        temperature=temperature,
        seed=seed,
        progress=progress,
        desc="DeCLUTR",
    )
