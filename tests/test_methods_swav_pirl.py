"""SwAV (prototypes, multi-crop, queue, frozen prototypes) and PIRL (jigsaw, memory bank, the
λ-weighted NCE pair): the methods' losses against float64 references written from the papers'
formulas, their state updates, and both running through the trainer and the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cssl_edu.augment import SimCLRAugment
from cssl_edu.cli import main
from cssl_edu.config import make_config
from cssl_edu.data import make_shapes
from cssl_edu.methods import PIRL, SwAV, build_method, jigsaw
from cssl_edu.models import build_backbone
from cssl_edu.train import Trainer, load_checkpoint

f64 = torch.float64
SMALL = {"proj_hidden_dim": 32, "proj_out_dim": 16}


def _swav(**kw) -> SwAV:
    torch.manual_seed(0)
    return SwAV(build_backbone("convnet"), num_prototypes=6, **{**SMALL, **kw}).double()


def _crops(b: int = 6, n_small: int = 2, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    big = [torch.randn(b, 3, 32, 32, generator=g, dtype=f64) for _ in range(2)]
    return big + [torch.randn(b, 3, 16, 16, generator=g, dtype=f64) for _ in range(n_small)]


def _ref_sinkhorn(s: torch.Tensor, eps: float, iters: int) -> torch.Tensor:
    q = torch.exp(s.detach() / eps).T
    k, b = q.shape
    q = q / q.sum()
    for _ in range(iters):
        q = q / q.sum(1, keepdim=True) / k
        q = q / q.sum(0, keepdim=True) / b
    return (q * b).T


def _ref_swav_method_loss(m: SwAV, views: list[torch.Tensor], prototypes: torch.Tensor) -> torch.Tensor:
    """The paper's recipe written out: normalise, score against the prototypes, swap codes."""
    b = views[0].shape[0]
    big = m.projector(m.backbone(torch.cat(views[:2])))  # one pass per resolution, as SwAV does
    small = m.projector(m.backbone(torch.cat(views[2:])))
    z = torch.cat([big, small])
    z = z / z.norm(dim=1, keepdim=True)
    s = (z @ prototypes.T).view(len(views), b, -1)
    total = 0
    for a in (0, 1):
        q = _ref_sinkhorn(s[a], m.epsilon, m.sinkhorn_iters)
        sub = sum(
            -(q * torch.log_softmax(s[v] / m.temperature, dim=1)).sum(1).mean()
            for v in range(len(views))
            if v != a
        )
        total = total + sub / (len(views) - 1)
    return total / 2


# --------------------------------------------------------------------------- SwAV
def test_swav_loss_and_gradients_match_the_recipe_written_out():
    m = _swav(temperature=0.1)
    with torch.no_grad():  # prototypes off the sphere: the method must re-normalise them first
        m.prototypes.weight.mul_(torch.linspace(0.5, 3, 6, dtype=f64).unsqueeze(1))
    w = m.prototypes.weight.detach().clone()
    views = _crops()
    out = m(views)["loss"]
    torch.testing.assert_close(m.prototypes.weight.norm(dim=1), torch.ones(6, dtype=f64))
    torch.testing.assert_close(out, _ref_swav_method_loss(m, views, w / w.norm(dim=1, keepdim=True)))
    # gradients of every parameter, prototypes included (unit rows now; the step's
    # normalisation is not part of the graph, as in the official code)
    params = [p for _, p in m.named_parameters()]
    g_out = torch.autograd.grad(m(views)["loss"], params)
    g_ref = torch.autograd.grad(_ref_swav_method_loss(m, views, m.prototypes.weight), params)
    for (name, _), a, b in zip(m.named_parameters(), g_out, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10, msg=name)
    assert float(g_out[-1].abs().max()) > 0  # the prototypes learn


def test_swav_prototypes_frozen_for_the_first_steps():
    m = _swav(freeze_prototypes_steps=2)
    for step in range(4):
        m.zero_grad()
        m(_crops(seed=step))["loss"].backward()
        g = m.prototypes.weight.grad
        assert g is not None  # a zero gradient, not None: DDP sees every parameter used
        frozen = step < 2
        assert (float(g.abs().max()) == 0.0) == frozen, (step, float(g.abs().max()))
        assert float(m.projector.net[0].weight.grad.abs().max()) > 0
        m.on_train_step_end(step + 1, (step + 1) / 4)
    assert int(m.steps) == 4 and "steps" in m.state_dict()


