"""Adversarial examples and adversarial training.

An attack looks for x_adv close to x (‖x_adv − x‖ ≤ ε) that raises the loss L(f(x_adv), y) of a
model f: a ``minidl.nn.Module`` or a ``minidl.keras`` model mapping a batch (N, ...) to logits
(N, C) (for a Keras model ending in softmax, the values before it). x_adv is also kept in the
valid input range ``clamp`` (pixels in [0, 1] by default; ``clamp=None`` for none). The loss is
cross-entropy on the logits unless ``loss_fn(logits, y)`` says otherwise; y holds class indices
(N,) (one-hot rows are turned into indices). The attacks leave the model's parameters, mode and
grads alone: put a model with Dropout or BatchNorm in ``eval()`` first if the attack should see
the deterministic model. Adversarial examples come back as Tensors without grad.

Derived and drawn in notebooks/09_adversarial.ipynb.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import functional as F
from .autograd import grad
from .backend import as_numpy, get_array_module
from .explain import logits_of
from .keras.training import Model
from .tensor import Tensor

__all__ = ["AdversarialModel", "adversarial_training_step", "fgsm", "pgd"]


def _labels(y, n, what):
    t = as_numpy(y.detach().array) if isinstance(y, Tensor) else np.asarray(y)
    if t.ndim == 2 and t.dtype.kind == "f":
        t = t.argmax(axis=1)  # one-hot rows
    if t.ndim != 1 or t.dtype.kind not in "iu" or t.shape[0] != n:
        raise ValueError(f"{what}: y must hold {n} class indices (N,), got shape {t.shape} of dtype {t.dtype}")
    return t.astype(np.int64)


def _data(x, what):
    data = x.detach().array if isinstance(x, Tensor) else np.asarray(x)
    if data.dtype.kind != "f":
        data = data.astype(np.float32)
    if data.ndim < 1 or data.shape[0] == 0:
        raise ValueError(f"{what}: x must be a non-empty batch (N, ...), got shape {tuple(data.shape)}")
    return data


def _check(eps, clamp, what):
    if not isinstance(eps, numbers.Real) or not eps >= 0:
        raise ValueError(f"{what}: eps must be a number >= 0, got {eps!r}")
    if clamp is not None and (len(clamp) != 2 or not clamp[0] < clamp[1]):
        raise ValueError(f"{what}: clamp must be None or (low, high) with low < high, got {clamp!r}")


def loss_gradient(model, data, y, loss_fn=None):
    """(∂L(f(x), y)/∂x at data (N, ...), L): one forward and one backward pass."""
    x = Tensor._make(data, True)
    logits = logits_of(model, x)
    target = Tensor._make(get_array_module(data).asarray(y), False)
    loss = F.cross_entropy(logits, target) if loss_fn is None else loss_fn(logits, target)
    (dx,) = grad(loss, x)
    return dx.array, float(loss.item())


def _clamp(xp, a, clamp):
    return a if clamp is None else xp.clip(a, clamp[0], clamp[1])


def fgsm(model, x, y, eps, clamp=(0.0, 1.0), loss_fn=None):
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size ε along the sign of
    the loss gradient, the best step of the linearised loss inside the L∞ ball,

        x_adv = clamp(x + ε · sign(∂L(f(x), y)/∂x), low, high)          x, x_adv: (N, ...)

    notebooks/09_adversarial.ipynb"""
    _check(eps, clamp, "fgsm")
    data = _data(x, "fgsm")
    dx, _ = loss_gradient(model, data, _labels(y, data.shape[0], "fgsm"), loss_fn)
    xp = get_array_module(dx)
    step = data.dtype.type(eps) * xp.sign(dx)
    return Tensor._make(_clamp(xp, data + step, clamp).astype(data.dtype, copy=False), False)


def _norms(xp, a):
    """‖a_n‖₂ per example, shaped (N, 1, ..., 1) to broadcast against a."""
    n = xp.sqrt((a.reshape(len(a), -1) ** 2).sum(axis=1))
    return n.reshape((len(a),) + (1,) * (a.ndim - 1))


def _project(xp, delta, eps, norm):
    """The nearest point of the ε-ball to δ: clip per element (L∞), or shrink to radius ε (L2)."""
    if norm == "inf":
        return xp.clip(delta, -eps, eps)
    length = _norms(xp, delta)
    return delta * xp.minimum(1.0, eps / xp.maximum(length, 1e-12))


def _random_start(xp, shape, eps, norm, rng, dtype):
    """A uniform point of the L∞ ball, or of the L2 ball (a random direction, radius ε·u^(1/d))."""
    if norm == "inf":
        return xp.asarray(rng.uniform(-eps, eps, size=shape)).astype(dtype)
    z = rng.normal(size=shape)
    d = int(np.prod(shape[1:]))
    z /= np.sqrt((z.reshape(shape[0], -1) ** 2).sum(axis=1)).reshape((shape[0],) + (1,) * (len(shape) - 1))
    r = eps * rng.uniform(size=(shape[0],) + (1,) * (len(shape) - 1)) ** (1.0 / d)
    return xp.asarray(z * r).astype(dtype)


