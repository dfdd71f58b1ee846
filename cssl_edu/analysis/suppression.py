"""Feature suppression (Chen, Luo & Li 2021, "Intriguing properties of contrastive losses").

When an easy feature tells the two views of an image apart from every other image, the
contrastive loss can be minimised with it alone, and the harder feature (here: the shape) is
learned less. The experiment pastes ``n_bits`` random bits, drawn once per image, into the top
rows of both augmented views *after* augmentation, so the two views always share them: bit ``j``
sets pixel ``(j // S, j % S)`` of all three channels to ``+a`` (bit 1) or ``-a`` (bit 0) in
normalised units. With ``n_bits`` large enough (``2^n_bits`` >> batch size) the bits alone solve
instance discrimination.

:class:`SharedBitsMethod` wraps any method to do the pasting (it looks each image's code up by
its dataset index, which the trainer passes to every method); :func:`feature_suppression_experiment`
trains SimCLR with 0, a few and many bits and reports the shape accuracy of a linear probe beside
how well the features encode the bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from cssl_edu._validation import (
    as_float_tensor,
    check_has_data,
    check_image_batch,
    check_module,
    check_nonnegative_int,
    check_number,
    check_positive_int,
)
from cssl_edu.analysis.training import train_encoder
from cssl_edu.augment import EvalTransform
from cssl_edu.data import make_shapes
from cssl_edu.eval import linear_probe
from cssl_edu.eval.features import module_device
from cssl_edu.methods import Method

#: value (in normalised units) a pasted bit sets its pixel to: +a for 1, -a for 0
BIT_AMPLITUDE = 2.0


def random_codes(n: int, n_bits: int, seed: int = 0) -> Tensor:
    """bool (n, n_bits) of fair random bits from a generator seeded with ``seed``."""
    n = check_nonnegative_int(n, "n")
    if isinstance(n_bits, bool) or not isinstance(n_bits, int) or n_bits < 0:
        raise ValueError(f"n_bits must be an int >= 0, got {n_bits!r}.")
    return torch.rand(n, n_bits, generator=torch.Generator().manual_seed(int(seed))) < 0.5


def paste_bits(views: Tensor, codes: Tensor, amplitude: float = BIT_AMPLITUDE) -> Tensor:
    """Write each image's code into its top rows: bit ``j`` -> pixel ``(j // S, j % S)``, all channels.

    Args:
        views: float (B, 3, S, S) normalised images.
        codes: bool (B, n_bits), ``n_bits <= S * S // 4`` (at most a quarter of the image).
        amplitude: ``a``; a bit's pixel becomes ``+a`` (1) or ``-a`` (0).

    Returns:
        a new float (B, 3, S, S) tensor (``views`` is left unchanged).

    ``views`` may be a nested list (converted to float32); NaN/inf entries, a ``meta`` tensor and
    a non-finite ``amplitude`` are refused. The training loop uses an unchecked twin (no sync).
    """
    views = as_float_tensor(views, "views")
    amplitude = check_number(amplitude, "amplitude")
    if not isinstance(codes, Tensor):
        raise ValueError(
            f"codes must be a bool tensor (B, n_bits) (see random_codes), got {type(codes).__name__}."
        )
    check_has_data(codes, "codes")
    return _paste_bits(views, codes, amplitude)


def _paste_bits(views: Tensor, codes: Tensor, amplitude: float = BIT_AMPLITUDE) -> Tensor:
    """:func:`paste_bits` without the value checks (shapes only; no host sync), for the training loop."""
    if views.dim() != 4 or codes.dim() != 2 or codes.shape[0] != views.shape[0]:
        raise ValueError(
            f"views must be (B, 3, S, S) and codes (B, n_bits) with the same B, got {tuple(views.shape)} "
            f"and {tuple(codes.shape)}."
        )
    b, _, h, w = views.shape
    n_bits = codes.shape[1]
    if n_bits > h * w // 4:
        raise ValueError(
            f"codes has {n_bits} bits, which do not fit in the top quarter of a {h}x{w} image; use at most {h * w // 4}."
        )
    out = views.clone()
    if n_bits == 0:
        return out
    rows = -(-n_bits // w)
    pattern = torch.zeros(b, rows * w, device=views.device, dtype=views.dtype)
    pattern[:, :n_bits] = torch.where(codes.to(views.device), amplitude, -amplitude)
    strip = out[:, :, :rows, :].reshape(b, 3, rows * w)
    keep = torch.arange(rows * w, device=views.device) < n_bits
    strip = torch.where(keep, pattern.unsqueeze(1), strip)
    out[:, :, :rows, :] = strip.view(b, 3, rows, w)
    return out


class SharedBitsMethod(Method):
    """Wrap a method so that every view of image ``i`` carries image ``i``'s random code.

    Args:
        inner: the method to train (its backbone is this wrapper's backbone).
        codes: bool (N, n_bits), one code per training image (row = dataset index).
        amplitude: see :func:`paste_bits`.
    """

    def __init__(self, inner: Method, codes: Tensor, amplitude: float = BIT_AMPLITUDE) -> None:
        super().__init__(inner.backbone)
        self.inner = inner
        self.n_views = inner.n_views
        self.needs_labels = inner.needs_labels
        self.amplitude = float(amplitude)
        self.register_buffer("codes", codes.bool(), persistent=False)

    def make_views(
        self, images: Tensor, augment: nn.Module, generator: torch.Generator | None = None
    ) -> list[Tensor]:
        """The inner method's own views (e.g. SwAV's multi-crop); the codes go in at :meth:`forward`."""
        return self.inner.make_views(images, augment, generator)

    def forward(self, views: list[Tensor], labels: Tensor, indices: Tensor) -> dict[str, Tensor]:
        """Paste ``codes[indices]`` into every view, then run the inner method."""
        if indices is None:
            raise ValueError("SharedBitsMethod needs the images' dataset indices to look their codes up.")
        code = self.codes[indices.to(self.codes.device)]
        self.inner.current_epoch = self.current_epoch
        return self.inner([_paste_bits(v, code, self.amplitude) for v in views], labels, indices)

    def on_train_step_end(self, step: int, progress: float) -> None:
        self.inner.on_train_step_end(step, progress)


@torch.no_grad()
def encode_with_bits(
    encoder: nn.Module,
    images: Tensor,
    codes: Tensor | None,
    *,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    batch_size: int = 512,
) -> Tensor:
    """Features (N, D), on the CPU, of uint8 images (N, 3, S, S) with ``codes`` (N, n_bits) pasted (none when None).

    The images go to the encoder's device batch by batch, so a CUDA encoder works on CPU data.
    """
    check_module(encoder, "encoder")
    check_image_batch(images, "images", finite=True)
    batch_size = check_positive_int(batch_size, "batch_size")
    if codes is not None and (
        not isinstance(codes, Tensor) or codes.dim() != 2 or codes.shape[0] != images.shape[0]
    ):
        raise ValueError(
            f"codes must be a tensor (N, n_bits) with one row per image (N = {images.shape[0]}), got "
            f"{tuple(codes.shape) if isinstance(codes, Tensor) else type(codes).__name__}."
        )
    prep = EvalTransform(images.shape[-1], mean=mean, std=std)
    device = module_device(encoder)
    was_training = encoder.training
    encoder.eval()
    out = []
    try:
        for start in range(0, images.shape[0], batch_size):
            x = prep(images[start : start + batch_size].to(device))
            if codes is not None:
                x = _paste_bits(x, codes[start : start + batch_size].to(device))
            out.append(encoder(x).float().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(out)


def feature_suppression_experiment(
    n_bits: Sequence[int] = (0, 8, 64),
    *,
    method: str = "simclr",
    n_train: int = 2048,
    n_test: int = 1000,
    epochs: int = 4,
    batch_size: int = 64,
    probe_epochs: int = 50,
    seed: int = 0,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Train ``method`` with ``b`` shared random bits for each ``b`` in ``n_bits``; probe shape and bits.

    Evaluation pastes fresh random codes (independent of the class) into the train and test images.

    Returns:
        rows ``{"n_bits", "acc"`` (shape, linear probe, codes pasted), ``"acc_clean"`` (no codes),
        ``"bit_acc"`` (linear probe decoding the first min(4, b) bits, mean; NaN for b = 0),
        ``"final_loss", "seconds"}``.
    """
    epochs = check_positive_int(epochs, "epochs")
    train = make_shapes(n_train, seed=seed, split="train")
    test = make_shapes(n_test, seed=seed, split="test")
    limit = train.image_size**2 // 4
    for b in n_bits:
        if not isinstance(b, int) or not 0 <= b <= limit:
            raise ValueError(
                f"n_bits values must be ints in [0, {limit}] for {train.image_size} px images, got {b!r}."
            )
    kw = {"mean": train.mean, "std": train.std}
    rows: list[dict[str, Any]] = []
    for b in n_bits:
        codes = random_codes(len(train), b, seed=seed)

        def wrap(m: Method, codes: Tensor = codes) -> Method:
            return SharedBitsMethod(m, codes)

        res = train_encoder(
            method,
            train,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            device=device,
            wrap=wrap if b > 0 else None,
        )
        enc = res.backbone.cpu()
        code_tr, code_te = (
            random_codes(len(train), b, seed=seed + 1),
            random_codes(len(test), b, seed=seed + 2),
        )
        f_tr, f_te = (
            encode_with_bits(enc, train.images, code_tr, **kw),
            encode_with_bits(enc, test.images, code_te, **kw),
        )
        probe = {"epochs": probe_epochs, "seed": seed}
        acc = linear_probe(f_tr, train.labels, f_te, test.labels, **probe)["test_acc"]
        if b > 0:
            c_tr, c_te = (
                encode_with_bits(enc, train.images, None, **kw),
                encode_with_bits(enc, test.images, None, **kw),
            )
            acc_clean = linear_probe(c_tr, train.labels, c_te, test.labels, **probe)["test_acc"]
            bits = [
                linear_probe(f_tr, code_tr[:, j].long(), f_te, code_te[:, j].long(), num_classes=2, **probe)[
                    "test_acc"
                ]
                for j in range(min(4, b))
            ]
            bit_acc = sum(bits) / len(bits)
        else:
            acc_clean, bit_acc = acc, float("nan")
        rows.append(
            {
                "n_bits": b,
                "acc": acc,
                "acc_clean": acc_clean,
                "bit_acc": bit_acc,
                "final_loss": res.history.step_loss[-1],
                "seconds": round(res.seconds, 1),
            }
        )
    return rows
