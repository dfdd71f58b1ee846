"""The machinery behind every ``check_*``: run cases, compare, diagnose, report.

A check turns an implementation (the learner's, the reference, or one of the deliberately
buggy variants in :mod:`cssl_edu.checks.bugs`) into an *observation* per case: a dict of
named values (a loss, its gradients, a queue's contents, ...). The learner passes when every
observation matches the reference's. When one does not, the check looks for the known bug
whose observations match the learner's on **every** case and names it, with a hint; when
none does, it reports where and by how much the values differ.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor

Observation = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])


def one_thread(check: F) -> F:
    """Run a check with one intra-op thread: its tensors are tiny, and a thread pool only adds
    wake-up latency (several times slower on a busy machine). The setting is restored after."""

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return check(*args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapper  # type: ignore[return-value]


class CheckFailed(AssertionError):
    """Raised by a ``check_*`` function when the learner's code disagrees with the reference.

    Attributes:
        check: the check's name, e.g. ``"check_nt_xent"``.
        bug: the key of the diagnosed bug (see :mod:`cssl_edu.checks.bugs`), or ``None``.
        case: the name of the first case that failed, or ``None``.
    """

    def __init__(self, message: str, *, check: str, bug: str | None = None, case: str | None = None) -> None:
        super().__init__(message)
        self.check, self.bug, self.case = check, bug, case


@dataclass(frozen=True)
class Case:
    """One input of a check: a readable name and the data its ``observe`` function needs."""

    name: str
    data: dict[str, Any]


# --------------------------------------------------------------------------- comparing


def _as_tensor(x: Any) -> Tensor | None:
    if isinstance(x, Tensor):
        return x.detach().to("cpu", torch.float64) if x.is_floating_point() else x.detach().cpu()
    if isinstance(x, bool):
        return None
    if isinstance(x, int | float):
        return torch.tensor(float(x), dtype=torch.float64)
    return None


def difference(a: Any, b: Any, *, rtol: float = 1e-4, atol: float = 1e-5) -> float | None:
    """``None`` when ``a`` (observed) matches ``b`` (expected), else a size of the mismatch (inf: shape/kind).

    Tensors match when they have the same shape, NaN and ±inf at the same places, and finite
    entries within ``atol · (1 + max|b|) + rtol · |b|``.
    """
    ta, tb = _as_tensor(a), _as_tensor(b)
    if ta is None or tb is None:
        return None if (ta is None and tb is None and a == b) else math.inf
    if ta.shape != tb.shape:
        return math.inf
    if not ta.is_floating_point() or not tb.is_floating_point():
        return None if torch.equal(ta.to(tb.dtype), tb) else math.inf
    if ta.numel() == 0:
        return None
    nan_a, nan_b = torch.isnan(ta), torch.isnan(tb)
    if not torch.equal(nan_a, nan_b):
        return math.inf
    inf_a, inf_b = torch.isinf(ta), torch.isinf(tb)
    if not torch.equal(inf_a, inf_b) or not torch.equal(ta[inf_a], tb[inf_b]):
        return math.inf
    fin = ~(nan_b | inf_b)
    if not bool(fin.any()):
        return None
    fa, fb = ta[fin], tb[fin]
    err = (fa - fb).abs()
    tol = atol * (1.0 + float(fb.abs().max())) + rtol * fb.abs()
    return None if bool((err <= tol).all()) else float(err.max())


def compare(observed: Observation, expected: Observation) -> tuple[str, float] | None:
    """The first key whose values differ (with the size of the difference), or ``None``."""
    for key, want in expected.items():
        if key not in observed:
            return key, math.inf
        d = difference(observed[key], want)
        if d is not None:
            return key, d
    return None


def describe(x: Any) -> str:
    """A short readable rendering of an observed value for messages."""
    if isinstance(x, Tensor):
        if x.numel() == 1:
            return f"{float(x):.6g}"
        return f"tensor of shape {tuple(x.shape)}"
    if isinstance(x, float):
        return f"{x:.6g}"
    return repr(x)


# --------------------------------------------------------------------------- running


def not_implemented(check: str) -> None:
    """What a check prints before re-raising a stub's ``NotImplementedError``."""
    print(f"… {check}: not implemented yet — replace the `raise NotImplementedError(...)` with your code.")


def passed(check: str, n_cases: int) -> None:
    """Print the success line of a check."""
    print(f"✓ {check} passed ({n_cases} cases)")


def call_learner(check: str, case: Case | None, thunk: Callable[[], Any]) -> Any:
    """Run learner code: re-raise ``NotImplementedError`` (after a note), wrap other errors in :class:`CheckFailed`."""
    try:
        return thunk()
    except NotImplementedError:
        not_implemented(check)
        raise
    except CheckFailed:
        raise
    except Exception as e:
        where = f" on case '{case.name}'" if case is not None else ""
        raise CheckFailed(
            f"{check}: your code raised {type(e).__name__}{where}: {e}\n"
            "Read the traceback above this message to find the line.",
            check=check,
            case=None if case is None else case.name,
        ) from e