def test_swav_queue_fills_then_joins_the_sinkhorn_step():
    from cssl_edu.losses import swav_loss

    m = _swav(queue_size=12, queue_start_epoch=1)
    views = _crops(b=6)
    m(views)
    assert int(m.queues[0].count) == 0  # epoch 0 < queue_start_epoch: not even filled
    m.current_epoch = 1
    m(views)
    assert int(m.queues[0].count) == 6 and not m.queues[0].full
    m(_crops(b=6, seed=1))  # now full (12 rows): used from the next step on
    assert m.queues[0].full and m.queues[1].full
    stored = torch.stack([q.negatives().clone() for q in m.queues])  # (2, 12, d)
    with torch.no_grad():
        z = m.embed(views)
        w = F.normalize(m.prototypes.weight, dim=1)
        scores = (z @ w.T).view(4, 6, -1)
        want = swav_loss(scores, m.temperature, m.epsilon, m.sinkhorn_iters, queue_scores=stored @ w.T)
        without = swav_loss(scores, m.temperature, m.epsilon, m.sinkhorn_iters)
        got = m(views)["loss"]
    torch.testing.assert_close(got, want)
    assert not torch.allclose(got, without)  # the queued rows change the codes of the batch
    # the batch's own features were enqueued after the loss, crop 0 in queue 0 and crop 1 in queue 1
    newest = torch.stack([torch.cat([q.keys[int(q.ptr) :], q.keys[: int(q.ptr)]])[-6:] for q in m.queues])
    torch.testing.assert_close(newest, z.view(4, 6, -1)[:2])


def test_swav_multi_crop_views_and_validation():
    m = SwAV(build_backbone("convnet"), num_prototypes=5, n_small_crops=3, small_crop_size=12, **SMALL)
    assert m.n_views == 5
    aug = SimCLRAugment(32, crop_scale=(0.5, 1.0))
    images = make_shapes(4, seed=0).images
    views = m.make_views(images, aug, torch.Generator().manual_seed(0))
    assert [tuple(v.shape) for v in views] == [(4, 3, 32, 32)] * 2 + [(4, 3, 12, 12)] * 3
    assert aug.config.image_size == 32  # the trainer's augmentation is untouched
    # the small crops come from the same recipe with the small crops' area range
    small = m.small_augment(aug)
    assert small.config.crop_scale == (0.05, 0.14) and small.config.jitter_p == aug.config.jitter_p
    with pytest.raises(ValueError, match="expects 5 views"):
        m(views[:2])
    for bad in (
        {"num_prototypes": 0},
        {"n_small_crops": -1},
        {"small_crop_scale": (0.5, 0.2)},
        {"queue_size": 1.5},
    ):
        with pytest.raises(ValueError):
            SwAV(build_backbone("convnet"), **{**SMALL, **bad})


# --------------------------------------------------------------------------- PIRL
def test_jigsaw_cuts_cells_and_permutes_them():
    x = torch.arange(2 * 3 * 12 * 12, dtype=torch.float32).view(2, 3, 12, 12)
    patches, order = jigsaw(x, grid=3, patch_size=3, generator=torch.Generator().manual_seed(0))
    assert patches.shape == (2, 9, 3, 3, 3)
    for b in range(2):
        assert sorted(order[b].tolist()) == list(range(9))
        for j in range(9):
            r, c = divmod(int(order[b, j]), 3)
            cell = x[b, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4]
            p = patches[b, j]
            # the patch is a contiguous 3×3 window inside its 4×4 cell
            found = any(torch.equal(p, cell[:, i : i + 3, k : k + 3]) for i in range(2) for k in range(2))
            assert found, (b, j)
    assert not torch.equal(order[0], torch.arange(9)) or not torch.equal(order[1], torch.arange(9))
    with pytest.raises(ValueError, match="grid"):
        jigsaw(x, grid=13)
    with pytest.raises(ValueError, match="patch_size"):
        jigsaw(x, grid=3, patch_size=5)


