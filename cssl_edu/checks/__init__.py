"""Self-checks for the course's exercises: compare your code with the package's, and name the bug.

Every ``check_*`` runs your implementation and the package's on a few fixed random cases
(values, gradients and edge cases such as N = 2, small and large τ, unnormalised inputs)::

    from cssl_edu.checks import check_nt_xent
    check_nt_xent(my_nt_xent)        # ✓ check_nt_xent passed (6 cases)

On a mismatch it raises :class:`CheckFailed` (an ``AssertionError``) whose message names the
most likely bug — found by running deliberately buggy versions of the reference, kept in
:mod:`cssl_edu.checks.bugs`, and seeing which one your code agrees with — and a hint to fix
it; when no known bug matches, it says where and by how much the values differ. If your
function still raises ``NotImplementedError`` (an exercise stub), the check prints
"not implemented yet" and lets that ``NotImplementedError`` through.

=============================  =============================================================
check                          what it expects
=============================  =============================================================
check_nt_xent(fn)              ``fn(z1, z2, temperature) -> loss``
check_info_nce(fn)             ``fn(query, key, negatives, temperature) -> loss``
check_supcon(fn)               ``fn(features (N, V, d), labels, temperature) -> loss``
check_triplet(fn, mining)      ``fn(embeddings, labels, margin) -> loss``
check_margin_contrastive(fn)   ``fn(x1, x2, same, margin) -> loss``
check_alignment(fn)            ``fn(z1, z2) -> alignment``
check_uniformity(fn)           ``fn(z) -> uniformity``
check_moco_queue(cls)          ``cls(size, dim)`` with ``enqueue(keys)`` and ``negatives()``
check_moco_step(fn)            ``fn(query, key, queue, temperature) -> loss`` (then enqueue)
check_momentum_update(fn)      ``fn(online, target, m)`` updating ``target`` in place
check_mix_hard_negatives(fn)   ``fn(query, negatives, n_hard, s, s_prime) -> (N, s + s', d)``
check_augment(fn)              ``fn(images uint8 (B, 3, H, W)) -> views float (B, 3, S, S)``
check_sinkhorn(fn)             ``fn(scores (B, K), epsilon, n_iters) -> Q (B, K)``, no gradient
check_swav_loss(fn)            ``fn(scores (V, B, K), temperature, epsilon, n_iters) -> loss``
check_prototype_scores(fn)     ``fn(z (B, d), prototypes (K, d)) -> scores (B, K)``
check_knn_leave_one_out(fn)    ``fn(features (N, D), labels (N,), k, temperature) -> predictions (N,)``
check_extract_features(fn)     ``fn(encoder, images (N, 3, H, W), batch_size) -> features (N, D)``
check_select_on_validation(fn) ``fn(val_scores (R, C), test_scores (R, C)) -> (chosen (R,), reported (R,))``
=============================  =============================================================

The evaluation checks (problem set 14) keep their known bugs in :data:`EVAL_BUGS`.
"""

from cssl_edu.checks._core import CheckFailed
from cssl_edu.checks.augment import check_augment
from cssl_edu.checks.bugs import BUGS, Bug, bugs_for
from cssl_edu.checks.evaluation import (
    EVAL_BUGS,
    check_extract_features,
    check_knn_leave_one_out,
    check_select_on_validation,
)
from cssl_edu.checks.losses import (
    check_alignment,
    check_alignment_uniformity,
    check_info_nce,
    check_margin_contrastive,
    check_nt_xent,
    check_supcon,
    check_triplet,
    check_uniformity,
)
from cssl_edu.checks.moco import (
    check_mix_hard_negatives,
    check_moco_queue,
    check_moco_step,
    check_momentum_update,
)
from cssl_edu.checks.swav import check_prototype_scores, check_sinkhorn, check_swav_loss

__all__ = [
    "BUGS",
    "EVAL_BUGS",
    "Bug",
    "CheckFailed",
    "bugs_for",
    "check_alignment",
    "check_alignment_uniformity",
    "check_augment",
    "check_extract_features",
    "check_info_nce",
    "check_knn_leave_one_out",
    "check_margin_contrastive",
    "check_mix_hard_negatives",
    "check_moco_queue",
    "check_moco_step",
    "check_momentum_update",
    "check_nt_xent",
    "check_prototype_scores",
    "check_select_on_validation",
    "check_sinkhorn",
    "check_supcon",
    "check_swav_loss",
    "check_triplet",
    "check_uniformity",
]
