"""Self-checks for evaluating a frozen encoder honestly (problem set 14).

Three steps of an evaluation where a bug silently *raises* the number or changes the encoder:

- :func:`check_knn_leave_one_out` — weighted kNN of every labelled image against all the
  **other** ones, the free validation score of lesson 14. The classic bug lets each image vote
  for itself (its own row is its nearest neighbour, at cosine 1).
- :func:`check_extract_features` — features of a frozen encoder for a probe or a kNN bank:
  BatchNorm in **eval** mode, no gradient, and the encoder left in the mode it was found in
  (an online monitor extracts features in the middle of training).
- :func:`check_select_on_validation` — the best epoch or setting of each run chosen on the
  validation score, reported on the test score.

Their known bugs live in :data:`EVAL_BUGS` (``EVAL_BUGS[check][key]``, in diagnosis order),
built with the same :class:`~cssl_edu.checks.bugs.Bug` record as the catalogue of the loss
checks, and a mismatch is diagnosed by :func:`~cssl_edu.checks._core.run_check`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu.checks._core import Case, CheckFailed, Observation, one_thread, run_check
from cssl_edu.checks.bugs import Bug

#: The known bugs of each evaluation check: ``EVAL_BUGS[check][key]``, in diagnosis order.
EVAL_BUGS: dict[str, dict[str, Bug]] = {}


def _bug(check: str, key: str, title: str, hint: str) -> Callable[[Any], Any]:
    """Register the decorated function as bug ``key`` of evaluation check ``check``."""

    def deco(impl: Any) -> Any:
        EVAL_BUGS.setdefault(check, {})[key] = Bug(key, title, hint, impl)
        return impl

    return deco


def _bugs(check: str) -> list[Bug]:
    return list(EVAL_BUGS.get(check, {}).values())


# ============================================================================ leave-one-out kNN
def _votes(
    sim: Tensor, idx: Tensor, labels: Tensor, k: int, temperature: float, weighted: bool = True
) -> Tensor:
    """Arg-max class of the votes Σ_{j in the first k columns} w_j over ``labels[idx]`` (N, kmax)."""
    n_classes = int(labels.max()) + 1
    w = (sim[:, :k] / temperature).exp() if weighted else torch.ones_like(sim[:, :k])
    votes = torch.zeros(sim.shape[0], n_classes, dtype=w.dtype).scatter_add_(1, labels[idx[:, :k]], w)
    return votes.argmax(1)


def knn_leave_one_out_reference(features: Tensor, labels: Tensor, k: int, temperature: float) -> Tensor:
    """Weighted kNN of every row against all the other rows: predictions (N,) int64.

    With unit rows ``x_i`` (``features`` (N, D) L2-normalised) and cosines ``s_ij = x_i · x_j``,
    row i's neighbours are the k largest ``s_ij`` over ``j ≠ i``; class c gets the vote
    ``Σ_{j ∈ top-k, y_j = c} exp(s_ij / τ)`` and the prediction is the arg-max (ties: the smaller
    class id). ``labels`` (N,) are class ids 0 … C − 1.
    """
    x = F.normalize(features.double(), dim=1)
    sim = x @ x.T
    sim.fill_diagonal_(float("-inf"))  # the query itself is never its own neighbour
    top, idx = sim.topk(k, dim=1)
    return _votes(top, idx, labels, k, temperature)


@_bug(
    "knn_leave_one_out",
    "self_vote",
    "each image votes for itself: its own row stays in the bank, as its nearest neighbour at cosine 1",
    "remove the query's own row before the top-k, e.g. sim.fill_diagonal_(float('-inf')); with k = 1 "
    "the buggy version predicts every image's own label (100 % 'accuracy')",
)
def knn_self_vote(features: Tensor, labels: Tensor, k: int, temperature: float) -> Tensor:
    x = F.normalize(features.double(), dim=1)
    sim = x @ x.T
    top, idx = sim.topk(k, dim=1)
    return _votes(top, idx, labels, k, temperature)


@_bug(
    "knn_leave_one_out",
    "drops_nearest",
    "the first neighbour is dropped instead of the image itself (topk(k + 1)[:, 1:]): an exact duplicate "
    "ties with the image at cosine 1, may come first, and the image keeps its own vote",
    "exclude the query by its index (mask the diagonal of the similarity matrix with −inf), not by "
    "its rank: a duplicate image ties with the query at cosine 1",
)
def knn_drops_nearest(features: Tensor, labels: Tensor, k: int, temperature: float) -> Tensor:
    x = F.normalize(features.float(), dim=1)  # float32, as a learner computes it: the tie is exact
    top, idx = (x @ x.T).topk(k + 1, dim=1)
    return _votes(top[:, 1:].double(), idx[:, 1:], labels, k, temperature)


@_bug(
    "knn_leave_one_out",
    "k_minus_one",
    "the top-k is taken before the image itself is removed, so only k − 1 real neighbours vote",
    "take k + 1 neighbours and then drop the query (or mask the diagonal first and take k)",
)
def knn_k_minus_one(features: Tensor, labels: Tensor, k: int, temperature: float) -> Tensor:
    if k == 1:  # nothing left but the image itself would vote; the bug then keeps one neighbour
        return knn_leave_one_out_reference(features, labels, k, temperature)
    x = F.normalize(features.double(), dim=1)
    sim = x @ x.T
    sim.fill_diagonal_(float("-inf"))
    top, idx = sim.topk(k - 1, dim=1)
    return _votes(top, idx, labels, k - 1, temperature)


@_bug(
    "knn_leave_one_out",
    "unweighted",
    "the neighbours are counted, not weighted: a plain majority instead of Σ exp(s / τ)",
    "weight each neighbour's vote by exp(similarity / temperature) and add the weights per class "
    "(scatter_add_ into a (N, C) tensor)",
)
def knn_unweighted(features: Tensor, labels: Tensor, k: int, temperature: float) -> Tensor:
    x = F.normalize(features.double(), dim=1)
    sim = x @ x.T
    sim.fill_diagonal_(float("-inf"))
    top, idx = sim.topk(k, dim=1)
    return _votes(top, idx, labels, k, temperature, weighted=False)


@_bug(
    "knn_leave_one_out",
    "not_normalised",
    "the features are not L2-normalised: neighbours and weights come from raw dot products, not cosines",
    "normalise the rows first (F.normalize(features, dim=1)); long feature vectors otherwise win every vote",
)
def knn_not_normalised(features: Tensor, labels: Tensor, k: int, temperature: float) -> Tensor:
    x = features.double()
    sim = x @ x.T
    sim.fill_diagonal_(float("-inf"))
    top, idx = sim.topk(k, dim=1)
    return _votes(top - top[:, :1], idx, labels, k, temperature)  # shifted: exp stays finite


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _clusters(
    g: torch.Generator, n: int, d: int, c: int, spread: float, flip: float
) -> tuple[Tensor, Tensor]:
    """(n, d) features around c random centres, and labels of which a share ``flip`` is re-drawn."""
    y = torch.arange(n) % c
    x = 2 * torch.randn(c, d, generator=g)[y] + spread * torch.randn(n, d, generator=g)
    noisy = torch.rand(n, generator=g) < flip
    y = torch.where(noisy, torch.randint(0, c, (n,), generator=g), y)
    return x, y


def _knn_cases() -> list[Case]:
    g = _gen(140)
    x1, y1 = _clusters(g, 40, 8, 3, 1.5, 0.3)
    x2, y2 = _clusters(g, 36, 6, 4, 2.0, 0.2)
    lengths = torch.logspace(-0.5, 0.5, 36)[torch.randperm(36, generator=g)].unsqueeze(1)
    x2 = F.normalize(x2, dim=1) * lengths  # rows of lengths 0.3 to 3
    x3, y3 = _clusters(g, 18, 5, 3, 1.5, 0.1)
    x3 = torch.cat([x3, x3[:8]])  # eight exact duplicates (rows 18-25 repeat rows 0-7) with other labels
    y3 = torch.cat([y3, (y3[:8] + 1) % 3])
    x4, y4 = _clusters(g, 60, 8, 5, 2.5, 0.25)
    x5, y5 = _clusters(g, 30, 4, 2, 3.0, 0.2)
    return [
        Case("N=40, 3 classes, k=1, τ=0.1 (a third of the labels are noisy)", {"args": [x1, y1, 1, 0.1]}),
        Case("N=36, 4 classes, k=5, τ=0.5, rows of lengths 0.3 to 3", {"args": [x2, y2, 5, 0.5]}),
        Case("N=26 with 8 exact duplicates carrying other labels, k=3, τ=0.05", {"args": [x3, y3, 3, 0.05]}),
        Case("N=60, 5 classes, k=15, τ=0.02 (the nearest neighbours dominate)", {"args": [x4, y4, 15, 0.02]}),
        Case("N=30, 2 classes, k=4, τ=5.0 (weights nearly equal)", {"args": [x5, y5, 4, 5.0]}),
    ]


@one_thread
def check_knn_leave_one_out(fn: Callable[..., Any]) -> None:
    """Check ``fn(features (N, D), labels (N,), k, temperature) -> predictions (N,)``: leave-one-out weighted kNN.

    Every row is classified by its k most cosine-similar *other* rows, class c getting
    ``Σ exp(s / τ)`` over its neighbours (ties: the smaller class id); compared exactly with a
    float64 reference on five cases (label noise, rows of very different length, exact
    duplicates, sharp and flat τ). Known bugs: the image votes for itself, the nearest neighbour
    dropped instead of the image, only k − 1 neighbours, an unweighted majority, features not
    normalised.
    """
    check = "check_knn_leave_one_out"

    def observe(impl: Callable[..., Any], case: Case) -> Observation:
        x, y, k, t = case.data["args"]
        pred = impl(x.clone(), y.clone(), k, t)
        if isinstance(pred, (list, tuple)):
            pred = torch.as_tensor(pred)
        if not isinstance(pred, Tensor):
            raise CheckFailed(
                f"{check}: your function returned a {type(pred).__name__}, not a tensor of predictions.",
                check=check,
            )
        if pred.shape != y.shape:
            raise CheckFailed(
                f"{check}: your predictions have shape {tuple(pred.shape)}, expected one class per row: {tuple(y.shape)}.",
                check=check,
            )
        return {"predictions": pred.detach().cpu().long()}

    run_check(check, fn, knn_leave_one_out_reference, _knn_cases(), observe, _bugs("knn_leave_one_out"))


# ============================================================================ feature extraction
def extract_features_reference(encoder: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    """Features (N, D) of ``images`` (N, …), ``batch_size`` at a time, in eval mode and without gradient.

    The encoder's mode (``encoder.training``) is restored afterwards, so calling this in the
    middle of training (an online kNN monitor) neither leaves the encoder in eval mode nor
    lets BatchNorm use the batch's statistics or overwrite its running ones.
    """
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            return torch.cat([encoder(images[s : s + batch_size]) for s in range(0, len(images), batch_size)])
    finally:
        encoder.train(was_training)


@_bug(
    "extract_features",
    "train_mode",
    "the features are computed in train mode: BatchNorm normalises with each batch's own statistics "
    "(features depend on which images share the batch) and overwrites its running statistics",
    "call encoder.eval() before the forward passes (and restore the old mode after): in eval mode "
    "BatchNorm uses the running statistics learned in training and changes nothing",
)
def extract_in_train_mode(encoder: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    with torch.no_grad():
        return torch.cat([encoder(images[s : s + batch_size]) for s in range(0, len(images), batch_size)])


@_bug(
    "extract_features",
    "mode_not_restored",
    "the encoder is left in eval mode: called during training (an online monitor), it silently "
    "switches BatchNorm and dropout off for the rest of training",
    "remember was_training = encoder.training before encoder.eval(), and finish with "
    "encoder.train(was_training) (in a finally: block, so an error restores it too)",
)
def extract_mode_not_restored(encoder: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    encoder.eval()
    with torch.no_grad():
        return torch.cat([encoder(images[s : s + batch_size]) for s in range(0, len(images), batch_size)])


@_bug(
    "extract_features",
    "always_train_after",
    "the encoder is switched to train mode at the end even when it was in eval mode before",
    "restore the mode the encoder had (encoder.train(was_training)), not train mode unconditionally",
)
def extract_always_train_after(encoder: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    encoder.eval()
    with torch.no_grad():
        out = torch.cat([encoder(images[s : s + batch_size]) for s in range(0, len(images), batch_size)])
    encoder.train()
    return out


@_bug(
    "extract_features",
    "gradient",
    "the features carry a gradient: autograd records every forward pass (memory grows with the "
    "dataset, and a probe's loss would reach the frozen encoder)",
    "run the forward passes under torch.no_grad() (or torch.inference_mode())",
)
def extract_with_gradient(encoder: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    was_training = encoder.training
    encoder.eval()
    out = torch.cat([encoder(images[s : s + batch_size]) for s in range(0, len(images), batch_size)])
    encoder.train(was_training)
    return out


@_bug(
    "extract_features",
    "drops_last_batch",
    "the last, partial batch is dropped: fewer feature rows than images",
    "loop over range(0, N, batch_size) and slice images[start:start + batch_size]; the last slice is "
    "simply shorter",
)
def extract_drops_last_batch(encoder: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        n = len(images) // batch_size * batch_size
        out = torch.cat([encoder(images[s : s + batch_size]) for s in range(0, n, batch_size)])
    encoder.train(was_training)
    return out


def _encoder(seed: int) -> nn.Module:
    """A tiny conv encoder with BatchNorm whose running statistics are far from a batch's own."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 5),
        nn.BatchNorm1d(5),
    )
    g = _gen(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.2 + 2 * torch.rand(m.num_features, generator=g))
    return net


