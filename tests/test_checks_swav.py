"""The SwAV self-checks accept independent from-scratch solutions written the way a learner would."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cssl_edu import checks as C
from cssl_edu.losses import sinkhorn


def test_a_from_scratch_sinkhorn_in_the_papers_layout_passes(capsys: pytest.CaptureFixture[str]) -> None:
    @torch.no_grad()
    def my_sinkhorn(scores, epsilon, n_iters):
        q = torch.exp(scores / epsilon).T  # K × B, as in the paper
        k, b = q.shape
        q /= q.sum()
        for _ in range(n_iters):
            q /= q.sum(dim=1, keepdim=True)
            q /= k
            q /= q.sum(dim=0, keepdim=True)
            q /= b
        return (q * b).T

    C.check_sinkhorn(my_sinkhorn)
    assert "✓ check_sinkhorn passed" in capsys.readouterr().out


def test_a_from_scratch_swav_loss_and_scores_pass(capsys: pytest.CaptureFixture[str]) -> None:
    def my_swav(scores, temperature, epsilon, n_iters):
        v = scores.shape[0]
        loss = 0
        for c in (0, 1):
            q = sinkhorn(scores[c].detach(), epsilon, n_iters)
            for other in range(v):
                if other != c:
                    loss = loss - (q * F.log_softmax(scores[other] / temperature, dim=1)).sum(1).mean() / (
                        v - 1
                    )
        return loss / 2

    C.check_swav_loss(my_swav)
    C.check_prototype_scores(lambda z, c: F.normalize(z, dim=1) @ F.normalize(c, dim=1).T)
    out = capsys.readouterr().out
    assert "✓ check_swav_loss passed" in out and "✓ check_prototype_scores passed" in out


def test_a_sinkhorn_without_no_grad_is_named() -> None:
    def leaky(scores, epsilon, n_iters):
        q = torch.exp(scores / epsilon)
        b, k = q.shape
        for _ in range(n_iters):
            q = q / q.sum(0, keepdim=True) / k
            q = q / q.sum(1, keepdim=True) / b
        return q * b

    with pytest.raises(C.CheckFailed) as info:
        C.check_sinkhorn(leaky)
    assert info.value.bug == "gradient_through_q"
