"""Attribution methods: which parts of an input a model's decision rests on.

Every function takes ``model``, a callable that maps a batch of inputs x (N, ...) to logits
(N, C): a ``minidl.nn.Module`` or a ``minidl.keras`` model (for a Keras model that ends in a
softmax, the values before the softmax are used), and ``target``, the class whose logit
f_target is explained: one int for the whole batch or one per example. The examples of a batch
are explained at once, as Σ_n f_{target_n}(x_n) has ∂/∂x_n = ∂f_{target_n}(x_n)/∂x_n; so put
a model with batch-dependent layers (BatchNorm, Dropout) in ``eval()`` mode first.
Attributions come back as Tensors of the input's shape, without grad.

Derived and drawn in notebooks/08_interpretability.ipynb.
"""

from __future__ import annotations

import numbers
import sys

import numpy as np

from .autograd import grad, no_grad
from .backend import as_numpy, get_array_module
from .tensor import Tensor

__all__ = [
    "attention_maps",
    "attention_rollout",
    "grad_cam",
    "integrated_gradients",
    "saliency",
    "smoothgrad",
]


def _input(x, what):
    """A fresh float leaf Tensor holding x (a Tensor or an array), batch axis first."""
    data = x.detach().array if isinstance(x, Tensor) else np.asarray(x)
    if data.dtype.kind not in "f":
        if data.dtype.kind not in "iub":
            raise TypeError(f"{what}: x must hold numbers, got dtype {data.dtype}")
        data = data.astype(np.float32)
    if data.ndim < 1 or data.shape[0] == 0:
        raise ValueError(f"{what}: x must be a non-empty batch (N, ...), got shape {tuple(data.shape)}")
    return data


def logits_of(model, x):
    """f(x): the model's logits (N, C). For a Keras model ending in softmax/sigmoid, the values
    before it (``Layer.logits``); for anything else, ``model(x)``."""
    run = getattr(model, "_run", None)
    if run is not None and hasattr(model, "compile"):  # a minidl.keras Model
        out, z, _ = run([x], False, want_logits=True)
        out = out if z is None else z
    else:
        out = model(x)
    if isinstance(out, tuple):
        out = out[0]
    if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0]:
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"the model must map x {tuple(x.shape)} to logits (N, C) with N = {x.shape[0]}, got {shape}")
    return out


def _targets(target, n, c, what):
    """target as an int array (N,), checked against N examples and C classes."""
    t = as_numpy(target.detach().array) if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu" or t.ndim > 1:
        raise TypeError(f"{what}: target must be an int or a 1-D sequence of ints, got {target!r}")
    t = np.broadcast_to(t, (n,)) if t.ndim == 0 else t
    if t.shape != (n,):
        raise ValueError(f"{what}: target has {t.shape[0]} entries for a batch of {n} examples")
    if t.min() < 0 or t.max() >= c:
        raise ValueError(f"{what}: target must be in [0, {c}), got {t.tolist()}")
    return t


def _selected(logits, t):
    """(Σ_n f_{t_n}(x_n), f_{t_n}(x_n) per example (N,) as an array)."""
    xp = get_array_module(logits.array)
    onehot = xp.zeros(logits.shape, dtype=logits.dtype)  # (N, C)
    onehot[np.arange(len(t)), xp.asarray(t)] = 1
    picked = logits * Tensor._make(onehot, False)  # (N, C), zero but at the targets
    return picked.sum(), picked.detach().array.sum(axis=1)


def _gradient(model, data, target, what):
    """(∂f_target/∂x at data (N, ...), f_target(data) (N,))."""
    x = Tensor._make(data, True)
    logits = logits_of(model, x)
    t = _targets(target, data.shape[0], logits.shape[1], what)
    total, values = _selected(logits, t)
    (dx,) = grad(total, x)
    return dx.array, values


def _values(model, data, target, what):
    """f_target(data) (N,), without a graph."""
    with no_grad():
        logits = logits_of(model, Tensor._make(data, False))
        return _selected(logits, _targets(target, data.shape[0], logits.shape[1], what))[1]


def saliency(model, x, target, abs=False):  # noqa: A002 - captum's name
    """Saliency (Simonyan et al. 2014): the gradient of the target logit with respect to the input,

        S(x) = ∂f_target(x)/∂x            x, S: (N, ...)

    with ``abs=True`` its magnitude |∂f_target/∂x| (the map the paper draws; captum's default).
    For a linear model f(x) = W x + b it is the row W_target. notebooks/08_interpretability.ipynb"""
    dx, _ = _gradient(model, _input(x, "saliency"), target, "saliency")
    xp = get_array_module(dx)
    return Tensor._make(xp.abs(dx) if abs else dx, False)