def _extract_cases() -> list[Case]:
    return [
        Case(
            "encoder in train mode (mid-training), N=20 images, batches of 8",
            {"seed": 141, "n": 20, "bs": 8, "train": True},
        ),
        Case(
            "encoder in eval mode, N=9 images, batches of 4", {"seed": 142, "n": 9, "bs": 4, "train": False}
        ),
        Case(
            "encoder in train mode, N=16 images, one batch of 16",
            {"seed": 143, "n": 16, "bs": 16, "train": True},
        ),
    ]


def _running_stats(net: nn.Module) -> Tensor:
    return torch.cat([b.detach().flatten().float() for name, b in net.named_buffers() if "running" in name])


@one_thread
def check_extract_features(fn: Callable[..., Any]) -> None:
    """Check ``fn(encoder, images (N, 3, H, W), batch_size) -> features (N, D)`` of a frozen encoder.

    The features must be those of eval mode (BatchNorm's running statistics), carry no
    gradient, cover every image (N rows, the last batch may be partial), leave the BatchNorm
    running statistics unchanged and leave the encoder in the mode it was in (train or eval).
    Run on a tiny conv encoder with BatchNorm, called once in train mode (as an online monitor
    during training) and once in eval mode. Known bugs: train mode, the mode not restored, train
    mode forced at the end, a gradient through the features, the last partial batch dropped.
    """
    check = "check_extract_features"

    def observe(impl: Callable[..., Any], case: Case) -> Observation:
        d = case.data
        net = _encoder(d["seed"]).train(d["train"])
        images = torch.randn(d["n"], 3, 6, 6, generator=_gen(d["seed"] + 1000))
        before = _running_stats(net)
        feats = impl(net, images, d["bs"])
        if not isinstance(feats, Tensor):
            raise CheckFailed(
                f"{check}: your function returned a {type(feats).__name__}, not a tensor.", check=check
            )
        return {
            "features": feats.detach(),
            "features carry a gradient": bool(feats.requires_grad),
            "BatchNorm running statistics changed": not torch.equal(before, _running_stats(net)),
            "encoder in train mode afterwards": bool(net.training),
        }

    run_check(check, fn, extract_features_reference, _extract_cases(), observe, _bugs("extract_features"))


