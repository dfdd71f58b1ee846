"""A generated toy corpus with known ground truth, for word2vec and SimCSE (no download).

Eight **word groups** (animals, fruits, vehicles, …) of eight nouns each. Every group also owns
three adjectives, three verbs — each verb with a *synonym* (``runs``/``sprints``) — and two
places. A sentence picks one group, then a noun, an adjective, a verb form and a place *of that
group*, and renders them through one of four templates, e.g.::

    template 0:  the {adj} {noun} {verb} in the {place}
    template 2:  a {adj} {noun} {verb} near the {place} today

So nouns of the same group share their contexts (the distributional hypothesis that word2vec
exploits), and the ground truth for evaluation is known:

- :func:`word_pairs`: every pair of nouns, labelled same-group or different-group;
- :func:`paraphrase_set`: ``M`` distinct meanings ``(group, noun, adj, verb, place)``, each
  rendered twice with two different templates (optionally with the verb replaced by its
  synonym in the second), so each sentence has exactly one paraphrase among the ``2M``.

Sentences are stored as a padded int64 matrix ``tokens`` of shape (S, L) (``PAD`` = 0) with
their ``lengths`` (S,); generation is vectorised per template (≈ 50k tokens in a few ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from cssl_edu._validation import check_positive_int

PAD = "<pad>"

#: group -> (nouns, adjectives, verbs as (word, synonym) pairs, places)
GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "animal": (
        ("cat", "dog", "horse", "rabbit", "tiger", "wolf", "sheep", "goat"),
        ("furry", "wild", "hungry"),
        (("runs", "sprints"), ("sleeps", "naps"), ("eats", "feeds")),
        ("field", "forest"),
    ),
    "fruit": (
        ("apple", "banana", "cherry", "mango", "peach", "pear", "plum", "grape"),
        ("ripe", "sweet", "juicy"),
        (("ripens", "matures"), ("falls", "drops"), ("rots", "spoils")),
        ("orchard", "basket"),
    ),
    "vehicle": (
        ("car", "bus", "truck", "train", "bike", "van", "tram", "taxi"),
        ("fast", "noisy", "electric"),
        (("drives", "travels"), ("stops", "halts"), ("honks", "beeps")),
        ("road", "garage"),
    ),
    "tool": (
        ("hammer", "saw", "drill", "wrench", "chisel", "pliers", "shovel", "axe"),
        ("sharp", "heavy", "rusty"),
        (("cuts", "slices"), ("breaks", "cracks"), ("hangs", "dangles")),
        ("shed", "workshop"),
    ),
    "instrument": (
        ("piano", "violin", "guitar", "drum", "flute", "cello", "trumpet", "harp"),
        ("loud", "tuned", "ancient"),
        (("plays", "performs"), ("sounds", "rings"), ("echoes", "resonates")),
        ("hall", "studio"),
    ),
    "clothing": (
        ("shirt", "coat", "hat", "scarf", "sock", "glove", "dress", "jacket"),
        ("warm", "woolen", "clean"),
        (("fits", "suits"), ("tears", "rips"), ("dries", "airs")),
        ("closet", "drawer"),
    ),
    "drink": (
        ("tea", "coffee", "juice", "milk", "water", "soda", "wine", "cocoa"),
        ("hot", "cold", "fresh"),
        (("spills", "splashes"), ("cools", "chills"), ("steams", "boils")),
        ("cup", "kitchen"),
    ),
    "furniture": (
        ("chair", "table", "sofa", "bed", "desk", "shelf", "stool", "bench"),
        ("wooden", "comfy", "broken"),
        (("creaks", "squeaks"), ("wobbles", "rocks"), ("stands", "rests")),
        ("room", "office"),
    ),
}

#: sentence templates; slots are {adj}, {noun}, {verb}, {place}
TEMPLATES: tuple[str, ...] = (
    "the {adj} {noun} {verb} in the {place}",
    "in the {place} the {noun} that is {adj} {verb}",
    "a {adj} {noun} {verb} near the {place} today",
    "we know that the {noun} in the {place} is {adj} and {verb}",
)
SLOTS: tuple[str, ...] = ("{adj}", "{noun}", "{verb}", "{place}")


@dataclass
class Vocab:
    """Words ↔ ids. ``words[0]`` is the padding token; ``counts`` (V,) int64 is filled from a corpus."""

    words: list[str]
    counts: Tensor

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: str | Sequence[str]) -> Tensor:
        """int64 ids of a space-separated string or a list of words; ``ValueError`` on unknown words."""
        ws = words.split() if isinstance(words, str) else list(words)
        unknown = [w for w in ws if w not in self.index]
        if unknown:
            raise ValueError(
                f"unknown words {unknown}; the vocabulary has {len(self)} words (see vocab.words)."
            )
        return torch.tensor([self.index[w] for w in ws], dtype=torch.long)

    def decode(self, ids: Tensor | Sequence[int]) -> str:
        """The sentence of a row of ids (padding dropped)."""
        return " ".join(self.words[int(i)] for i in ids if int(i) != 0)


@dataclass
class Corpus:
    """Padded sentences and their ground truth.

    Attributes:
        tokens: int64 (S, L), padded with 0.
        lengths: int64 (S,), tokens per sentence.
        vocab: the :class:`Vocab` (counts taken over ``tokens``).
        group: int64 (S,), the sentence's group (index into ``GROUP_NAMES``).
        template: int64 (S,), which of :data:`TEMPLATES` rendered it.
        meaning: int64 (S, 4): (noun, adj, verb, place) indices within the group.
    """

    tokens: Tensor
    lengths: Tensor
    vocab: Vocab
    group: Tensor
    template: Tensor
    meaning: Tensor

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def sentence(self, i: int) -> str:
        return self.vocab.decode(self.tokens[i])

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum())


GROUP_NAMES: tuple[str, ...] = tuple(GROUPS)


def _all_words() -> list[str]:
    words = [PAD]
    for t in TEMPLATES:
        for w in t.split():
            if w not in SLOTS and w not in words:
                words.append(w)
    for nouns, adjs, verbs, places in GROUPS.values():
        words += [*nouns, *adjs, *(w for pair in verbs for w in pair), *places]
    return words


def build_vocab() -> Vocab:
    """The fixed vocabulary: padding, template words, then every group's words (counts zero)."""
    words = _all_words()
    return Vocab(words, torch.zeros(len(words), dtype=torch.long))


