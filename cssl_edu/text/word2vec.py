"""word2vec: skip-gram with negative sampling (SGNS; Mikolov et al. 2013, arXiv:1310.4546).

Every word ``w`` gets two vectors: ``u_w`` when it is the centre word and ``v_w`` when it is a
context word. A (centre c, context o) pair is a word and a neighbour within ``window`` positions.
SGNS trains a logistic classifier to tell the true context from K *negative* words drawn from
the unigram distribution raised to 0.75, ``P_n(w) ∝ count(w)^0.75``:

    ℓ(c, o, n_1..K) = −log σ(u_c·v_o) − Σ_k log σ(−u_c·v_{n_k})

It is contrastive learning with one positive and K negatives scored *independently* (binary
logistic) instead of by one softmax over all candidates as in InfoNCE. Words that occur in
the same contexts end up with similar ``u`` vectors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from cssl_edu._validation import (
    as_float_tensor,
    check_finite,
    check_has_data,
    check_matrix,
    check_number,
    check_positive_int,
    check_same_device,
    check_token_ids,
    common_float_dtype,
)
from cssl_edu.text.corpus import Corpus, Vocab


def skipgram_pairs(tokens: Tensor, lengths: Tensor, window: int = 2) -> tuple[Tensor, Tensor]:
    """All (centre, context) id pairs within ``window`` of each other, inside each sentence.

    Args:
        tokens: int64 (S, L) padded sentences (a nested list of ints is converted).
        lengths: int64 (S,) real lengths.
        window: the largest distance |i − j| between centre position i and context position j.

    Returns:
        (centres, contexts): int64 (P,) each. One loop over the 2·window offsets, none over words.
    """
    if isinstance(tokens, (list, tuple)):
        tokens = torch.as_tensor(tokens, dtype=torch.long)
    if not isinstance(tokens, Tensor) or not isinstance(lengths, Tensor):
        raise ValueError("tokens must be an int64 (S, L) tensor and lengths an int64 (S,) tensor.")
    check_has_data(tokens, "tokens")
    check_has_data(lengths, "lengths")
    if tokens.dim() != 2 or lengths.shape != (tokens.shape[0],):
        raise ValueError(
            f"tokens must be (S, L) and lengths (S,), got {tuple(tokens.shape)} and {tuple(lengths.shape)}."
        )
    if int(window) < 1:
        raise ValueError(f"window must be >= 1, got {window!r}.")
    pos = torch.arange(tokens.shape[1], device=tokens.device)
    valid = pos < lengths.to(tokens.device)[:, None]  # (S, L) True on real tokens
    centres, contexts = [], []
    for off in [*range(-int(window), 0), *range(1, int(window) + 1)]:
        if abs(off) >= tokens.shape[1]:
            continue
        # centre at column i, context at column i + off
        c = tokens[:, max(0, -off) : tokens.shape[1] - max(0, off)]
        o = tokens[:, max(0, off) : tokens.shape[1] + min(0, off)]
        ok = (
            valid[:, max(0, -off) : tokens.shape[1] - max(0, off)]
            & valid[:, max(0, off) : tokens.shape[1] + min(0, off)]
        )
        centres.append(c[ok])
        contexts.append(o[ok])
    return torch.cat(centres), torch.cat(contexts)


def unigram_distribution(counts: Tensor, power: float = 0.75) -> Tensor:
    """The noise distribution P_n(w) = count(w)^power / Σ_w' count(w')^power, float (V,).

    ``power = 0.75`` (Mikolov et al.) flattens the unigram distribution: rare words are drawn
    as negatives more often than their frequency, very frequent ones ("the") less; ``power = 0``
    is uniform over the words that occur, ``power = 1`` the unigram distribution itself.
    Words with count 0 (padding) get probability 0 at every power ≥ 0; a negative power raises.
    """
    if not isinstance(counts, Tensor) or counts.dim() != 1:
        raise ValueError(
            f"counts must be a 1-D tensor of word counts (V,), got {getattr(counts, 'shape', type(counts))}."
        )
    check_finite(counts, "counts")
    if bool((counts < 0).any()) or float(counts.sum()) <= 0:
        raise ValueError("counts must be a 1-D tensor of non-negative word counts with a positive sum.")
    power = check_number(power, "power", low=0)  # 0: uniform over the words that occur
    p = counts.double().pow(power)
    p[counts == 0] = 0.0  # 0 ** 0 = 1 would give unseen words (padding) mass at power 0
    return (p / p.sum()).float()


def sample_negatives(probs: Tensor, batch: int, k: int, generator: torch.Generator | None = None) -> Tensor:
    """Draw int64 (batch, k) negative word ids i.i.d. from ``probs`` (V,), with replacement.

    As in word2vec, a negative may by chance equal the true context word; with a vocabulary of
    more than a few words this is rare and harmless.
    """
    batch, k = check_positive_int(batch, "batch"), check_positive_int(k, "k")
    if (
        not isinstance(probs, Tensor)
        or probs.dim() != 1
        or probs.numel() < 1
        or not probs.is_floating_point()
    ):
        raise ValueError(
            f"probs must be a float (V,) tensor of probabilities, got {getattr(probs, 'shape', type(probs))}."
        )
    check_finite(probs, "probs")
    if bool((probs < 0).any()) or float(probs.sum()) <= 0:
        raise ValueError("probs must be non-negative with a positive sum (e.g. from unigram_distribution).")
    return torch.multinomial(probs, int(batch) * int(k), replacement=True, generator=generator).view(batch, k)


def sgns_loss(center_vecs: Tensor, context_vecs: Tensor, negative_vecs: Tensor) -> Tensor:
    """Skip-gram negative-sampling loss, averaged over the batch.

        L = −(1/B) Σ_b [ log σ(u_b·v_b) + Σ_k log σ(−u_b·n_bk) ]

    computed with ``F.logsigmoid`` (stable for large |u·v|, where log(sigmoid(x)) gives −inf).

    Args:
        center_vecs: (B, d) centre-word vectors u.
        context_vecs: (B, d) true context vectors v.
        negative_vecs: (B, K, d) negative context vectors n.

    Returns:
        a scalar tensor (the dtype of the inputs).
    """
    for name, x, shape in (
        ("center_vecs", center_vecs, "(B, d)"),
        ("context_vecs", context_vecs, "(B, d)"),
        ("negative_vecs", negative_vecs, "(B, K, d)"),
    ):
        if not isinstance(x, Tensor) or x.dim() != shape.count(",") + 1 or not x.is_floating_point():
            raise ValueError(
                f"{name} must be a floating tensor of shape {shape}, got {getattr(x, 'shape', type(x))}."
            )
        if x.shape[0] < 1 or x.shape[-1] < 1:
            raise ValueError(f"{name} is empty: shape {tuple(x.shape)}; it needs B ≥ 1 rows and d ≥ 1.")
    b, d = center_vecs.shape
    if context_vecs.shape != (b, d) or negative_vecs.shape[0] != b or negative_vecs.shape[2] != d:
        raise ValueError(
            "center_vecs (B, d), context_vecs (B, d) and negative_vecs (B, K, d) must have the same B and d; got "
            f"{tuple(center_vecs.shape)}, {tuple(context_vecs.shape)}, {tuple(negative_vecs.shape)}."
        )
    named = (("center_vecs", center_vecs), ("context_vecs", context_vecs), ("negative_vecs", negative_vecs))
    check_same_device(*named)
    for name, x in named:
        check_finite(x, name)
    dtype = common_float_dtype(center_vecs, context_vecs, negative_vecs)  # mixed dtypes: the common one
    center_vecs, context_vecs, negative_vecs = (x.to(dtype) for _, x in named)
    pos = (center_vecs * context_vecs).sum(-1)  # (B,)
    neg = torch.einsum("bd,bkd->bk", center_vecs, negative_vecs)  # (B, K)
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


class SkipGram(nn.Module):
    """Two embedding tables: ``center`` (the word vectors we keep) and ``context``.

    Initialised as in word2vec's C code: centre vectors uniform in ±0.5/d, context vectors 0.
    """

    def __init__(self, vocab_size: int, dim: int = 32) -> None:
        super().__init__()
        if int(vocab_size) < 2 or int(dim) < 1:
            raise ValueError(f"vocab_size must be >= 2 and dim >= 1, got {vocab_size!r}, {dim!r}.")
        self.center = nn.Embedding(vocab_size, dim)
        self.context = nn.Embedding(vocab_size, dim)
        nn.init.uniform_(self.center.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.context.weight)

    def forward(self, centres: Tensor, contexts: Tensor, negatives: Tensor) -> Tensor:
        """Integer word ids (B,), (B,), (B, K) in [0, vocab_size) → the scalar :func:`sgns_loss`."""
        v = self.center.num_embeddings
        centres = check_token_ids(centres, "centres", v, dim=1)
        contexts = check_token_ids(contexts, "contexts", v, dim=1)
        negatives = check_token_ids(negatives, "negatives", v, dim=2)
        return sgns_loss(self.center(centres), self.context(contexts), self.context(negatives))

    @property
    def vectors(self) -> Tensor:
        """The word vectors (V, d), detached."""
        return self.center.weight.detach()


def train_word2vec(
    corpus: Corpus,
    *,
    dim: int = 32,
    window: int = 2,
    negatives: int = 5,
    epochs: int = 3,
    batch_size: int = 1024,
    lr: float = 0.05,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[SkipGram, list[float]]:
    """Train SGNS on ``corpus`` with Adam; returns the model and the loss of every step.

    Each epoch shuffles all skip-gram pairs and draws fresh negatives from the unigram^0.75
    distribution; everything is seeded by ``seed``. ``corpus`` is a :class:`Corpus` (e.g.
    :func:`make_corpus`); ``epochs`` and ``batch_size`` are positive ints.
    """
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    if not isinstance(corpus, Corpus):
        raise ValueError(f"corpus must be a Corpus (e.g. make_corpus()), got {type(corpus).__name__}.")
    if int(epochs) < 1 or int(batch_size) < 1 or float(lr) <= 0:
        raise ValueError(
            f"epochs, batch_size and lr must be positive, got {epochs!r}, {batch_size!r}, {lr!r}."
        )
    device = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the embedding initialisation
    model = SkipGram(len(corpus.vocab), dim).to(device)
    centres, contexts = skipgram_pairs(corpus.tokens, corpus.lengths, window)
    probs = unigram_distribution(corpus.vocab.counts)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    n_steps = (len(centres) + batch_size - 1) // batch_size
    bar = tqdm(total=epochs * n_steps, desc="word2vec", disable=not progress)
    for _ in range(int(epochs)):
        order = torch.randperm(len(centres), generator=g)
        negs = sample_negatives(probs, len(centres), negatives, generator=g)
        for s in range(n_steps):
            idx = order[s * batch_size : (s + 1) * batch_size]
            loss = model(centres[idx].to(device), contexts[idx].to(device), negs[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.update()
    bar.close()
    return model.eval(), losses


# ----------------------------------------------------------------------------- evaluation


def nearest_words(vectors: Tensor, vocab: Vocab, word: str, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` words with the highest cosine similarity to ``word`` (itself and padding excluded).

    ``vectors`` is a finite (V, d) float tensor (or nested list) with one row per word of ``vocab``;
    ``word`` one word of the vocabulary (a str).
    """
    if not isinstance(vocab, Vocab):
        raise ValueError(f"vocab must be a Vocab (e.g. build_vocab()), got {type(vocab).__name__}.")
    vectors = as_float_tensor(vectors, "vectors")
    check_matrix(vectors, "vectors")
    if vectors.shape[0] != len(vocab):
        raise ValueError(
            f"vectors must have one row per word of vocab ({len(vocab)}), got shape {tuple(vectors.shape)}."
        )
    k = check_positive_int(k, "k")
    if not 1 <= k <= len(vocab) - 2:
        raise ValueError(f"k must be in [1, {len(vocab) - 2}], got {k!r}.")
    if not isinstance(word, str) or len(word.split()) != 1:
        raise ValueError(f"word must be one word (a str) of the vocabulary, got {word!r}.")
    i = int(vocab.encode(word)[0])
    v = F.normalize(vectors.detach().float(), dim=1)
    sims = v @ v[i]
    sims[i] = sims[0] = float("-inf")
    top = sims.topk(int(k))
    return [(vocab.words[j], float(s)) for s, j in zip(top.values.tolist(), top.indices.tolist())]


