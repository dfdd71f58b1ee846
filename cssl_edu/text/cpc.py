"""Contrastive predictive coding with an autoregressive context network (van den Oord et al. 2018).

The core of CPC — and of wav2vec (Schneider et al. 2019) — on a 1-D signal:

    x ──cut into T windows──▶ encoder g_enc ──▶ z_1 … z_T          (one embedding per window)
    z_1 … z_t ──GRU g_ar──▶ c_t                                   (a summary of the past)
    predict z_{t+k} from W_k c_t for k = 1 … K, by InfoNCE

For every sequence b, time t and step k the positive is z_{b,t+k}; the candidates are the
target windows z_{b',t'+k} of **every sequence b' and every time t'** in the batch, so the model
must tell the right future window both from the other windows of the same signal (other times)
and from the windows of other signals:

    L_k = −(1/N) Σ_{(b,t)} log [ exp(ŝ(b,t; b,t)/τ) / Σ_{(b',t')} exp(ŝ(b,t; b',t')/τ) ],
    ŝ(b,t; b',t') = cos(W_k c_{b,t}, z_{b',t'+k}),   L = (1/K) Σ_k L_k

(cosines with a temperature, the normalised variant of the paper's log-bilinear score). With
``context=False`` the GRU is left out, c_t = z_t: each prediction sees one window only — the
baseline that shows what the context adds.

:func:`make_signals` generates signals with a known latent per sequence (a frequency): two
harmonics with random phases plus noise. One 16-sample window says little about the frequency;
several windows in a row say a lot — which is what the context network can exploit.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from cssl_edu._validation import (
    check_finite,
    check_has_data,
    check_number,
    check_same_device,
    check_temperature,
    common_float_dtype,
)


def make_signals(
    n: int, length: int = 256, noise: float = 0.3, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """``n`` signals (n, length) and their latent frequencies (n,) in cycles per sample, in [0.02, 0.12).

    ``noise`` is the standard deviation of the added Gaussian noise (a finite number >= 0).
    """
    noise = check_number(noise, "noise", low=0.0)
    if int(n) < 1 or int(length) < 2:
        raise ValueError(f"n must be >= 1 and length >= 2, got {n!r}, {length!r}.")
    f = 0.02 + 0.10 * torch.rand(int(n), 1, generator=generator)
    phase = 2 * math.pi * torch.rand(int(n), 2, generator=generator)
    t = torch.arange(int(length)).float()
    x = (
        torch.sin(2 * math.pi * f * t + phase[:, :1])
        + 0.5 * torch.sin(4 * math.pi * f * t + phase[:, 1:])
        + noise * torch.randn(int(n), int(length), generator=generator)
    )
    return x, f.squeeze(1)


class WindowEncoder(nn.Module):
    """g_enc: a small 1-D ConvNet, one window (B, W) → (B, dim)."""

    def __init__(self, dim: int = 32, channels: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(1, channels, 5, padding=2),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 5, padding=2, stride=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(channels, dim),
        )

    def forward(self, w: Tensor) -> Tensor:
        return self.net(w.unsqueeze(1))


class CPC(nn.Module):
    """Window encoder + (optional) GRU context network + one linear predictor W_k per step ahead.

    Args:
        window: samples per window W (the signal is cut into length // W windows).
        dim: size of z_t and c_t.
        k_ahead: K, the number of steps predicted.
        context: use the GRU (True) or predict from z_t alone (False).
    """

    def __init__(self, window: int = 16, dim: int = 32, k_ahead: int = 3, context: bool = True) -> None:
        super().__init__()
        if int(window) < 4 or int(dim) < 1 or int(k_ahead) < 1:
            raise ValueError(
                f"need window >= 4, dim >= 1, k_ahead >= 1, got {window!r}, {dim!r}, {k_ahead!r}."
            )
        self.window, self.k_ahead, self.context = int(window), int(k_ahead), bool(context)
        self.encoder = WindowEncoder(dim)
        self.gru = nn.GRU(dim, dim, batch_first=True) if context else None
        self.predictors = nn.ModuleList([nn.Linear(dim, dim, bias=False) for _ in range(self.k_ahead)])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Signals (B, length), B ≥ 1, any float dtype (cast to the model's), finite → (z, c),
        each (B, T, dim) with T = length // window."""
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise ValueError(
                f"x must be a float tensor of signals (B, length), got "
                f"{x.dtype if isinstance(x, Tensor) else type(x).__name__}."
            )
        check_has_data(x, "x")
        if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < self.window * (self.k_ahead + 1):
            raise ValueError(
                f"x must be (B, length) with B ≥ 1 and length >= window·(k_ahead + 1) = "
                f"{self.window * (self.k_ahead + 1)}, got {tuple(x.shape)}."
            )
        check_finite(x, "x")
        weight = self.predictors[0].weight
        x = x.to(weight.device, weight.dtype)
        windows = x.unfold(1, self.window, self.window)  # (B, T, W)
        b, t, _ = windows.shape
        z = self.encoder(windows.reshape(b * t, -1)).view(b, t, -1)
        c = self.gru(z)[0] if self.gru is not None else z
        return z, c

    def predictions(self, c: Tensor) -> list[Tensor]:
        """[W_k c_t for t < T − k] for k = 1 … K: tensors (B, T − k, dim)."""
        t = c.shape[1]
        return [w(c[:, : t - k]) for k, w in enumerate(self.predictors, start=1)]


def cpc_step_losses(predictions: list[Tensor], z: Tensor, temperature: float = 0.1) -> Tensor:
    """L_1 … L_K of :func:`cpc_loss`, one InfoNCE per step ahead: a (K,) tensor.

    Args:
        predictions: K tensors, the k-th (B, T − k, d) predicting z[:, k:] (see :meth:`CPC.predictions`).
        z: (B, T, d) window embeddings.
        temperature: τ > 0.
    """
    t = check_temperature(temperature)
    if not isinstance(z, Tensor) or z.dim() != 3 or not z.is_floating_point() or min(z.shape) < 1:
        raise ValueError(
            f"z must be a float (B, T, d) tensor with B, T, d ≥ 1, got {getattr(z, 'shape', z)}."
        )
    if not isinstance(predictions, (list, tuple)) or not predictions:
        raise ValueError(
            f"predictions must be a non-empty list of K tensors, got {type(predictions).__name__}."
        )
    check_has_data(z, "z")
    check_finite(z, "z")
    losses = []
    for k, pred in enumerate(predictions, start=1):
        target = z[:, k:]
        if not isinstance(pred, Tensor) or pred.shape != target.shape or not pred.is_floating_point():
            raise ValueError(
                f"predictions[{k - 1}] must be a float tensor of shape {tuple(target.shape)} (z[:, {k}:]), got "
                f"{tuple(pred.shape) if isinstance(pred, Tensor) else type(pred).__name__}."
            )
        check_same_device(("z", z), (f"predictions[{k - 1}]", pred))
        check_finite(pred, f"predictions[{k - 1}]")
        dtype = common_float_dtype(pred, target)  # mixed float dtypes: the common one
        pred, target = pred.to(dtype), target.to(dtype)
        p = F.normalize(pred.reshape(-1, pred.shape[-1]), dim=1)
        q = F.normalize(target.reshape(-1, target.shape[-1]), dim=1)
        logits = p @ q.T / t  # (N, N): every (sequence, time) is a candidate
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        losses.append(F.cross_entropy(logits, torch.arange(p.shape[0], device=p.device)))
    return torch.stack(losses)


def cpc_loss(predictions: list[Tensor], z: Tensor, temperature: float = 0.1) -> Tensor:
    """InfoNCE over every (sequence, time) of the batch, averaged over the K steps ahead.

    Each L_k's chance level is log(B·(T − k)). See :func:`cpc_step_losses` for the arguments.
    """
    return cpc_step_losses(predictions, z, temperature).mean()


@torch.no_grad()
def cpc_accuracy(model: CPC, x: Tensor) -> list[float]:
    """Per step k: the share of (sequence, time) whose nearest candidate (cosine) is its true future window.

    ``model`` is a :class:`CPC`; ``x`` its input signals (B, T).
    """
    if not isinstance(model, CPC):
        raise ValueError(f"model must be a cssl_edu.text.CPC, got {type(model).__name__}.")
    was = model.training
    model.eval()
    z, c = model(x)
    acc = []
    for k, pred in enumerate(model.predictions(c), start=1):
        p = F.normalize(pred.reshape(-1, pred.shape[-1]), dim=1)
        q = F.normalize(z[:, k:].reshape(-1, z.shape[-1]), dim=1)
        acc.append(float(((p @ q.T).argmax(1) == torch.arange(p.shape[0])).float().mean()))
    model.train(was)
    return acc


def train_cpc(
    model: CPC,
    *,
    steps: int = 300,
    batch_size: int = 32,
    length: int = 256,
    noise: float = 0.3,
    lr: float = 3e-3,
    temperature: float = 0.1,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Train ``model`` in place on fresh :func:`make_signals` batches with :func:`cpc_loss`; returns step losses."""
    if int(steps) < 1 or int(batch_size) < 2:
        raise ValueError(f"steps must be >= 1 and batch_size >= 2, got {steps!r}, {batch_size!r}.")
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses: list[float] = []
    for _ in tqdm(range(int(steps)), desc="CPC", disable=not progress):
        x, _ = make_signals(int(batch_size), int(length), noise, generator=g)
        z, c = model(x.to(device))
        loss = cpc_loss(model.predictions(c), z, temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