def smoothgrad(model, x, target, samples=25, sigma=0.15, seed=None, noise=None):
    """SmoothGrad (Smilkov et al. 2017): the saliency averaged over noisy copies of the input,

        SG(x) = (1/M) Σ_m ∂f_target(x + ε_m)/∂x,      ε_m ~ N(0, σ² I),  m = 1..M

    ``sigma`` is the absolute standard deviation of the noise (captum's ``stdevs``; the paper
    picks σ = 10-20 % of the input's range). ``noise`` (M, N, ...) replaces the random draws,
    e.g. to compare with another library on the same noise. The M noisy copies go through the
    model as one batch of M·N examples. notebooks/08_interpretability.ipynb"""
    data = _input(x, "smoothgrad")
    if noise is None:
        if not isinstance(samples, numbers.Integral) or samples < 1:
            raise ValueError(f"smoothgrad: samples must be a positive int, got {samples!r}")
        if not sigma >= 0:
            raise ValueError(f"smoothgrad: sigma must be >= 0, got {sigma!r}")
        rng = np.random.default_rng(seed)
        noise = rng.normal(0.0, sigma, size=(samples,) + data.shape)
    noise = as_numpy(noise.detach().array) if isinstance(noise, Tensor) else np.asarray(noise)
    if noise.ndim != data.ndim + 1 or noise.shape[1:] != data.shape:
        raise ValueError(f"smoothgrad: noise must have shape (M,) + {data.shape}, got {noise.shape}")
    xp = get_array_module(data)
    m = len(noise)
    dx, _ = _gradient(model, (data[None] + xp.asarray(noise, dtype=data.dtype)).reshape((-1,) + data.shape[1:]),
                      np.tile(_targets(target, data.shape[0], np.iinfo(np.int64).max, "smoothgrad"), m), "smoothgrad")
    total = dx.reshape((m,) + data.shape).sum(axis=0)  # (M·N, ...) -> (N, ...): one batch for all copies
    return Tensor._make(total / len(noise), False)


def _path(method, steps):
    """Points α_k in [0, 1] and weights w_k with ∫₀¹ g(α) dα ≈ Σ_k w_k g(α_k)."""
    if not isinstance(steps, numbers.Integral) or steps < 2:
        raise ValueError(f"integrated_gradients: steps must be an int >= 2, got {steps!r}")
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(int(steps))  # on [-1, 1]
        return 0.5 * (nodes + 1), 0.5 * weights
    if method == "riemann_trapezoid":
        w = np.full(steps, 1.0 / (steps - 1))
        w[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, steps), w
    raise ValueError(f"integrated_gradients: method must be 'gausslegendre' or 'riemann_trapezoid', got {method!r}")


