"""CERT-style augmentation, DeCLUTR span sampling and CPC with a context network (cssl_edu.text):
properties of the samplers, the CPC loss against a float64 loop reference (values and gradients),
and short trainings that must beat their baselines."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cssl_edu.text import (
    SentenceEncoder,
    build_vocab,
    encode,
    make_corpus,
    paraphrase_retrieval,
    paraphrase_set,
)
from cssl_edu.text.cert import augment_tokens, synonym_table, train_cert
from cssl_edu.text.cpc import CPC, cpc_loss, cpc_step_losses, make_signals, train_cpc
from cssl_edu.text.declutr import gather_spans, make_documents, sample_spans, train_declutr

f64 = torch.float64


# --------------------------------------------------------------------------- CERT-style augmentation
def test_synonym_table_pairs_the_verbs_and_is_an_involution():
    vocab = build_vocab()
    table = synonym_table(vocab)
    assert vocab.words[int(table[vocab.index["runs"]])] == "sprints"
    assert vocab.words[int(table[vocab.index["sprints"]])] == "runs"
    assert int(table[vocab.index["cat"]]) == vocab.index["cat"]
    assert torch.equal(table[table], torch.arange(len(vocab)))


def test_augment_each_operation_alone():
    corpus = make_corpus(200, seed=3)
    syn = synonym_table(corpus.vocab)
    x, n = corpus.tokens, corpus.lengths
    same, n_same = augment_tokens(x, n, syn, p_synonym=0, p_swap=0, p_delete=0)
    assert torch.equal(same, x) and torch.equal(n_same, n)
    all_syn, n_syn = augment_tokens(x, n, syn, p_synonym=1, p_swap=0, p_delete=0)
    assert torch.equal(all_syn, syn[x]) and torch.equal(n_syn, n)  # every verb swapped for its synonym
    swapped, _ = augment_tokens(
        x, n, syn, p_synonym=0, p_swap=1, p_delete=0, generator=torch.Generator().manual_seed(0)
    )
    diff = (swapped != x).sum(1)
    assert bool(((diff == 0) | (diff == 2)).all())  # one adjacent pair exchanged (or two equal words)
    assert torch.equal(swapped.sort(1).values, x.sort(1).values)  # the same words
    g = torch.Generator().manual_seed(1)
    cut, n_cut = augment_tokens(x, n, syn, p_synonym=0, p_swap=0, p_delete=0.5, generator=g)
    assert bool((n_cut >= 1).all()) and bool((n_cut <= n).all())
    for i in range(20):  # what is left is a subsequence of the sentence, padded after it
        kept, words = cut[i, : n_cut[i]].tolist(), x[i, : n[i]].tolist()
        it = iter(words)
        assert all(w in it for w in kept) and bool((cut[i, n_cut[i] :] == 0).all())


@settings(max_examples=30, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.integers(0, 10_000))
def test_augment_properties(p_syn, p_swap, p_del, seed):
    corpus = make_corpus(32, seed=seed)
    syn = synonym_table(corpus.vocab)

    def augment():  # the same seed every call: the result must repeat
        return augment_tokens(
            corpus.tokens,
            corpus.lengths,
            syn,
            p_synonym=p_syn,
            p_swap=p_swap,
            p_delete=p_del,
            generator=torch.Generator().manual_seed(seed),
        )

    out, n = augment()
    assert out.shape == corpus.tokens.shape and bool((n >= 1).all()) and bool((n <= corpus.lengths).all())
    pos = torch.arange(out.shape[1])
    assert bool(((out != 0) == (pos < n[:, None])).all())  # words packed left, then padding
    # only words of the sentence or their synonyms appear
    allowed = torch.cat([corpus.tokens, syn[corpus.tokens]], 1)
    assert all(set(out[i, : n[i]].tolist()) <= set(allowed[i].tolist()) for i in range(len(out)))
    again, _ = augment()
    assert torch.equal(out, again)


def test_augment_bad_input():
    syn = synonym_table(build_vocab())
    with pytest.raises(ValueError, match="p_delete"):
        augment_tokens(torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 3]), syn, p_delete=1.5)
    with pytest.raises(ValueError, match="int64"):
        augment_tokens(torch.ones(2, 3), torch.tensor([3, 3]), syn)
    with pytest.raises(ValueError, match="lengths"):
        augment_tokens(torch.ones(2, 3, dtype=torch.long), torch.tensor([0, 3]), syn)


# --------------------------------------------------------------------------- DeCLUTR spans
def test_documents_are_about_one_entity():
    docs = make_documents(20, sentences_per_doc=3, seed=0)
    vocab = docs.vocab
    from cssl_edu.text.corpus import GROUPS

    for i in range(20):
        words = docs.text(i).split()
        nouns, adjs = GROUPS[list(GROUPS)[int(docs.group[i])]][:2]
        assert {w for w in words if w in nouns} == {nouns[int(docs.entity[i, 0])]}
        assert {w for w in words if w in adjs} == {adjs[int(docs.entity[i, 1])]}
        assert len(words) == int(docs.lengths[i]) and bool((docs.tokens[i, docs.lengths[i] :] == 0).all())
    assert int(docs.vocab.counts.sum()) == int(docs.lengths.sum()) and vocab.words[0] == "<pad>"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(4, 60), min_size=1, max_size=30),
    st.integers(1, 4),
    st.integers(4, 20),
    st.integers(0, 9999),
)
def test_spans_lie_inside_and_positives_touch_their_anchor(lengths, n_pos, max_len, seed):
    lengths = torch.tensor(lengths)
    a_s, a_l, p_s, p_l = sample_spans(
        lengths, min_len=3, max_len=max_len, n_positives=n_pos, generator=torch.Generator().manual_seed(seed)
    )
    cap = lengths.clamp(max=max_len)
    assert bool(((a_l >= 3) & (a_l <= cap)).all()) and bool(((p_l >= 3) & (p_l <= cap[:, None])).all())
    assert bool((a_s >= 0).all()) and bool((a_s + a_l <= lengths).all())
    assert bool((p_s >= 0).all()) and bool((p_s + p_l <= lengths[:, None]).all())
    # overlapping, adjacent or subsumed: the positive starts no later than the anchor's end and
    # ends no earlier than the anchor's start
    assert bool((p_s <= (a_s + a_l)[:, None]).all()) and bool((p_s + p_l >= a_s[:, None]).all())


def test_span_lengths_follow_the_beta_laws_and_gather():
    lengths = torch.full((20_000,), 40)
    _, a_l, _, p_l = sample_spans(lengths, min_len=2, max_len=32, generator=torch.Generator().manual_seed(0))
    # ℓ = ⌊p (ℓ_max − ℓ_min)⌋ + ℓ_min: E[p_a] = 4/6 (Beta(4, 2)), E[p_p] = 2/6 (Beta(2, 4))
    frac_a = (a_l - 2 + 0.5).double().mean() / 30
    frac_p = (p_l - 2 + 0.5).double().mean() / 30
    assert abs(float(frac_a) - 4 / 6) < 0.01 and abs(float(frac_p) - 2 / 6) < 0.01
    tokens = torch.arange(1, 41).expand(3, 40).contiguous()
    got = gather_spans(tokens, torch.tensor([0, 5, 30]), torch.tensor([3, 1, 10]))
    assert got.tolist() == [[1, 2, 3] + [0] * 7, [6] + [0] * 9, list(range(31, 41))]
    with pytest.raises(ValueError, match="min_len"):
        sample_spans(torch.tensor([2, 10]), min_len=3)


# --------------------------------------------------------------------------- CPC
def _ref_cpc(preds, z, tau):
    """L = mean_k −(1/N) Σ_i log softmax_j(cos(p_i, q_j)/τ)_i over all (sequence, time) pairs, loops."""
    total = 0
    for k, p in enumerate(preds, start=1):
        pf, qf = p.reshape(-1, p.shape[-1]), z[:, k:].reshape(-1, z.shape[-1])
        n = pf.shape[0]
        lk = 0
        for i in range(n):
            s = torch.stack([(pf[i] @ qf[j]) / (pf[i].norm() * qf[j].norm()) / tau for j in range(n)])
            lk = lk - (s[i] - torch.logsumexp(s, 0))
        total = total + lk / n
    return total / len(preds)


@pytest.mark.parametrize(("b", "t", "k", "tau"), [(2, 5, 1, 0.1), (3, 6, 3, 0.5), (4, 4, 2, 1.0)])
def test_cpc_loss_matches_reference_values_and_gradients(b, t, k, tau):
    g = torch.Generator().manual_seed(b * 10 + t)
    z = torch.randn(b, t, 5, generator=g, dtype=f64, requires_grad=True)
    preds = [torch.randn(b, t - j, 5, generator=g, dtype=f64, requires_grad=True) for j in range(1, k + 1)]
    got = cpc_loss(preds, z, tau)
    want = _ref_cpc(preds, z, tau)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for a, b_ in zip(torch.autograd.grad(got, [z, *preds]), torch.autograd.grad(want, [z, *preds])):
        torch.testing.assert_close(a, b_, rtol=1e-9, atol=1e-11)
    assert cpc_step_losses(preds, z, tau).shape == (k,)


def test_cpc_model_shapes_context_switch_and_chance_level():
    x, f = make_signals(4, 128, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 128) and bool(((f >= 0.02) & (f < 0.12)).all())
    with_ctx, without = CPC(window=16, dim=8, k_ahead=2), CPC(window=16, dim=8, k_ahead=2, context=False)
    z, c = with_ctx(x)
    assert z.shape == c.shape == (4, 8, 8) and not torch.equal(z, c)
    z0, c0 = without(x)
    assert torch.equal(z0, c0)  # no context network: c_t = z_t
    preds = with_ctx.predictions(c)
    assert [p.shape[1] for p in preds] == [7, 6]
    # identical candidates: every score ties, the loss is the chance level log N
    flat = torch.ones(2, 5, 3)
    assert math.isclose(float(cpc_loss([torch.ones(2, 4, 3)], flat)), math.log(8), rel_tol=1e-6)
    with pytest.raises(ValueError, match="length"):
        with_ctx(torch.randn(2, 40))
    with pytest.raises(ValueError, match="shape"):
        cpc_loss([torch.ones(2, 3, 3)], flat)


@pytest.mark.slow
def test_context_network_reads_the_latent_better_than_one_window(one_thread):
    """Measured here: k-NN R² of the frequency 0.88 from c_t with the GRU vs 0.50 from z_t (noise 1.0)."""
    (xtr, ftr), (xte, fte) = (
        make_signals(256, noise=1.0, generator=torch.Generator().manual_seed(s)) for s in (10, 11)
    )

    def r2(model, use_c):
        model.eval()
        with torch.no_grad():
            htr, hte = (F.normalize(model(xx)[1 if use_c else 0][:, 7], dim=1) for xx in (xtr, xte))
        pred = ftr[(hte @ htr.T).topk(5, dim=1).indices].mean(1)
        return 1 - float(((pred - fte) ** 2).sum() / ((fte - fte.mean()) ** 2).sum())

    torch.manual_seed(0)
    model = CPC(window=16, dim=32, k_ahead=3, context=True)
    losses = train_cpc(model, steps=200, batch_size=32, noise=1.0, progress=False)
    assert sum(losses[-10:]) < sum(losses[:10])
    assert r2(model, use_c=True) > r2(model, use_c=False) + 0.15


# --------------------------------------------------------------------------- training: CERT and DeCLUTR
@pytest.mark.slow
def test_cert_and_declutr_learn_synonyms_that_dropout_cannot(one_thread):
    """Measured here (MRR, paraphrase with a synonym verb): untrained 0.19, CERT 0.36, DeCLUTR 0.39."""
    corpus = make_corpus(3000, seed=0)
    hard, partner = paraphrase_set(128, seed=1, synonyms=True)

    def mrr(enc):
        return paraphrase_retrieval(encode(enc, hard.tokens), partner)["mrr"]

    torch.manual_seed(0)
    untrained = SentenceEncoder(len(corpus.vocab), dim=64, out_dim=64)
    base = mrr(untrained)
    cert = SentenceEncoder(len(corpus.vocab), dim=64, out_dim=64)
    cert.load_state_dict(untrained.state_dict())
    train_cert(cert, corpus.tokens, corpus.lengths, synonym_table(corpus.vocab), epochs=3, progress=False)
    declutr = SentenceEncoder(len(corpus.vocab), dim=64, out_dim=64)
    declutr.load_state_dict(untrained.state_dict())
    train_declutr(declutr, make_documents(750, 4, seed=0), epochs=12, progress=False)
    assert mrr(cert) > base + 0.08 and mrr(declutr) > base + 0.08, (base, mrr(cert), mrr(declutr))
