"""The evaluation self-checks of problem set 14: the references pass, every catalogued bug is named,
independent from-scratch solutions pass, stubs stay NotImplementedError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cssl_edu import checks as C
from cssl_edu.checks import evaluation as E
from cssl_edu.eval import knn_predict

CHECKS: dict[str, Callable[[Any], None]] = {
    "knn_leave_one_out": C.check_knn_leave_one_out,
    "extract_features": C.check_extract_features,
    "select_on_validation": C.check_select_on_validation,
}
REFERENCE: dict[str, Any] = {
    "knn_leave_one_out": E.knn_leave_one_out_reference,
    "extract_features": E.extract_features_reference,
    "select_on_validation": E.select_on_validation_reference,
}


def test_every_check_has_bugs_and_every_bug_group_a_check() -> None:
    assert set(C.EVAL_BUGS) == set(CHECKS)
    for group in CHECKS:
        assert len(C.EVAL_BUGS[group]) >= 3, group
        titles = [b.title for b in C.EVAL_BUGS[group].values()]
        assert len(set(titles)) == len(titles), group


@pytest.mark.parametrize("group", sorted(CHECKS))
def test_the_reference_passes_its_check(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    CHECKS[group](REFERENCE[group])
    out = capsys.readouterr().out
    assert out.startswith(f"✓ check_{group} passed (")


@pytest.mark.parametrize(("group", "key"), [(g, k) for g, bugs in E.EVAL_BUGS.items() for k in bugs])
def test_each_bug_is_named_by_its_check(group: str, key: str) -> None:
    bug = C.EVAL_BUGS[group][key]
    with pytest.raises(C.CheckFailed) as info:
        CHECKS[group](bug.impl)
    assert info.value.bug == key, f"{group}/{key} was diagnosed as {info.value.bug}: {info.value}"
    assert bug.title in str(info.value) and bug.hint in str(info.value)


def _stub(*args: Any) -> Any:
    raise NotImplementedError("your code here")


@pytest.mark.parametrize("group", sorted(CHECKS))
def test_a_stub_gives_not_implemented_error(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NotImplementedError) as info:
        CHECKS[group](_stub)
    assert not isinstance(info.value, C.CheckFailed)
    assert "not implemented yet" in capsys.readouterr().out


# ------------------------------------------------------------------ independent solutions, as a learner writes them
def test_a_float32_leave_one_out_knn_with_a_masked_diagonal_passes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def my_loo(features, labels, k, temperature):
        x = F.normalize(features, dim=1)
        sim = x @ x.T
        sim = sim - 10.0 * torch.eye(len(x))  # below any cosine: never a neighbour
        s, i = sim.topk(k, dim=1)
        votes = torch.zeros(len(x), int(labels.max()) + 1)
        votes.scatter_add_(1, labels[i], torch.exp(s / temperature))
        return votes.argmax(1)

    C.check_knn_leave_one_out(my_loo)
    assert "✓ check_knn_leave_one_out passed" in capsys.readouterr().out


def test_leave_one_out_equals_the_package_knn_with_the_row_removed() -> None:
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(50, 6, generator=g), torch.randint(0, 4, (50,), generator=g)
    pred = E.knn_leave_one_out_reference(x, y, 7, 0.1)
    for i in (0, 17, 49):
        others = torch.arange(50) != i
        assert int(pred[i]) == int(knn_predict(x[others], y[others], x[i : i + 1], k=7, temperature=0.1)[0])


def test_a_learner_topk_plus_one_that_drops_the_first_column_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def drop_first(features, labels, k, temperature):
        x = F.normalize(features, dim=1)
        s, i = (x @ x.T).topk(k + 1, dim=1)
        s, i = s[:, 1:], i[:, 1:]
        votes = torch.zeros(len(x), int(labels.max()) + 1).scatter_add_(
            1, labels[i], torch.exp(s / temperature)
        )
        return votes.argmax(1)

    with pytest.raises(C.CheckFailed) as info:
        C.check_knn_leave_one_out(drop_first)
    assert info.value.bug == "drops_nearest"


def test_an_inference_mode_extractor_with_split_batches_passes(capsys: pytest.CaptureFixture[str]) -> None:
    def with_a_context_manager(encoder: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
        mode = encoder.training
        encoder.eval()
        out = []
        with torch.inference_mode():
            for chunk in images.split(batch_size):
                out.append(encoder(chunk))
        encoder.train(mode)
        return torch.cat(out).clone()

    C.check_extract_features(with_a_context_manager)
    assert "✓ check_extract_features passed" in capsys.readouterr().out


def test_a_learner_who_forgets_eval_is_told_about_batchnorm() -> None:
    def forgot_eval(encoder, images, batch_size):
        with torch.no_grad():
            return torch.cat([encoder(b) for b in images.split(batch_size)])

    with pytest.raises(C.CheckFailed) as info:
        C.check_extract_features(forgot_eval)
    assert info.value.bug == "train_mode" and "BatchNorm" in str(info.value)


def test_a_selection_with_a_loop_passes_and_one_on_test_scores_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def loop(val, test):
        chosen = [
            max(range(val.shape[1]), key=lambda c, r=r: (float(val[r, c]), -c)) for r in range(val.shape[0])
        ]
        return torch.tensor(chosen), torch.tensor([float(test[r, c]) for r, c in enumerate(chosen)])

    C.check_select_on_validation(loop)
    assert "✓ check_select_on_validation passed" in capsys.readouterr().out

    def on_test(val, test):
        c = test.argmax(1)
        return c, test[torch.arange(len(c)), c]

    with pytest.raises(C.CheckFailed) as info:
        C.check_select_on_validation(on_test)
    assert info.value.bug == "selected_on_test"


def test_a_wrong_return_shape_is_a_clear_failure() -> None:
    with pytest.raises(C.CheckFailed, match="one class per row"):
        C.check_knn_leave_one_out(lambda f, y, k, t: torch.zeros(3, dtype=torch.long))
    with pytest.raises(C.CheckFailed, match="return a pair"):
        C.check_select_on_validation(lambda v, t: v.argmax(1))
    with pytest.raises(C.CheckFailed, match="not a tensor"):
        C.check_extract_features(lambda e, x, b: [1.0])