# ============================================================================ selection on validation
def select_on_validation_reference(val_scores: Tensor, test_scores: Tensor) -> tuple[Tensor, Tensor]:
    """For each of R runs, the candidate with the best validation score and its test score.

    ``val_scores`` and ``test_scores`` are (R, C): run r's C candidates (epochs, settings).
    Returns ``(chosen (R,) int64, reported (R,))`` with ``chosen[r] = argmax_c val_scores[r, c]``
    (ties: the first) and ``reported[r] = test_scores[r, chosen[r]]``. The test scores play no
    part in the choice.
    """
    chosen = val_scores.argmax(dim=1)
    return chosen, test_scores.gather(1, chosen[:, None]).squeeze(1)


@_bug(
    "select_on_validation",
    "selected_on_test",
    "the candidate is chosen by its test score: the reported number is the maximum of noisy test scores, "
    "biased upwards",
    "choose with val_scores.argmax(dim=1) and only then read test_scores at those indices",
)
def select_on_test(val_scores: Tensor, test_scores: Tensor) -> tuple[Tensor, Tensor]:
    chosen = test_scores.argmax(dim=1)
    return chosen, test_scores.gather(1, chosen[:, None]).squeeze(1)


@_bug(
    "select_on_validation",
    "reports_validation",
    "the validation score of the chosen candidate is reported instead of its test score",
    "report test_scores at the chosen index: the validation score was used to choose, so it is "
    "biased upwards itself",
)
def select_reports_validation(val_scores: Tensor, test_scores: Tensor) -> tuple[Tensor, Tensor]:
    chosen = val_scores.argmax(dim=1)
    return chosen, val_scores.gather(1, chosen[:, None]).squeeze(1)


