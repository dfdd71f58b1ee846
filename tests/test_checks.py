"""The self-checks: the package passes them, every catalogued bug is named, stubs stay NotImplementedError."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from cssl_edu import checks as C
from cssl_edu.augment import SimCLRAugment
from cssl_edu.checks import bugs as B
from cssl_edu.checks.swav import prototype_scores_reference
from cssl_edu.eval.geometry import alignment, uniformity
from cssl_edu.losses import (
    info_nce,
    margin_contrastive_loss,
    mix_hard_negatives,
    nt_xent,
    sinkhorn,
    supcon,
    swav_loss,
    triplet_loss,
)
from cssl_edu.methods import KeyQueue, momentum_update

# bug group in bugs.BUGS -> the check that must catch its bugs
CHECKS: dict[str, Callable[[Any], None]] = {
    "nt_xent": C.check_nt_xent,
    "info_nce": C.check_info_nce,
    "supcon": C.check_supcon,
    "triplet": C.check_triplet,
    "triplet_hard": lambda f: C.check_triplet(f, mining="batch_hard"),
    "margin_contrastive": C.check_margin_contrastive,
    "alignment": C.check_alignment,
    "uniformity": C.check_uniformity,
    "moco_queue": C.check_moco_queue,
    "moco_step": C.check_moco_step,
    "momentum_update": C.check_momentum_update,
    "mix_hard_negatives": C.check_mix_hard_negatives,
    "augment": C.check_augment,
    "sinkhorn": C.check_sinkhorn,
    "swav_loss": C.check_swav_loss,
    "prototype_scores": C.check_prototype_scores,
}

# the package's own implementation of what each check expects
REFERENCE: dict[str, Any] = {
    "nt_xent": nt_xent,
    "info_nce": info_nce,
    "supcon": supcon,
    "triplet": triplet_loss,
    "triplet_hard": lambda e, y, m: triplet_loss(e, y, m, mining="batch_hard"),
    "margin_contrastive": margin_contrastive_loss,
    "alignment": alignment,
    "uniformity": uniformity,
    "moco_queue": KeyQueue,
    "moco_step": B.moco_step_reference,
    "momentum_update": momentum_update,
    "mix_hard_negatives": mix_hard_negatives,
    "augment": SimCLRAugment(32),
    "sinkhorn": sinkhorn,
    "swav_loss": swav_loss,
    "prototype_scores": prototype_scores_reference,
}

# the bugs shared by all losses: which check each one is fed to
COMMON_BUG_CHECK = {"nan_gradient": "triplet"}


def _all_bugs() -> list[tuple[str, str]]:
    return [(group, key) for group, bugs in B.BUGS.items() for key in bugs]


def test_every_check_has_bugs_and_every_bug_group_a_check() -> None:
    assert set(B.BUGS) - {B.COMMON} == set(CHECKS)
    for group in CHECKS:
        assert len(B.bugs_for(group)) >= 3, group


@pytest.mark.parametrize("group", sorted(CHECKS))
def test_the_package_passes_its_own_checks(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    CHECKS[group](REFERENCE[group])
    out = capsys.readouterr().out
    assert out.startswith("✓ check_") and "passed (" in out and "cases)" in out


@pytest.mark.parametrize(("group", "key"), _all_bugs())
def test_each_bug_is_named_by_its_check(group: str, key: str) -> None:
    bug = B.BUGS[group][key]
    check = CHECKS[COMMON_BUG_CHECK.get(key, "nt_xent")] if group == B.COMMON else CHECKS[group]
    impl = bug.impl() if isinstance(bug.impl, type) and group == "augment" else bug.impl
    with pytest.raises(C.CheckFailed) as info:
        check(impl)
    assert info.value.bug == key, f"{group}/{key} was diagnosed as {info.value.bug}: {info.value}"
    message = str(info.value)
    assert bug.title in message and bug.hint in message
    assert isinstance(info.value, AssertionError)


def test_bug_titles_are_distinct_within_a_check() -> None:
    for group, bugs in B.BUGS.items():
        titles = [b.title for b in bugs.values()]
        assert len(set(titles)) == len(titles), group


class _StubQueue:
    def __init__(self, size: int, dim: int) -> None:
        raise NotImplementedError("build the ring buffer")


def _stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("your code here")


@pytest.mark.parametrize("group", sorted(CHECKS))
def test_a_stub_gives_not_implemented_error(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    stub = _StubQueue if group == "moco_queue" else _stub
    with pytest.raises(NotImplementedError) as info:
        CHECKS[group](stub)
    assert not isinstance(info.value, C.CheckFailed)
    assert "not implemented yet" in capsys.readouterr().out


def test_an_unknown_bug_reports_where_and_by_how_much() -> None:
    with pytest.raises(C.CheckFailed) as info:
        C.check_nt_xent(lambda z1, z2, t: 1.5 * nt_xent(z1, z2, t))
    assert info.value.bug is None
    msg = str(info.value)
    assert "values differ by" in msg and "on case 'N=8, d=16, τ=0.5'" in msg and "expected" in msg


def test_an_exception_in_learner_code_is_reported_with_its_cause() -> None:
    def broken(z1: torch.Tensor, z2: torch.Tensor, t: float) -> torch.Tensor:
        return z1 @ z2  # (N, d) @ (N, d): a shape error

    with pytest.raises(C.CheckFailed) as info:
        C.check_nt_xent(broken)
    assert "your code raised RuntimeError" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_an_independent_from_scratch_implementation_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """A loop-and-exp NT-Xent written straight from the formula passes: the tolerance is not too tight."""

    def loop_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        n2 = z.shape[0]
        total = z.new_zeros(())
        for i in range(n2):
            p = (i + n2 // 2) % n2
            sims = torch.stack([z[i] @ z[k] / temperature for k in range(n2) if k != i])
            total = total - z[i] @ z[p] / temperature + torch.logsumexp(sims, 0)
        return total / n2

    C.check_nt_xent(loop_nt_xent)

    def my_momentum(online: torch.nn.Module, target: torch.nn.Module, m: float) -> None:
        with torch.no_grad():
            for po, pt in zip(online.parameters(), target.parameters()):
                pt.copy_(m * pt + (1 - m) * po)
            for bo, bt in zip(online.buffers(), target.buffers()):
                bt.copy_(bo)

    C.check_momentum_update(my_momentum)

    class ListQueue:  # newest-first concatenation: a different layout, the same negatives
        def __init__(self, size: int, dim: int) -> None:
            self.size, self.keys = size, torch.zeros(0, dim)

        def enqueue(self, keys: torch.Tensor) -> None:
            self.keys = torch.cat([keys.detach(), self.keys])[: self.size]

        def negatives(self) -> torch.Tensor:
            return self.keys

    C.check_moco_queue(ListQueue)
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("buffers", ["left alone", "copied", "averaged"])
def test_momentum_check_accepts_each_buffer_convention(
    buffers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The papers' EMA runs over parameters only; copying buffers is the package's convention."""

    def ema(online: torch.nn.Module, target: torch.nn.Module, m: float) -> None:
        with torch.no_grad():
            for po, pt in zip(online.parameters(), target.parameters()):
                pt.mul_(m).add_(po, alpha=1 - m)
            for bo, bt in zip(online.buffers(), target.buffers()):
                if buffers == "copied":
                    bt.copy_(bo)
                elif buffers == "averaged" and bt.is_floating_point():
                    bt.mul_(m).add_(bo, alpha=1 - m)

    C.check_momentum_update(ema)
    assert "✓ check_momentum_update passed" in capsys.readouterr().out


