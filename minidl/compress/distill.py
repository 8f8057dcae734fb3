"""Knowledge distillation (Hinton, Vinyals and Dean, 2015): a small student learns from the
softened outputs of a large teacher as well as from the labels.

With student logits s, teacher logits t (N, C), integer labels y (N,), temperature T and weight α:

    p_t = softmax(t / T),   q_s = softmax(s / T)                       (softened distributions)
    L = α · T² · KL(p_t ‖ q_s) + (1 − α) · CE(s, y)
      = α · T² · (1/N) Σ_n Σ_c p_t[n,c] (log p_t[n,c] − log q_s[n,c]) + (1 − α) · (1/N) Σ_n −log softmax(s)[n, y_n]

    dL/ds = α · T · (q_s − p_t) / N + (1 − α) · (softmax(s) − onehot(y)) / N     (the teacher gets none)

The T² keeps the soft term's gradient, which scales as 1/T, comparable to the hard term's as T
changes. Shapes: s, t (N, C); y (N,) int; L a scalar. Composed of log_softmax, kl_div and
cross_entropy (autograd derives the backward, and the second derivative).
Notebook: notebooks/10_compression.ipynb, section 4.
"""

from __future__ import annotations

import math
import numbers

from .. import functional as F
from ..autograd import no_grad
from ..tensor import Tensor


def _check(student_logits, teacher_logits, targets, T, alpha):
    op = "distillation_loss"
    if not isinstance(T, numbers.Real) or isinstance(T, bool) or not (T > 0 and math.isfinite(T)):
        raise ValueError(f"{op}: temperature T={T!r} should be a positive number")
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{op}: alpha={alpha!r} should be a number in [0, 1]")
    s, t = tuple(student_logits.shape), tuple(teacher_logits.shape)
    if len(s) != 2 or s != t:
        raise ValueError(f"{op}: student logits {s} and teacher logits {t} should both be (N, C)")
    if targets is None:
        if alpha != 1:
            raise ValueError(f"{op}: targets are needed unless alpha == 1 (alpha={alpha})")
    elif tuple(targets.shape) != s[:1]:
        raise ValueError(f"{op}: targets of shape {tuple(targets.shape)} do not fit logits of shape {s} "
                         f"(expected ({s[0]},))")


def distillation_loss(student_logits, teacher_logits, targets, T=4.0, alpha=0.9):
    """α · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α) · CE(s, y), batch means (see the module
    docstring). ``teacher_logits`` are constants (detached); ``targets`` may be None when α = 1."""
    _check(student_logits, teacher_logits, targets, T, alpha)
    log_q = F.log_softmax(student_logits / T, 1)  # (N, C)
    log_p = F.log_softmax(teacher_logits.detach() / T, 1)  # (N, C), no gradient to the teacher
    soft = F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)  # (1/N) Σ p (log p − log q)
    loss = soft * (alpha * T * T)
    if alpha < 1:
        loss = loss + F.cross_entropy(student_logits, targets) * (1 - alpha)
    return loss


def _as_tensor(v):
    return v if isinstance(v, Tensor) else Tensor._make(v, False)


def distill(student, teacher, loader, optimizer, epochs=1, T=4.0, alpha=0.9, callback=None):
    """Train ``student`` (an ``nn.Module`` giving logits) on ``loader`` (batches of (x, y)) to
    minimise ``distillation_loss(student(x), teacher(x), y, T, alpha)`` with ``optimizer``, for
    ``epochs`` epochs. The teacher runs in eval mode without gradients. ``callback(epoch, mean_loss)``
    is called after each epoch. Returns the mean loss of each epoch."""
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"distill: epochs={epochs!r} should be a non-negative int")
    teacher.eval()
    history = []
    for epoch in range(epochs):
        student.train()
        total, count = 0.0, 0
        for x, y in loader:
            x, y = _as_tensor(x), _as_tensor(y)
            with no_grad():
                teacher_logits = teacher(x)
            loss = distillation_loss(student(x), teacher_logits, y, T, alpha)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.array) * x.shape[0]
            count += x.shape[0]
        if not count:
            raise ValueError("distill: the loader gave no batches")
        history.append(total / count)
        if callback is not None:
            callback(epoch, history[-1])
    student.eval()
    return history
