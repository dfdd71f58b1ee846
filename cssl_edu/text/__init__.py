"""Contrastive learning beyond images: word2vec (SGNS) and SimCSE on a generated toy corpus.

- :mod:`cssl_edu.text.corpus` — a seeded corpus of template sentences about 8 word groups, with
  ground truth: same-group word pairs (:func:`word_pairs`) and paraphrase pairs
  (:func:`paraphrase_set`). No download.
- :mod:`cssl_edu.text.word2vec` — skip-gram with negative sampling (Mikolov et al. 2013):
  :func:`skipgram_pairs`, :func:`unigram_distribution`, :func:`sample_negatives`,
  :func:`sgns_loss`, :class:`SkipGram`, :func:`train_word2vec`, :func:`nearest_words`,
  :func:`pair_similarity`.
- :mod:`cssl_edu.text.simcse` — unsupervised SimCSE (Gao et al. 2021): :func:`simcse_loss`,
  :class:`SentenceEncoder`, :func:`train_simcse`, :func:`encode`, :func:`bag_of_words`,
  :func:`paraphrase_retrieval`.

Used by lesson ``12_beyond_images``.
"""

from cssl_edu.text.corpus import (
    GROUP_NAMES,
    GROUPS,
    TEMPLATES,
    Corpus,
    Vocab,
    build_vocab,
    make_corpus,
    noun_ids,
    paraphrase_set,
    word_pairs,
)
from cssl_edu.text.simcse import (
    SentenceEncoder,
    bag_of_words,
    encode,
    paraphrase_retrieval,
    simcse_loss,
    train_simcse,
)
from cssl_edu.text.word2vec import (
    SkipGram,
    nearest_words,
    pair_similarity,
    sample_negatives,
    sgns_loss,
    skipgram_pairs,
    train_word2vec,
    unigram_distribution,
)

__all__ = [
    "GROUPS",
    "GROUP_NAMES",
    "TEMPLATES",
    "Corpus",
    "SentenceEncoder",
    "SkipGram",
    "Vocab",
    "bag_of_words",
    "build_vocab",
    "encode",
    "make_corpus",
    "nearest_words",
    "noun_ids",
    "pair_similarity",
    "paraphrase_retrieval",
    "paraphrase_set",
    "sample_negatives",
    "sgns_loss",
    "simcse_loss",
    "skipgram_pairs",
    "train_simcse",
    "train_word2vec",
    "unigram_distribution",
    "word_pairs",
]