def fail(check: str, bug: Any, detail: str, *, case: str | None = None) -> CheckFailed:
    """A :class:`CheckFailed` naming ``bug`` (a :class:`~cssl_edu.checks.bugs.Bug`) with its hint."""
    msg = f"{check}: ✗ {detail}\nLikely bug [{bug.key}]: {bug.title}.\nHint: {bug.hint}"
    return CheckFailed(msg, check=check, bug=bug.key, case=case)


def run_check(
    check: str,
    learner: Any,
    reference: Any,
    cases: Sequence[Case],
    observe: Callable[[Any, Case], Observation],
    bugs: Sequence[Any],
    nan_bug: Any = None,
) -> None:
    """Compare ``learner`` with ``reference`` on ``cases``; diagnose and raise on a mismatch.

    ``nan_bug``, when given, is named whenever the learner's loss is finite but a gradient
    holds NaN where the reference's does not (before any other diagnosis).

    ``observe(impl, case)`` runs one implementation on one case. It may raise
    :class:`CheckFailed` itself (e.g. "the loss is not a scalar"); for the learner that
    failure is final, for a buggy variant it only means "this is not the bug".
    """
    expected = [observe(reference, c) for c in cases]
    got = [call_learner(check, c, lambda c=c: observe(learner, c)) for c in cases]
    mismatches = [(c, g, e, compare(g, e)) for c, g, e in zip(cases, got, expected)]
    failing = [(c, g, e, m) for c, g, e, m in mismatches if m is not None]
    if not failing:
        passed(check, len(cases))
        return
    if nan_bug is not None:
        for c, g, e, _ in failing:
            for k, v in g.items():
                if (
                    k.startswith("gradient")
                    and isinstance(v, Tensor)
                    and bool(torch.isnan(v).any())
                    and not bool(torch.isnan(e[k]).any())
                    and bool(torch.isfinite(g["loss"]).all())
                ):
                    raise fail(check, nan_bug, f"on case '{c.name}' the {k} has NaN entries.", case=c.name)
    case, g, e, (key, size) = failing[0]
    where = (
        f"on case '{case.name}' ({len(failing)} of {len(cases)} cases fail): "
        f"{key} is {describe(g.get(key))}, expected {describe(e[key])}"
    )
    for bug in bugs:
        if _explains(bug.impl, observe, cases, got):
            raise fail(check, bug, f"your code differs from the reference {where}.", case=case.name)
    size_s = "a different shape or NaN/inf pattern" if math.isinf(size) else f"up to {size:.3g}"
    raise CheckFailed(
        f"{check}: ✗ values differ by {size_s} {where}.\n"
        "No known bug matches; compare your code with the formula step by step on a tiny case "
        "(print the intermediate tensors for N = 2).",
        check=check,
        case=case.name,
    )


def _explains(
    impl: Any, observe: Callable[[Any, Case], Observation], cases: Sequence[Case], got: list
) -> bool:
    for c, g in zip(cases, got):
        try:
            obs = observe(impl, c)
        except Exception:
            return False
        if compare(g, obs) is not None:
            return False
    return True


# --------------------------------------------------------------------------- loss helpers


def leaf(x: Tensor, requires_grad: bool = True) -> Tensor:
    """A fresh leaf copy of ``x`` (so no two implementations share gradients)."""
    return x.detach().clone().requires_grad_(requires_grad)


def scalar_loss(check: str, out: Any, bugs: dict[str, Any]) -> Tensor:
    """Validate that a loss function returned a scalar tensor that carries a gradient."""
    if not isinstance(out, Tensor):
        raise fail(
            check, bugs["not_a_tensor"], f"your function returned a {type(out).__name__}, not a tensor."
        )
    if out.numel() != 1:
        raise fail(check, bugs["not_reduced"], f"your loss has shape {tuple(out.shape)}, expected a scalar.")
    if not out.requires_grad:
        raise fail(check, bugs["no_gradient"], "your loss carries no gradient (out.requires_grad is False).")
    return out.reshape(())


def loss_and_grads(
    check: str, impl: Callable[..., Any], args: list[Any], grad_of: Sequence[int], common: dict[str, Any]
) -> Observation:
    """Observation of a loss: its value and the gradients w.r.t. ``args[i]`` for ``i`` in ``grad_of``."""
    loss = scalar_loss(check, impl(*args), common)
    inputs = [args[i] for i in grad_of]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    obs: Observation = {"loss": loss.detach()}
    for i, g in zip(grad_of, grads):
        obs[f"gradient w.r.t. argument {i}"] = torch.zeros_like(args[i]) if g is None else g
    return obs