@_bug(
    "select_on_validation",
    "reports_best_test",
    "the candidate is chosen on validation, but the best test score of the run is reported",
    "report the test score of the chosen candidate (test_scores.gather(1, chosen[:, None])), "
    "not test_scores.max(dim=1)",
)
def select_reports_best_test(val_scores: Tensor, test_scores: Tensor) -> tuple[Tensor, Tensor]:
    return val_scores.argmax(dim=1), test_scores.max(dim=1).values


@_bug(
    "select_on_validation",
    "validation_plus_test",
    "the choice uses validation and test together (their sum or mean): the test set leaks into the selection",
    "choose on the validation scores alone",
)
def select_on_validation_plus_test(val_scores: Tensor, test_scores: Tensor) -> tuple[Tensor, Tensor]:
    chosen = (val_scores + test_scores).argmax(dim=1)
    return chosen, test_scores.gather(1, chosen[:, None]).squeeze(1)


@_bug(
    "select_on_validation",
    "one_choice_for_all_runs",
    "one candidate is chosen for all runs from the first run's validation scores",
    "choose per run: argmax over the candidates (dim=1) of each run's own validation row",
)
def select_first_run_for_all(val_scores: Tensor, test_scores: Tensor) -> tuple[Tensor, Tensor]:
    chosen = val_scores[0].argmax().expand(val_scores.shape[0]).clone()
    return chosen, test_scores.gather(1, chosen[:, None]).squeeze(1)