def pgd(model, x, y, eps, alpha, steps, norm="inf", random_start=True, clamp=(0.0, 1.0), seed=None, loss_fn=None):
    """Projected gradient descent on the loss (Madry et al. 2018): from x (or a random point of
    the ball), ``steps`` ascent steps of size α, each projected back onto the ε-ball around x and
    onto the valid range:

        L∞:  x_{k+1} = Π(x_k + α · sign(g_k))                 g_k = ∂L(f(x_k), y)/∂x_k
        L2:  x_{k+1} = Π(x_k + α · g_k / ‖g_k‖₂)              (per example)
        Π(z) = clamp(x + P_ε(z − x), low, high),  P_ε clips to [−ε, ε] (L∞) or scales to ‖·‖₂ ≤ ε (L2)

    ``seed`` seeds the random start. With ``random_start=False, steps=1, alpha=eps, norm="inf"``
    this is FGSM. notebooks/09_adversarial.ipynb"""
    _check(eps, clamp, "pgd")
    if norm not in ("inf", "2"):
        raise ValueError(f"pgd: norm must be 'inf' or '2', got {norm!r}")
    if not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"pgd: steps must be a positive int, got {steps!r}")
    if not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(f"pgd: alpha must be a number > 0, got {alpha!r}")
    data = _data(x, "pgd")
    labels = _labels(y, data.shape[0], "pgd")
    xp = get_array_module(data)
    adv = data.copy()
    if random_start and eps > 0:
        delta = _random_start(xp, data.shape, eps, norm, np.random.default_rng(seed), data.dtype)
        adv = _clamp(xp, data + delta, clamp)
    for _ in range(steps):
        g, _ = loss_gradient(model, adv, labels, loss_fn)
        step = xp.sign(g) if norm == "inf" else g / xp.maximum(_norms(xp, g), 1e-12)
        adv = adv + data.dtype.type(alpha) * step
        adv = _clamp(xp, data + _project(xp, adv - data, eps, norm), clamp).astype(data.dtype, copy=False)
    return Tensor._make(adv, False)


def _attacked(model, attack, x, y):
    """attack(model, x, y) with the model in eval mode (Dropout off, BatchNorm on its running
    statistics), then back in the mode it was in."""
    was = model.training
    model.eval()
    try:
        return attack(model, x, y)
    finally:
        model.train(was)


def adversarial_training_step(model, optimizer, x, y, attack, loss_fn=None, clean_weight=0.0):
    """One step of adversarial training (Madry et al. 2018) for an ``nn`` model: minimise the loss
    at the attack's examples instead of (or beside) the clean ones,

        min_θ  (1 − λ) · L(f_θ(x_adv), y) + λ · L(f_θ(x), y),      x_adv = attack(f_θ, x, y)

    with λ = ``clean_weight`` (0: adversarial examples only). ``attack(model, x, y)`` returns
    x_adv, e.g. ``functools.partial(pgd, eps=0.3, alpha=0.01, steps=40)``; it runs with the model
    in eval mode, the update in the mode the model was in. Returns the loss (a float).
    notebooks/09_adversarial.ipynb"""
    if not callable(attack):
        raise TypeError(f"adversarial_training_step: attack must be a callable (model, x, y) -> x_adv, got {attack!r}")
    if not 0.0 <= clean_weight <= 1.0:
        raise ValueError(f"adversarial_training_step: clean_weight must be in [0, 1], got {clean_weight!r}")
    data = _data(x, "adversarial_training_step")
    labels = _labels(y, data.shape[0], "adversarial_training_step")
    target = Tensor._make(get_array_module(data).asarray(labels), False)
    adv = _attacked(model, attack, data, labels)
    loss_of = (lambda z: F.cross_entropy(z, target)) if loss_fn is None else (lambda z: loss_fn(z, target))
    loss = loss_of(logits_of(model, adv))
    if clean_weight > 0:
        loss = (1 - clean_weight) * loss + clean_weight * loss_of(logits_of(model, Tensor._make(data, False)))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.item())


class AdversarialModel(Model):
    """A Keras model trained on adversarial examples: ``fit`` attacks each batch first, then takes
    the wrapped model's usual step (its compiled loss and metrics) on the result,

        x_adv = attack(model, x, y);   θ ← θ − η ∂L(f_θ(x_adv), y)/∂θ

    while ``evaluate`` and ``predict`` see clean inputs. The weights are the wrapped model's own:
    compile and fit the wrapper, then use either.

        robust = attacks.AdversarialModel(model, functools.partial(attacks.pgd, eps=0.3, alpha=0.01, steps=40))
        robust.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        robust.fit(x_train, y_train, epochs=5)

    notebooks/09_adversarial.ipynb"""

    def __init__(self, model, attack, name=None):
        if not isinstance(model, Model):
            raise TypeError(f"AdversarialModel: model must be a minidl.keras model, got {type(model).__name__}")
        if not callable(attack):
            raise TypeError(f"AdversarialModel: attack must be a callable (model, x, y) -> x_adv, got {attack!r}")
        super().__init__(name=name or f"adversarial_{model.name}")
        self.model = model
        self.attack = attack

    def call(self, inputs, training=None, mask=None):
        return self.model(inputs, training=training)

    def _run(self, xs, training, want_logits=False):
        return self.model._run(xs, training, want_logits)

    def train_step(self, xs, y, sample_weight=None):
        if len(xs) != 1:
            raise ValueError(f"AdversarialModel: the attacks take one input, the model has {len(xs)}")
        adv = _attacked(self.model, self.attack, xs[0], y)
        self.model.train()
        return super().train_step([adv], y, sample_weight)
