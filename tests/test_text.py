"""Tests for cssl_edu.text: the generated corpus, word2vec (SGNS) and SimCSE.

References are written in float64 straight from the papers' formulas (Mikolov et al. 2013,
eq. 4; Gao et al. 2021, eq. 1) with explicit loops, and compared with the vectorised package
code, values and gradients.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cssl_edu.losses import info_nce, nt_xent
from cssl_edu.text import (
    GROUPS,
    TEMPLATES,
    SentenceEncoder,
    SkipGram,
    bag_of_words,
    encode,
    make_corpus,
    nearest_words,
    pair_similarity,
    paraphrase_retrieval,
    paraphrase_set,
    sample_negatives,
    sgns_loss,
    simcse_loss,
    skipgram_pairs,
    train_simcse,
    train_word2vec,
    unigram_distribution,
    word_pairs,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(3000, seed=0)


# ----------------------------------------------------------------------------- references


def ref_sgns(u, v, n):
    """−(1/B) Σ_b [log σ(u_b·v_b) + Σ_k log σ(−u_b·n_bk)], one sample and one negative at a time."""
    total = torch.zeros((), dtype=torch.float64)
    for b in range(u.shape[0]):
        total = total + torch.log(torch.sigmoid(u[b] @ v[b]))
        for k in range(n.shape[1]):
            total = total + torch.log(torch.sigmoid(-(u[b] @ n[b, k])))
    return -total / u.shape[0]


def ref_simcse(z1, z2, tau):
    """−(1/N) Σ_i log [exp(sim(h_i, h_i⁺)/τ) / Σ_j exp(sim(h_i, h_j⁺)/τ)] with cosine sim."""
    total = torch.zeros((), dtype=torch.float64)
    n = z1.shape[0]
    for i in range(n):
        sims = torch.stack([F.cosine_similarity(z1[i], z2[j], dim=0) for j in range(n)]) / tau
        total = total - (sims[i] - torch.log(torch.exp(sims).sum()))
    return total / n


# ----------------------------------------------------------------------------- corpus


def test_corpus_is_deterministic_and_seeded():
    a, b, c = make_corpus(500, seed=3), make_corpus(500, seed=3), make_corpus(500, seed=4)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.lengths, b.lengths)
    assert not torch.equal(a.tokens, c.tokens)
    assert a.vocab.words == c.vocab.words  # the vocabulary does not depend on the seed


def test_corpus_ground_truth(corpus):
    vocab = corpus.vocab
    assert len(set(vocab.words)) == len(vocab.words), "a word appears twice in the vocabulary"
    assert vocab.words[0] == "<pad>" and int(vocab.counts[0]) == 0
    assert int(vocab.counts.sum()) == corpus.n_tokens == int((corpus.tokens != 0).sum())
    assert 20_000 < corpus.n_tokens < 30_000  # ≈ 8.5 tokens per sentence
    # padding only after the sentence ends
    pos = torch.arange(corpus.tokens.shape[1])
    assert torch.equal(corpus.tokens != 0, pos < corpus.lengths[:, None])
    # every sentence's noun belongs to its group, and the text follows its template
    for i in range(0, len(corpus), 97):
        words = corpus.sentence(i).split()
        template = TEMPLATES[int(corpus.template[i])].split()
        assert len(words) == len(template)
        noun = words[template.index("{noun}")]
        assert noun in GROUPS[list(GROUPS)[int(corpus.group[i])]][0]
    pairs, same = word_pairs(vocab)
    assert pairs.shape == (2016, 2) and int(same.sum()) == 8 * 28


def test_paraphrase_set():
    p, partner = paraphrase_set(64, seed=2)
    assert len(p) == 128 and torch.equal(partner[partner], torch.arange(128))
    assert torch.equal(p.meaning[:64], p.meaning[64:]) and torch.equal(p.group[:64], p.group[64:])
    assert bool((p.template[:64] != p.template[64:]).all()), "a paraphrase must use another template"
    key = p.group[:64] * 1000 + p.meaning[:64] @ torch.tensor([100, 10, 3, 1])
    assert len(torch.unique(key)) == 64, "meanings must be distinct"
    same_words = [sorted(p.sentence(i).split()) == sorted(p.sentence(i + 64).split()) for i in range(64)]
    assert not all(same_words)
    q, _ = paraphrase_set(64, seed=2, synonyms=True)
    assert sum(q.sentence(i) != p.sentence(i) for i in range(64, 128)) > 0
    with pytest.raises(ValueError, match="n_meanings"):
        paraphrase_set(1)


def test_vocab_encode_decode(corpus):
    ids = corpus.vocab.encode("the furry cat runs")
    assert corpus.vocab.decode(ids) == "the furry cat runs"
    with pytest.raises(ValueError, match="unknown words"):
        corpus.vocab.encode("the purple cat")


# ----------------------------------------------------------------------------- word2vec


def test_skipgram_pairs_match_a_loop():
    tokens = torch.tensor([[5, 6, 7, 8, 0], [9, 10, 0, 0, 0]])
    lengths = torch.tensor([4, 2])
    c, o = skipgram_pairs(tokens, lengths, window=2)
    got = sorted(zip(c.tolist(), o.tolist()))
    want = []
    for s in range(2):
        for i in range(int(lengths[s])):
            for j in range(int(lengths[s])):
                if i != j and abs(i - j) <= 2:
                    want.append((int(tokens[s, i]), int(tokens[s, j])))
    assert got == sorted(want)
    with pytest.raises(ValueError, match="window"):
        skipgram_pairs(tokens, lengths, window=0)


def test_unigram_sampler_distribution():
    counts = torch.tensor([0, 1000, 100, 10, 1])
    p = unigram_distribution(counts)
    want = counts.double().pow(0.75) / counts.double().pow(0.75).sum()
    torch.testing.assert_close(p.double(), want, rtol=1e-6, atol=1e-7)
    g = torch.Generator().manual_seed(0)
    draws = sample_negatives(p, 2000, 10, generator=g)
    assert draws.shape == (2000, 10) and int(draws.min()) >= 1  # padding (count 0) is never drawn
    freq = torch.bincount(draws.flatten(), minlength=5).double() / draws.numel()
    assert float((freq - want).abs().max()) < 0.01
    # the 0.75 power flattens: the rare words get more than their unigram share
    assert float(p[4]) > 1 / 1111
    with pytest.raises(ValueError, match="counts"):
        unigram_distribution(torch.tensor([-1, 2]))
    # power 0 is uniform over the words that occur (problem set 12 uses it); padding stays at 0
    torch.testing.assert_close(unigram_distribution(counts, 0.0), torch.tensor([0.0, 0.25, 0.25, 0.25, 0.25]))
    with pytest.raises(ValueError, match="power"):
        unigram_distribution(counts, -0.5)


def test_sgns_loss_matches_reference_values_and_grads():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    n = torch.randn(6, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    got, want = sgns_loss(u, v, n), ref_sgns(u, v, n)
    torch.testing.assert_close(got, want)
    for a, b in zip(torch.autograd.grad(got, (u, v, n)), torch.autograd.grad(want, (u, v, n))):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(sgns_loss, (u, v, n))


def test_sgns_loss_is_stable_and_validates():
    u = torch.full((2, 3), 100.0)
    loss = sgns_loss(u, -u, u[:, None, :].repeat(1, 2, 1))  # log σ(−30000): naive log(sigmoid) = −inf
    assert torch.isfinite(loss) and float(loss) == pytest.approx(3 * 30000.0, rel=1e-6)
    with pytest.raises(ValueError, match=r"\(B, K, d\)"):
        sgns_loss(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="same B and d"):
        sgns_loss(torch.randn(4, 3), torch.randn(5, 3), torch.randn(4, 2, 3))


@settings(max_examples=20, deadline=None)
@given(b=st.integers(1, 5), k=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_sgns_loss_invariant_to_the_order_of_negatives(b, k, seed):
    g = torch.Generator().manual_seed(seed)
    u, v, n = (
        torch.randn(b, 4, generator=g),
        torch.randn(b, 4, generator=g),
        torch.randn(b, k, 4, generator=g),
    )
    perm = torch.randperm(k, generator=g)
    torch.testing.assert_close(sgns_loss(u, v, n), sgns_loss(u, v, n[:, perm]))


def test_skipgram_module_uses_both_tables():
    m = SkipGram(10, 4)
    assert float(m.context.weight.detach().abs().sum()) == 0.0  # word2vec initialises context vectors to 0
    loss = m(torch.tensor([1, 2]), torch.tensor([3, 4]), torch.tensor([[5, 6], [7, 8]]))
    assert loss.item() == pytest.approx(3 * math.log(2))  # all scores 0: each term is log 2


def test_word2vec_puts_same_group_words_closer(corpus):
    model, losses = train_word2vec(corpus, dim=16, epochs=1, batch_size=1024, lr=0.05, progress=False)
    assert losses[-1] < 0.7 * losses[0]
    pairs, same = word_pairs(corpus.vocab)
    before = pair_similarity(SkipGram(len(corpus.vocab), 16).vectors, pairs, same)
    after = pair_similarity(model.vectors, pairs, same)
    assert abs(before["gap"]) < 0.1
    assert after["gap"] > 0.3, f"same-group pairs should be ≥ 0.3 more cosine-similar: {after}"
    assert after["auc"] > 0.95
    top = [w for w, _ in nearest_words(model.vectors, corpus.vocab, "cat", k=3)]
    assert set(top) <= set(GROUPS["animal"][0]), f"nearest words of 'cat': {top}"


# ----------------------------------------------------------------------------- SimCSE


def test_simcse_loss_matches_reference_values_and_grads():
    g = torch.Generator().manual_seed(1)
    for n, tau in [(2, 0.05), (5, 0.5), (7, 1.0)]:
        z1 = torch.randn(n, 6, generator=g, dtype=torch.float64, requires_grad=True)
        z2 = torch.randn(n, 6, generator=g, dtype=torch.float64, requires_grad=True)
        got, want = simcse_loss(z1, z2, tau), ref_simcse(z1, z2, tau)
        torch.testing.assert_close(got, want)
        for a, b in zip(torch.autograd.grad(got, (z1, z2)), torch.autograd.grad(want, (z1, z2))):
            torch.testing.assert_close(a, b)


def test_simcse_loss_relations_to_other_losses():
    g = torch.Generator().manual_seed(2)
    z1, z2 = (
        torch.randn(8, 5, generator=g, dtype=torch.float64),
        torch.randn(8, 5, generator=g, dtype=torch.float64),
    )
    torch.testing.assert_close(
        simcse_loss(z1, z2, 0.1), info_nce(z1, z2, z2, 0.1, negative_mask=torch.eye(8, dtype=torch.bool))
    )
    assert not torch.allclose(simcse_loss(z1, z2, 0.1), nt_xent(z1, z2, 0.1))  # nt_xent has 2N − 2 negatives
    # chance level: equal similarities → log N
    torch.testing.assert_close(
        simcse_loss(torch.ones(8, 3), torch.ones(8, 3), 0.05), torch.tensor(math.log(8))
    )


def test_simcse_loss_bad_inputs():
    with pytest.raises(ValueError, match="temperature"):
        simcse_loss(torch.randn(4, 3), torch.randn(4, 3), 0.0)
    with pytest.raises(ValueError, match="same shape"):
        simcse_loss(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="N >= 2"):
        simcse_loss(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="2-D"):
        simcse_loss(torch.randn(4), torch.randn(4))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 9), seed=st.integers(0, 10_000))
def test_simcse_loss_invariant_to_permuting_the_batch_jointly(n, seed):
    g = torch.Generator().manual_seed(seed)
    z1, z2 = (
        torch.randn(n, 4, generator=g, dtype=torch.float64),
        torch.randn(n, 4, generator=g, dtype=torch.float64),
    )
    perm = torch.randperm(n, generator=g)
    torch.testing.assert_close(simcse_loss(z1, z2, 0.2), simcse_loss(z1[perm], z2[perm], 0.2))


def test_sentence_encoder_dropout_gives_two_views():
    torch.manual_seed(0)
    enc = SentenceEncoder(20, dim=8, out_dim=4, dropout=0.1)
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    assert not torch.allclose(enc(x), enc(x)), "train mode: two passes should differ (dropout)"
    torch.testing.assert_close(encode(enc, x), encode(enc, x))
    assert enc.training, "encode() must restore the training mode"
    torch.testing.assert_close(encode(enc, x)[1], encode(enc, x[1:, :2])[0])  # padding does not count
    with pytest.raises(ValueError, match="dropout"):
        SentenceEncoder(20, dropout=1.0)


def test_retrieval_metrics():
    e = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    r = paraphrase_retrieval(e, torch.tensor([1, 0, 3, 2]))
    assert r["recall@1"] == 100.0 and r["mrr"] == 1.0
    r = paraphrase_retrieval(e, torch.tensor([2, 3, 0, 1]))  # ranks of the "paraphrase": 3, 2, 3, 2
    assert r["recall@1"] == 0.0 and r["recall@5"] == 100.0 and r["mrr"] == pytest.approx(5 / 12)
    bow = bag_of_words(torch.tensor([[3, 3, 1, 0]]), 5)
    assert bow.tolist() == [[0.0, 1.0, 0.0, 2.0, 0.0]]
    with pytest.raises(ValueError, match="partner"):
        paraphrase_retrieval(e, torch.tensor([1, 0]))


def test_simcse_training_improves_paraphrase_retrieval(corpus):
    p, partner = paraphrase_set(128, seed=1)
    torch.manual_seed(0)
    enc = SentenceEncoder(len(corpus.vocab), dim=64, dropout=0.1)
    before = paraphrase_retrieval(encode(enc, p.tokens), partner)
    losses = train_simcse(enc, corpus.tokens, epochs=2, batch_size=64, temperature=0.05, progress=False)
    after = paraphrase_retrieval(encode(enc, p.tokens), partner)
    assert losses[-1] < 0.5 * losses[0]
    assert after["recall@1"] >= before["recall@1"] + 5, f"before {before}, after {after}"
    assert after["mrr"] >= before["mrr"] + 0.1, f"before {before}, after {after}"