def _select_cases() -> list[Case]:
    g = _gen(144)

    def curves(r: int, c: int) -> tuple[Tensor, Tensor]:
        true = 0.7 + 0.02 * torch.randn(r, c, generator=g)
        return true + 0.03 * torch.randn(r, c, generator=g), true + 0.03 * torch.randn(r, c, generator=g)

    v1, t1 = curves(4, 10)
    v2, t2 = curves(3, 30)
    v3 = torch.tensor([[0.8, 0.9, 0.9, 0.7], [0.6, 0.6, 0.5, 0.6]])  # ties: the first maximum wins
    t3 = torch.tensor([[0.95, 0.70, 0.99, 0.80], [0.50, 0.90, 0.70, 0.60]])
    v4, t4 = curves(1, 6)
    return [
        Case("4 runs × 10 candidates", {"args": [v1, t1]}),
        Case("3 runs × 30 epochs", {"args": [v2, t2]}),
        Case("2 runs × 4 candidates with tied validation scores", {"args": [v3, t3]}),
        Case("1 run × 6 candidates", {"args": [v4, t4]}),
    ]


@one_thread
def check_select_on_validation(fn: Callable[..., Any]) -> None:
    """Check ``fn(val_scores (R, C), test_scores (R, C)) -> (chosen (R,), reported (R,))``.

    For each run, the candidate with the best validation score (the first on ties) and that
    candidate's test score. Known bugs: chosen on the test scores, the validation score
    reported, the run's best test score reported, validation and test summed for the choice,
    one choice for all runs.
    """
    check = "check_select_on_validation"

    def observe(impl: Callable[..., Any], case: Case) -> Observation:
        val, test = case.data["args"]
        out = impl(val.clone(), test.clone())
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CheckFailed(
                f"{check}: return a pair (chosen, reported), got {type(out).__name__}"
                + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
                + ".",
                check=check,
            )
        chosen, reported = (torch.as_tensor(o) for o in out)
        return {
            "chosen": chosen.detach().long().reshape(-1),
            "reported": reported.detach().double().reshape(-1),
        }

    run_check(
        check, fn, select_on_validation_reference, _select_cases(), observe, _bugs("select_on_validation")
    )