def _ref_pirl_loss(f_i, g_t, bank_pos, negatives, mask, tau, log_z, dataset_size, lam):
    """PIRL eq. (4)-(5) with h(u, v) = p(u, v) / (p(u, v) + N/|D|), p = exp(s/τ)/Z, loops over samples."""
    n_neg = negatives.shape[0]

    def h(a, b):
        p = torch.exp(torch.dot(a, b) / tau - log_z)
        return p / (p + n_neg / dataset_size)

    def l_nce(v):
        total = 0
        for i in range(v.shape[0]):
            total = total - torch.log(h(bank_pos[i], v[i]))
            for j in range(n_neg):
                if not mask[i, j]:
                    total = total - torch.log(1 - h(negatives[j], v[i]))
        return total / v.shape[0]

    return lam * l_nce(g_t) + (1 - lam) * l_nce(f_i)


def _small_pirl(loss: str = "nce") -> PIRL:
    """A float64 PIRL on 40 images, N = 7, τ = 0.2, λ = 0.3, 2 × 2 jigsaw, d = 8 (seeded)."""
    torch.manual_seed(0)
    m = PIRL(
        build_backbone("convnet"),
        dataset_size=40,
        num_negatives=7,
        temperature=0.2,
        lam=0.3,
        jigsaw_grid=2,
        proj_out_dim=8,
        loss=loss,
    )
    return m.double()


def _replay_draws(m: PIRL, x: list, idx: torch.Tensor, seed: int = 1):
    """Forward's random draws replayed with the same seed: the jigsaw's offsets and order, then
    the bank's negatives. Returns f(v_I), g(v_I^t), the negatives' rows and the own-row mask."""
    torch.manual_seed(seed)
    f_i = m.embed_image(x[0])
    g_t = m.embed_jigsaw(x[1])
    neg_idx = torch.randint(m.memory.bank.shape[0], (m.num_negatives,))
    return f_i, g_t, neg_idx, idx.view(-1, 1) == neg_idx.view(1, -1)


def test_pirl_loss_matches_the_papers_nce_pair_and_updates_the_bank():
    m = _small_pirl()
    x = _crops(b=4, n_small=0)
    idx = torch.tensor([0, 5, 9, 13])
    bank_before = m.memory.bank.clone()
    torch.manual_seed(1)
    out = m(x, None, idx)
    assert torch.isfinite(m.log_z)
    f_i, g_t, neg_idx, mask = _replay_draws(m, x, idx)
    ref = _ref_pirl_loss(f_i, g_t, bank_before[idx], bank_before[neg_idx], mask, 0.2, float(m.log_z), 40, 0.3)
    torch.testing.assert_close(out["loss"], ref, rtol=1e-9, atol=1e-11)
    # the bank moved towards f(v_I) for exactly the batch's rows
    want = F.normalize(0.5 * bank_before[idx] + 0.5 * f_i.detach(), dim=1)
    torch.testing.assert_close(m.memory.bank[idx], want)
    rest = torch.ones(40, dtype=torch.bool)
    rest[idx] = False
    torch.testing.assert_close(m.memory.bank[rest], bank_before[rest])
    # log Z is estimated once: the first batch's mean of exp(s/τ) times |D|
    log_z = float(m.log_z)
    m(x, None, idx)
    assert float(m.log_z) == log_z
    assert math.isclose(log_z, math.log(40), abs_tol=3.0)


def _ref_pirl_infonce(f_i, g_t, bank_pos, negatives, mask, tau, lam):
    """λ·InfoNCE(m_I, g(v_I^t)) + (1 − λ)·InfoNCE(m_I, f(v_I)): softmax over the positive and the unmasked
    negatives, written per sample from the formula (no normaliser Z)."""

    bank_pos, negatives = F.normalize(bank_pos, dim=1), F.normalize(negatives, dim=1)  # s is the cosine

    def term(v):
        total = 0
        for i in range(v.shape[0]):
            logits = [torch.dot(bank_pos[i], v[i]) / tau]
            logits += [
                torch.dot(negatives[j], v[i]) / tau for j in range(negatives.shape[0]) if not mask[i, j]
            ]
            logits = torch.stack(logits)
            total = total - (logits[0] - torch.log(torch.exp(logits).sum()))
        return total / v.shape[0]

    return lam * term(g_t) + (1 - lam) * term(f_i)