def _slot_tables(vocab: Vocab) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Word ids per group: nouns (G, 8), adjs (G, 3), verbs (G, 3, 2), places (G, 2)."""
    if not isinstance(vocab, Vocab):
        raise ValueError(f"vocab must be a Vocab (e.g. build_vocab()), got {type(vocab).__name__}.")
    e = vocab.encode
    nouns = torch.stack([e(g[0]) for g in GROUPS.values()])
    adjs = torch.stack([e(g[1]) for g in GROUPS.values()])
    verbs = torch.stack([torch.stack([e(p) for p in g[2]]) for g in GROUPS.values()])
    places = torch.stack([e(g[3]) for g in GROUPS.values()])
    return nouns, adjs, verbs, places


def _render(vocab: Vocab, group: Tensor, meaning: Tensor, synonym: Tensor, template: Tensor) -> Corpus:
    """Vectorised rendering: one gather per template over all sentences that use it."""
    nouns, adjs, verbs, places = _slot_tables(vocab)
    slot_ids = torch.stack(
        [
            adjs[group, meaning[:, 1]],
            nouns[group, meaning[:, 0]],
            verbs[group, meaning[:, 2], synonym],
            places[group, meaning[:, 3]],
        ],
        dim=1,
    )  # (S, 4) word ids, in the order of SLOTS
    max_len = max(len(t.split()) for t in TEMPLATES)
    tokens = torch.zeros(len(group), max_len, dtype=torch.long)
    lengths = torch.zeros(len(group), dtype=torch.long)
    for t, text in enumerate(TEMPLATES):
        rows = (template == t).nonzero().squeeze(1)
        words = text.split()
        fixed = torch.tensor([vocab.index.get(w, 0) for w in words])  # slots get 0 for now
        row_tokens = fixed.expand(len(rows), -1).clone()
        for s, slot in enumerate(SLOTS):
            row_tokens[:, words.index(slot)] = slot_ids[rows, s]
        tokens[rows, : len(words)] = row_tokens
        lengths[rows] = len(words)
    counts = torch.bincount(tokens.flatten(), minlength=len(vocab))
    counts[0] = 0
    return Corpus(tokens, lengths, Vocab(vocab.words, counts), group, template, meaning)


def _sample_meanings(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    group = torch.randint(len(GROUPS), (n,), generator=g)
    sizes = torch.tensor([8, 3, 3, 2])  # nouns, adjs, verbs, places per group
    meaning = (torch.rand(n, 4, generator=g) * sizes).long()
    return group, meaning


def make_corpus(n_sentences: int = 6000, seed: int = 0) -> Corpus:
    """A seeded random corpus of ``n_sentences`` sentences (≈ 8.5 tokens each).

    Every sentence draws a group uniformly, then a noun, adjective, verb (and which of its two
    synonyms), place and template uniformly. Same ``seed`` → the same corpus.
    """
    if int(n_sentences) < 1:
        raise ValueError(f"n_sentences must be a positive integer, got {n_sentences!r}.")
    g = torch.Generator().manual_seed(seed)
    group, meaning = _sample_meanings(int(n_sentences), g)
    synonym = torch.randint(2, (len(group),), generator=g)
    template = torch.randint(len(TEMPLATES), (len(group),), generator=g)
    return _render(build_vocab(), group, meaning, synonym, template)


def paraphrase_set(n_meanings: int = 128, seed: int = 1, synonyms: bool = False) -> tuple[Corpus, Tensor]:
    """``2M`` sentences where sentence ``i`` and ``partner[i]`` say the same thing.

    Rows ``0..M-1`` render meaning ``m`` with a random template and the verb's first form;
    rows ``M..2M-1`` render the same meaning with a *different* template and (when
    ``synonyms``) the verb's synonym. Other sentences may share the group, the noun or the
    template, but not all of (noun, adj, verb, place): the meanings are drawn without repetition.
    A bag of words or an encoder trained from scratch cannot know that ``runs`` and ``sprints``
    mean the same, so ``synonyms=True`` is a much harder test.

    Returns:
        (corpus, partner): ``partner`` int64 (2M,) with ``partner[i] = (i + M) mod 2M``.
    """
    n_all = len(GROUPS) * 8 * 3 * 3 * 2
    n_meanings = check_positive_int(n_meanings, "n_meanings")
    if not 2 <= int(n_meanings) <= n_all:
        raise ValueError(f"n_meanings must be between 2 and {n_all} (distinct meanings), got {n_meanings!r}.")
    m = int(n_meanings)
    g = torch.Generator().manual_seed(seed)
    code = torch.randperm(n_all, generator=g)[:m]  # distinct meanings, mixed-radix decoded
    group, rest = code // (8 * 3 * 3 * 2), code % (8 * 3 * 3 * 2)
    meaning = torch.stack([rest // 18, rest // 6 % 3, rest // 2 % 3, rest % 2], dim=1)
    t1 = torch.randint(len(TEMPLATES), (m,), generator=g)
    t2 = (t1 + torch.randint(1, len(TEMPLATES), (m,), generator=g)) % len(TEMPLATES)  # a different one
    corpus = _render(
        build_vocab(),
        group.repeat(2),
        meaning.repeat(2, 1),
        torch.cat([torch.zeros(m, dtype=torch.long), torch.full((m,), int(bool(synonyms)))]),
        torch.cat([t1, t2]),
    )
    partner = (torch.arange(2 * m) + m) % (2 * m)
    return corpus, partner


def word_pairs(vocab: Vocab) -> tuple[Tensor, Tensor]:
    """Ground truth for word similarity: every pair of nouns.

    Returns:
        (pairs, same): int64 (P, 2) word ids with P = C(64, 2) = 2016, and bool (P,) True when
        both nouns belong to the same group (8 groups × C(8, 2) = 224 such pairs).
    """
    nouns, _, _, _ = _slot_tables(vocab)
    ids = nouns.flatten()
    grp = torch.arange(nouns.shape[0]).repeat_interleave(nouns.shape[1])
    i, j = torch.triu_indices(len(ids), len(ids), offset=1)
    return torch.stack([ids[i], ids[j]], dim=1), grp[i] == grp[j]


def noun_ids(vocab: Vocab) -> tuple[Tensor, Tensor]:
    """(ids, groups): the 64 noun ids (int64) and their group index (int64), for plots."""
    nouns, _, _, _ = _slot_tables(vocab)
    return nouns.flatten(), torch.arange(nouns.shape[0]).repeat_interleave(nouns.shape[1])