def pair_similarity(vectors: Tensor, pairs: Tensor, same: Tensor) -> dict[str, float]:
    """How well cosine similarity separates same-group from different-group word pairs.

    Args:
        vectors: (V, d) finite word vectors (a tensor or nested list).
        pairs: int64 (P, 2) word ids; ``same``: bool (P,) ground truth (see :func:`word_pairs`).

    Returns:
        ``same`` / ``different``: mean cosine similarity of each kind of pair; ``gap``: their
        difference; ``auc``: the probability that a random same-group pair scores higher than a
        random different-group pair (0.5 = chance, 1 = perfect; ties count ½).
    """
    vectors = as_float_tensor(vectors, "vectors")
    check_matrix(vectors, "vectors")
    if not isinstance(pairs, Tensor) or not isinstance(same, Tensor):
        raise ValueError("pairs and same must be tensors (see text.word_pairs).")
    if pairs.dim() != 2 or pairs.shape[1] != 2 or same.shape != (pairs.shape[0],):
        raise ValueError(
            f"pairs must be (P, 2) and same (P,), got {tuple(pairs.shape)} and {tuple(same.shape)}."
        )
    pairs = check_token_ids(pairs, "pairs", vectors.shape[0])
    if not bool(same.any()) or bool(same.all()):
        raise ValueError("same must contain both same-group (True) and different-group (False) pairs.")
    v = F.normalize(vectors.detach().double(), dim=1)
    s = (v[pairs[:, 0]] * v[pairs[:, 1]]).sum(1)
    pos, neg = s[same], s[~same]
    diff = pos[:, None] - neg[None, :]
    auc = float((diff > 0).double().mean() + 0.5 * (diff == 0).double().mean())
    return {
        "same": float(pos.mean()),
        "different": float(neg.mean()),
        "gap": float(pos.mean() - neg.mean()),
        "auc": auc,
    }