def test_pirl_infonce_matches_a_per_sample_reference_in_value_and_gradient():
    m = _small_pirl("infonce")
    x = _crops(b=4, n_small=0)
    idx = torch.tensor([0, 5, 9, 13])
    m.memory.bank[9] = m.memory.bank[13]  # a repeated row must not change anything but the scores
    bank_before = m.memory.bank.clone()
    params = [p for p in m.parameters() if p.requires_grad]
    torch.manual_seed(1)
    out = m(x, None, idx)
    grads = torch.autograd.grad(out["loss"], params)
    assert torch.isnan(m.log_z), "the InfoNCE form needs no normaliser Z"
    f_i, g_t, neg_idx, mask = _replay_draws(m, x, idx)
    ref = _ref_pirl_infonce(f_i, g_t, bank_before[idx], bank_before[neg_idx], mask, 0.2, 0.3)
    ref_grads = torch.autograd.grad(ref, params)
    torch.testing.assert_close(out["loss"], ref, rtol=1e-9, atol=1e-11)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10)
    with pytest.raises(ValueError, match="loss"):
        PIRL(build_backbone("convnet"), dataset_size=10, loss="softmax")


def test_pirl_gradients_reach_encoder_and_both_heads_and_validation():
    m = build_method("pirl", build_backbone("convnet"), dataset_size=30, num_negatives=8, proj_out_dim=8)
    x = [v.float() for v in _crops(b=4, n_small=0)]
    out = m(x, None, torch.arange(4))
    out["loss"].backward()
    for name in ("backbone.features.0.weight", "head_f.weight", "head_g.mix.weight", "head_g.patch.weight"):
        assert float(dict(m.named_parameters())[name].grad.abs().sum()) > 0, name
    assert {"nce_jigsaw", "nce_image"} <= set(out)
    with pytest.raises(ValueError, match="dataset_size"):
        PIRL(build_backbone("convnet"))
    with pytest.raises(ValueError, match="indices"):
        m(x, None, None)
    with pytest.raises(ValueError, match="lam"):
        PIRL(build_backbone("convnet"), dataset_size=10, lam=1.5)


# --------------------------------------------------------------------------- trainer and CLI
@pytest.mark.parametrize(
    ("method", "kw"),
    [
        ("swav", {"num_prototypes": 20, "queue_size": 64, "freeze_prototypes_steps": 2}),
        ("pirl", {"num_negatives": 64, "jigsaw_grid": 2}),
    ],
)
def test_method_trains_and_resumes_exactly(method: str, kw: dict, tmp_path: Path, one_thread) -> None:
    train, test = make_shapes(128, seed=0), make_shapes(64, seed=0, split="test")
    cfg = make_config(
        "cpu",
        method=method,
        n_train=128,
        epochs=2,
        batch_size=32,
        knn_every=0,
        out_dir=str(tmp_path / "a"),
        device="cpu",
        proj_hidden_dim=32,
        proj_out_dim=16,
        method_kwargs=kw,
    )
    full = Trainer(cfg, train_set=train, test_set=test, progress=False)
    full.fit()
    cfg_b = make_config(**{**cfg.to_dict(), "out_dir": str(tmp_path / "b")})
    part = Trainer(cfg_b, train_set=train, test_set=test, progress=False)
    part.fit(max_steps=5)
    resumed = Trainer(cfg_b, train_set=train, test_set=test, progress=False)
    resumed.fit(resume=True)
    assert len(full.history.step_loss) == 8 and all(math.isfinite(v) for v in full.history.step_loss)
    torch.testing.assert_close(torch.tensor(resumed.history.step_loss), torch.tensor(full.history.step_loss))
    if method == "swav":
        assert int(full.method.steps) == 8 and full.method.queues[0].full


def test_cli_trains_swav(tmp_path: Path) -> None:
    args = [
        "train",
        "--method",
        "swav",
        "--epochs",
        "1",
        "--n-train",
        "128",
        "--n-test",
        "64",
        "--batch-size",
        "64",
        "--proj-hidden-dim",
        "32",
        "--knn-k",
        "10",
        "--device",
        "cpu",
        "--profile",
        "cpu",
        "--method-kwargs",
        '{"num_prototypes": 10, "n_small_crops": 2}',
        "--out-dir",
        str(tmp_path),
    ]
    assert main(args) == 0
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["config"]["method"] == "swav" and state["step"] == 2
