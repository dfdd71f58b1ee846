"""Contrastive learning beyond images: word2vec (SGNS), SimCSE, CERT, DeCLUTR and CPC on generated data.

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
- :mod:`cssl_edu.text.cert` — CERT-style views made offline (synonyms, swaps, deletions; the
  stand-in for back-translation): :func:`synonym_table`, :func:`augment_tokens`, :func:`train_cert`.
- :mod:`cssl_edu.text.declutr` — DeCLUTR's anchor/positive spans of a document (Giorgi et al.
  2021): :func:`make_documents`, :func:`sample_spans`, :func:`gather_spans`, :func:`train_declutr`.
- :mod:`cssl_edu.text.pairs` — :func:`train_pairs`, the loop CERT and DeCLUTR share.
- :mod:`cssl_edu.text.cpc` — CPC with a GRU context network on a generated 1-D signal
  (van den Oord et al. 2018; the core of wav2vec): :func:`make_signals`, :class:`CPC`,
  :func:`cpc_loss`, :func:`cpc_step_losses`, :func:`cpc_accuracy`, :func:`train_cpc`.

Used by lesson ``12_beyond_images``.
"""

from cssl_edu.text.cert import augment_tokens, synonym_table, train_cert
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
from cssl_edu.text.cpc import CPC, cpc_accuracy, cpc_loss, cpc_step_losses, make_signals, train_cpc
from cssl_edu.text.declutr import Documents, gather_spans, make_documents, sample_spans, train_declutr
from cssl_edu.text.pairs import train_pairs
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
    "CPC",
    "GROUPS",
    "GROUP_NAMES",
    "TEMPLATES",
    "Corpus",
    "Documents",
    "SentenceEncoder",
    "SkipGram",
    "Vocab",
    "augment_tokens",
    "bag_of_words",
    "build_vocab",
    "cpc_accuracy",
    "cpc_loss",
    "cpc_step_losses",
    "encode",
    "gather_spans",
    "make_corpus",
    "make_documents",
    "make_signals",
    "nearest_words",
    "noun_ids",
    "pair_similarity",
    "paraphrase_retrieval",
    "paraphrase_set",
    "sample_negatives",
    "sample_spans",
    "sgns_loss",
    "simcse_loss",
    "skipgram_pairs",
    "synonym_table",
    "train_cert",
    "train_cpc",
    "train_declutr",
    "train_pairs",
    "train_simcse",
    "train_word2vec",
    "unigram_distribution",
    "word_pairs",
]