def _weighted_gradients(model, start, direction, alphas, weights, target, batch_size, what):
    """Σ_k w_k ∂f_target(start + α_k · direction)/∂x, the points evaluated in batches of steps."""
    n = start.shape[0]
    if batch_size is not None and (not isinstance(batch_size, numbers.Integral) or batch_size < 1):
        raise ValueError(f"{what}: internal_batch_size must be a positive int or None, got {batch_size!r}")
    per_pass = len(alphas) if batch_size is None else max(1, batch_size // n)
    t = np.tile(_targets(target, n, np.iinfo(np.int64).max, what), per_pass)
    xp = get_array_module(start)
    dtype = start.dtype
    total = xp.zeros_like(start)
    for lo in range(0, len(alphas), per_pass):
        a = xp.asarray(alphas[lo:lo + per_pass], dtype=dtype).reshape((-1,) + (1,) * start.ndim)
        w = xp.asarray(weights[lo:lo + per_pass], dtype=dtype).reshape((-1,) + (1,) * start.ndim)
        points = (start[None] + a * direction[None]).reshape((-1,) + start.shape[1:])  # (K·N, ...)
        dx, _ = _gradient(model, points, t[: points.shape[0]], what)
        total += (w * dx.reshape((-1,) + start.shape)).sum(axis=0)  # (K, N, ...) -> (N, ...)
    return total


def integrated_gradients(model, x, target, baseline=None, steps=50, method="gausslegendre", internal_batch_size=None):
    """Integrated gradients (Sundararajan et al. 2017), from a baseline x' (zeros by default):

        IG(x) = (x − x') ⊙ ∫₀¹ ∂f_target(x' + α (x − x'))/∂x dα
              ≈ (x − x') ⊙ Σ_k w_k ∂f_target(x' + α_k (x − x'))/∂x

    with ``method="gausslegendre"`` (captum's default: α_k, w_k the Gauss–Legendre nodes and
    weights moved to [0, 1]; exact for a polynomial path of degree < 2·steps) or
    ``"riemann_trapezoid"`` (α_k = k/(steps−1), w_k = 1/(steps−1), halved at both ends; captum's
    ``riemann_trapezoid`` takes w_k = 1/steps, whose sum is (steps−1)/steps, not 1).
    The integral makes the attributions complete: Σ_i IG_i(x) = f_target(x) − f_target(x').
    Returns (IG (N, ...), the completeness error Σ_i IG_i − (f(x) − f(x')) per example (N,));
    the error measures the quadrature and goes to 0 as ``steps`` grows (captum's
    ``convergence_delta``). The path points go through the model as one batch of steps·N
    examples, or in batches of ``internal_batch_size`` (as in captum) to bound memory.
    notebooks/08_interpretability.ipynb"""
    data = _input(x, "integrated_gradients")
    xp = get_array_module(data)
    if baseline is None:
        base = xp.zeros_like(data)
    else:
        base = _input(baseline, "integrated_gradients").astype(data.dtype, copy=False)
        if base.shape != data.shape:
            if base.shape != data.shape[1:] and base.shape != (1,) + data.shape[1:]:
                raise ValueError(
                    f"integrated_gradients: baseline shape {base.shape} fits neither x {data.shape} nor one example"
                )
            base = xp.broadcast_to(base.reshape((1,) + data.shape[1:]), data.shape)
    alphas, weights = _path(method, steps)
    total = _weighted_gradients(model, base, data - base, alphas, weights, target, internal_batch_size,
                                "integrated_gradients")
    attributions = (data - base) * total  # (N, ...)
    f_x = _values(model, data, target, "integrated_gradients")
    f_b = _values(model, xp.ascontiguousarray(base), target, "integrated_gradients")
    error = attributions.reshape(len(data), -1).sum(axis=1) - (f_x - f_b)
    return Tensor._make(attributions, False), Tensor._make(error, False)


def grad_cam(model, x, target, layer):
    """Grad-CAM (Selvaraju et al. 2017) at a convolutional ``layer`` (a Module inside the model
    whose output is a feature map A of shape (N, K, H, W)):

        α_k = (1/(H W)) Σ_ij ∂f_target/∂A_kij          (N, K)   the channel's importance
        L = ReLU(Σ_k α_k A_k)                            (N, H, W)

    The map has the layer's resolution (stretch it over the image to draw it; captum's
    ``LayerGradCam`` with ``relu_attributions=True`` returns the same, with a channel axis).
    The activation is caught with a forward hook. notebooks/08_interpretability.ipynb"""
    if not hasattr(layer, "register_forward_hook"):
        raise TypeError(f"grad_cam: layer must be a Module of the model, got {type(layer).__name__}")
    data = _input(x, "grad_cam")
    caught = []
    handle = layer.register_forward_hook(lambda module, inputs, out: caught.append(out))
    try:
        logits = logits_of(model, Tensor._make(data, True))
    finally:
        handle.remove()
    if len(caught) != 1:
        raise ValueError(f"grad_cam: the layer ran {len(caught)} times in one forward pass; it must run once")
    A = caught[0]
    if not isinstance(A, Tensor) or A.ndim != 4 or A.shape[0] != data.shape[0]:
        got = getattr(A, "shape", type(A).__name__)
        raise ValueError(f"grad_cam: the layer's output must be a feature map (N, K, H, W), got {got}")
    total, _ = _selected(logits, _targets(target, data.shape[0], logits.shape[1], "grad_cam"))
    (dA,) = grad(total, A)
    alpha = dA.array.mean(axis=(2, 3), keepdims=True)  # (N, K, 1, 1)
    xp = get_array_module(alpha)
    cam = xp.maximum((alpha * A.detach().array).sum(axis=1), 0)  # (N, K, H, W) -> (N, H, W)
    return Tensor._make(cam, False)


def _is_attention(module):
    from .nn.attention import MultiheadAttention

    return isinstance(module, MultiheadAttention) or _is_keras_attention(module)


def _is_keras_attention(module):
    keras_layers = sys.modules.get("minidl.keras.layers.attention")  # loaded only if keras is in use
    return keras_layers is not None and isinstance(module, keras_layers.MultiHeadAttention)


def attention_maps(model, x, **kwargs):
    """The attention weights of every multi-head attention inside ``model`` (``nn.MultiheadAttention``,
    or ``keras.layers.MultiHeadAttention`` in a Keras model), per head, in the order the layers ran,
    for one forward pass ``model(x, **kwargs)``:

        A_l = softmax(Q_h K_hᵀ / √D + mask)      one (N, H, L, S) array per layer l

    (one (H, L, S) array for unbatched input). Layers such as ``TransformerEncoderLayer`` call
    their attention with ``need_weights=False``; a forward hook (``with_kwargs=True``, so the masks
    are kept) runs each attention once more on the same inputs with ``need_weights=True,
    average_attn_weights=False``. A Keras attention layer is called, for this one pass, with
    ``return_attention_scores=True`` (its masks are those of the call). Dropout on the weights
    applies in training mode only: call ``model.eval()`` first (a Keras model runs with
    ``training=False``). notebooks/08_interpretability.ipynb"""
    layers = [m for m in model.modules() if _is_attention(m)] if hasattr(model, "modules") else []
    if not layers:
        raise ValueError(f"attention_maps: {type(model).__name__} holds no multi-head attention layer "
                         "(nn.MultiheadAttention or keras.layers.MultiHeadAttention)")
    maps = []

    def record(module, args, kw, out):
        with no_grad():
            again = dict(kw, need_weights=True, average_attn_weights=False)
            maps.append(module.forward(*args, **again)[1].detach())

    def keras_call(layer):
        def call(*args, **kw):
            wanted = kw.pop("return_attention_scores", False)
            out, scores = type(layer).call(layer, *args, return_attention_scores=True, **kw)
            maps.append(scores.detach())
            return (out, scores) if wanted else out
        return call

    handles = []
    for m in layers:
        if _is_keras_attention(m):
            m.call = keras_call(m)  # an instance attribute, deleted below
        else:
            handles.append(m.register_forward_hook(record, with_kwargs=True))
    try:
        with no_grad():
            model(x, **({"training": False} | kwargs) if hasattr(model, "compile") else kwargs)  # Keras: eval
    finally:
        for h in handles:
            h.remove()
        for m in layers:
            m.__dict__.pop("call", None)
    return maps


def attention_rollout(maps, residual=0.5, head_fusion="mean"):
    """Attention rollout (Abnar & Zuidema 2020): how much each output position draws on each
    input token through all layers, with the residual connections counted as attention to self:

        Â_l = rownorm(residual · fuse_h(A_l) + (1 − residual) · I)      (N, L, L)
        R = Â_L Â_{L−1} ⋯ Â_1                                             (N, L, L)

    ``maps``: a list of (N, H, L, L) or (N, L, L) weights, first layer first (``attention_maps``
    gives them); ``head_fusion`` "mean" (the paper's), "max" or "min" over heads. Every row of R
    sums to 1. notebooks/08_interpretability.ipynb"""
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"attention_rollout: residual must be in [0, 1], got {residual!r}")
    if head_fusion not in ("mean", "max", "min"):
        raise ValueError(f"attention_rollout: head_fusion must be 'mean', 'max' or 'min', got {head_fusion!r}")
    if len(maps) == 0:
        raise ValueError("attention_rollout: maps is empty")
    rollout = None
    for i, a in enumerate(maps):
        a = a.detach().array if isinstance(a, Tensor) else np.asarray(a)
        xp = get_array_module(a)
        a = getattr(xp, head_fusion)(a, axis=-3) if a.ndim == 4 else a  # (N, H, L, L) -> (N, L, L)
        if a.ndim != 3 or a.shape[-1] != a.shape[-2]:
            raise ValueError(f"attention_rollout: map {i} must be (N, H, L, L) or (N, L, L), got {a.shape}")
        if rollout is not None and a.shape != rollout.shape:
            raise ValueError(f"attention_rollout: map {i} has shape {a.shape}, the ones before {rollout.shape}")
        a = residual * a + (1 - residual) * xp.eye(a.shape[-1], dtype=a.dtype)
        a = a / a.sum(axis=-1, keepdims=True)
        rollout = a if rollout is None else a @ rollout  # (N, L, L) @ (N, L, L)
    return Tensor._make(rollout, False)
