"""The training loop shared by the sentence methods whose views are made outside the encoder.

SimCSE makes its two views *inside* the encoder (two dropout masks on the same input); CERT's
views are two augmentations of a sentence and DeCLUTR's an anchor span and a positive span of
a document. :func:`train_pairs` trains any of them with the same one-directional InfoNCE
(:func:`cssl_edu.text.simcse_loss`, in-batch negatives), so that only where the views come
from differs between the methods.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from cssl_edu._validation import check_module, check_positive_int, check_temperature
from cssl_edu.text.simcse import simcse_loss


def train_pairs(
    encoder: nn.Module,
    views: Callable[[Tensor], tuple[Tensor, Tensor]],
    n_items: int,
    *,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 3e-3,
    temperature: float = 0.05,
    seed: int = 0,
    progress: bool = True,
    desc: str = "pairs",
) -> list[float]:
    """Train ``encoder`` in place with InfoNCE between the two views of each item; returns step losses.

    Args:
        encoder: maps int64 token batches (B, L) to embeddings (B, d).
        views: ``views(indices)`` → two int64 token batches (B, L1), (B, L2): the views of the
            items ``indices`` (row i of each is a positive pair, the other rows its negatives).
        n_items: how many items there are (documents, sentences).
        epochs, batch_size, lr, temperature, seed: as in :func:`cssl_edu.text.train_simcse`; the
            last partial batch of an epoch is dropped (a constant number of negatives).
    """
    epochs = check_positive_int(epochs, "epochs")
    n_items = check_positive_int(n_items, "n_items")
    batch_size = check_positive_int(batch_size, "batch_size")
    if not callable(views):
        raise ValueError(
            f"views must be a function views(indices) -> (tokens1, tokens2), got {type(views).__name__}."
        )
    check_module(encoder, "encoder")
    t = check_temperature(temperature)
    if int(epochs) < 1 or not 2 <= int(batch_size) <= int(n_items):
        raise ValueError(
            f"epochs must be >= 1 and batch_size in [2, {n_items}], got {epochs!r}, {batch_size!r}."
        )
    device = next(encoder.parameters()).device
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    encoder.train()
    losses: list[float] = []
    n_steps = int(n_items) // int(batch_size)
    bar = tqdm(total=int(epochs) * n_steps, desc=desc, disable=not progress)
    for _ in range(int(epochs)):
        order = torch.randperm(int(n_items), generator=g)
        for s in range(n_steps):
            v1, v2 = views(order[s * batch_size : (s + 1) * batch_size])
            loss = simcse_loss(encoder(v1.to(device)), encoder(v2.to(device)), t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.update()
    bar.close()
    return losses