def test_momentum_check_still_fails_a_wrong_buffer_update() -> None:
    def ema_zeroing_buffers(online: torch.nn.Module, target: torch.nn.Module, m: float) -> None:
        momentum_update(online, target, m)
        for bt in target.buffers():
            bt.zero_()

    with pytest.raises(C.CheckFailed, match="target buffers"):
        C.check_momentum_update(ema_zeroing_buffers)


def test_mix_check_is_not_fooled_by_chance(capsys: pytest.CaptureFixture[str]) -> None:
    """The statistical parts (i ≠ j, α ~ U(0, 1), β ~ U(0, 0.5)) pass the package for many draws."""
    for seed in range(20):
        torch.manual_seed(seed)
        C.check_mix_hard_negatives(mix_hard_negatives)
    assert capsys.readouterr().out.count("✓") == 20


def test_mix_check_catches_a_narrow_alpha_and_a_fixed_beta() -> None:
    """Not only the catalogued extremes: α ~ U(0.3, 0.7) and β = 0.25 are caught too."""

    @torch.no_grad()
    def mix(
        q: torch.Tensor, neg: torch.Tensor, n_hard: int, s: int, sp: int, alpha_lo: float, beta: float | None
    ):
        qn, nn_ = F.normalize(q, dim=1), F.normalize(neg, dim=1)
        hard = nn_[(qn @ nn_.T).topk(n_hard, dim=1).indices]  # (N, n_hard, d)
        n, d = q.shape[0], q.shape[1]
        i = torch.randint(n_hard, (n, s))
        j = (i + 1 + torch.randint(max(n_hard - 1, 1), (n, s))) % n_hard
        a = alpha_lo + (1 - 2 * alpha_lo) * torch.rand(n, s, 1)
        pick = lambda idx, k: hard.gather(1, idx.unsqueeze(-1).expand(n, k, d))  # noqa: E731
        mixes = a * pick(i, s) + (1 - a) * pick(j, s)
        b = 0.5 * torch.rand(n, sp, 1) if beta is None else torch.full((n, sp, 1), beta)
        qmix = b * qn.unsqueeze(1) + (1 - b) * pick(torch.randint(n_hard, (n, sp)), sp)
        return F.normalize(torch.cat([mixes, qmix], 1), dim=-1)

    with pytest.raises(C.CheckFailed) as info:
        C.check_mix_hard_negatives(lambda *a: mix(*a, alpha_lo=0.3, beta=None))
    assert info.value.bug == "alpha_not_uniform"
    with pytest.raises(C.CheckFailed) as info:
        C.check_mix_hard_negatives(lambda *a: mix(*a, alpha_lo=0.0, beta=0.25))
    assert info.value.bug == "beta_not_uniform"


def test_wrong_shape_and_non_finite_messages() -> None:
    with pytest.raises(C.CheckFailed, match="expected \\(6, 10, 16\\)"):
        C.check_mix_hard_negatives(lambda q, n, h, s, sp: torch.zeros(q.shape[0], s, q.shape[1]))
    with pytest.raises(C.CheckFailed, match="expected \\(8, 3, 32, 32\\)"):
        C.check_augment(lambda x: x.float()[:, :, :16, :16] / 255)
    with pytest.raises(ValueError, match="mining"):
        C.check_triplet(triplet_loss, mining="semi_hard")


def test_checks_restore_the_thread_setting() -> None:
    before = torch.get_num_threads()
    C.check_nt_xent(nt_xent)
    assert torch.get_num_threads() == before


def test_difference_treats_matching_infinities_and_nans_as_equal() -> None:
    from cssl_edu.checks._core import difference

    a = torch.tensor([1.0, math.inf, math.nan])
    assert difference(a, a.clone()) is None
    assert difference(a, torch.tensor([1.0, -math.inf, math.nan])) == math.inf
    assert difference(torch.tensor(1.0), torch.tensor(1.0 + 1e-7)) is None
    assert difference(torch.tensor(1.0), torch.tensor(1.01)) is not None
