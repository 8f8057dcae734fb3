"""Numerical gradient checks, following the contract of ``torch.autograd.gradcheck``.

For a function ``f`` with outputs ``y`` and a **random** upstream gradient ``v`` (never all
ones: a backward that returns zeros for softmax would pass a ones-check, since Σ softmax = 1),
the analytical vector-Jacobian product ``vᵀ ∂y/∂x`` from backward is compared with central
differences

    ∂(v·y)/∂x_i ≈ (v·f(x + ε e_i) − v·f(x − ε e_i)) / 2ε

for every element of every input that requires grad. ``fast_mode`` compares one random
direction ``u`` per input instead: ``vᵀ J u`` against ``(v·f(x + εu) − v·f(x − εu)) / 2ε``.

``gradgradcheck`` runs the same check on the function that returns the gradients
(built with ``create_graph=True``), so second derivatives are checked too.
"""

from __future__ import annotations

import numpy

from . import backend
from .autograd import enable_grad, grad, no_grad
from .dtypes import float64
from .tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised when an analytical gradient disagrees with the numerical one."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _name(fn):
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):  # a classmethod such as MyOp.apply: name the op, not Function
        return f"{owner.__name__}.{fn.__name__}"
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _diff_inputs(inputs, where):
    found = []
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad:
            if t.dtype != float64:
                raise TypeError(
                    f"{where}: input {i} has dtype {t.dtype}; finite differences need float64 inputs "
                    "(use .double() or dtype=minidl.float64)"
                )
            found.append(i)
    if not found:
        raise ValueError(f"{where}: no input requires grad, so there is nothing to check")
    return found


def _float_outputs(outputs):
    return [k for k, o in enumerate(outputs) if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _weighted_sum(fn, inputs, vs, out_idx):
    """v·f(inputs) as a Python float."""
    with no_grad():
        outs = _as_tuple(fn(*inputs))
    total = 0.0
    for k, v in zip(out_idx, vs):
        total += float((backend.as_numpy(outs[k].array).astype(numpy.float64) * v).sum())
    return total


def _report(fn, where, i, shape, idx, analytical, numerical, atol, rtol):
    tol = atol + rtol * abs(numerical)
    place = f"element {tuple(int(j) for j in idx)}" if idx is not None else "a random direction"
    return (
        f"{where} failed for {_name(fn)}: gradient of input {i} (shape {tuple(shape)}) at {place}: "
        f"analytical {analytical:.8g} vs numerical {numerical:.8g}, |difference| "
        f"{abs(analytical - numerical):.3g} > atol + rtol*|numerical| = {tol:.3g}"
    )


def gradcheck(
    fn,
    inputs,
    eps=1e-6,
    atol=1e-5,
    rtol=1e-3,
    fast_mode=False,
    raise_exception=True,
    seed=None,
    _where="gradcheck",
):
    """Check the gradients of ``fn(*inputs)`` against central differences.

    Every Tensor input with ``requires_grad=True`` (float64 required) is checked. Returns True
    when all gradients agree; otherwise raises ``GradcheckError`` naming the input, the worst
    element and both values (or returns False with ``raise_exception=False``).
    """
    inputs = _as_tuple(inputs)
    diff_idx = _diff_inputs(inputs, _where)
    outputs = _as_tuple(fn(*inputs))
    out_idx = _float_outputs(outputs)
    if not out_idx:
        raise ValueError(f"{_where}: {_name(fn)} returned no floating point tensor")
    rng = numpy.random.default_rng(seed)
    vs = [rng.standard_normal(outputs[k].shape) for k in out_idx]

    # analytical: vᵀJ for every checked input, from one backward pass
    grad_outs = [o for k, o in enumerate(outputs) if k in out_idx]
    live = [(o, v) for o, v in zip(grad_outs, vs) if o.requires_grad]
    diff_tensors = [inputs[i] for i in diff_idx]
    if live:
        xp = backend.get_array_module(live[0][0].array)
        analytic = grad(
            [o for o, _ in live],
            diff_tensors,
            [Tensor._make(xp.asarray(v, dtype=o.dtype), False) for o, v in live],
            allow_unused=True,
        )
    else:
        analytic = [None] * len(diff_tensors)

    for i, t, g in zip(diff_idx, diff_tensors, analytic):
        if g is not None and tuple(g.shape) != tuple(t.shape):
            raise GradcheckError(
                f"{_where} failed for {_name(fn)}: gradient of input {i} has shape {g.shape}, input has {t.shape}"
            )
        a = numpy.zeros(t.shape) if g is None else backend.as_numpy(g.array).astype(numpy.float64)
        message = (_check_fast if fast_mode else _check_full)(fn, inputs, vs, out_idx, i, t, a, eps, atol, rtol, rng)
        if message is not None:
            if raise_exception:
                raise GradcheckError(message.replace("{where}", _where))
            return False
    return True


def _check_full(fn, inputs, vs, out_idx, i, t, a, eps, atol, rtol, rng):
    data = t.array
    worst, worst_excess = None, 0.0
    for idx in numpy.ndindex(*t.shape):
        orig = data[idx].item() if hasattr(data[idx], "item") else float(data[idx])
        data[idx] = orig + eps
        plus = _weighted_sum(fn, inputs, vs, out_idx)
        data[idx] = orig - eps
        minus = _weighted_sum(fn, inputs, vs, out_idx)
        data[idx] = orig
        numerical = (plus - minus) / (2 * eps)
        analytical = float(a[idx])
        excess = abs(analytical - numerical) - (atol + rtol * abs(numerical))
        if excess > 0 and (worst is None or excess > worst_excess):
            worst, worst_excess = (idx, analytical, numerical), excess
    if worst is None:
        return None
    idx, analytical, numerical = worst
    return _report(fn, "{where}", i, t.shape, idx, analytical, numerical, atol, rtol)


def _check_fast(fn, inputs, vs, out_idx, i, t, a, eps, atol, rtol, rng):
    u = rng.standard_normal(t.shape)
    u /= max(numpy.linalg.norm(u), 1e-12)
    orig = t.array.copy()
    xp = backend.get_array_module(orig)
    u_dev = xp.asarray(u)
    t.array[...] = orig + eps * u_dev
    plus = _weighted_sum(fn, inputs, vs, out_idx)
    t.array[...] = orig - eps * u_dev
    minus = _weighted_sum(fn, inputs, vs, out_idx)
    t.array[...] = orig
    numerical = (plus - minus) / (2 * eps)
    analytical = float((a * u).sum())
    if abs(analytical - numerical) <= atol + rtol * abs(numerical):
        return None
    return _report(fn, "{where}", i, t.shape, None, analytical, numerical, atol, rtol)


def gradgradcheck(
    fn,
    inputs,
    grad_outputs=None,
    eps=1e-6,
    atol=1e-5,
    rtol=1e-3,
    fast_mode=False,
    raise_exception=True,
    seed=None,
):
    """Check second derivatives: gradcheck of ``(inputs, v) ↦ vᵀ ∂fn/∂inputs``.

    The backward of ``fn`` is run with ``create_graph=True`` and its result is differentiated
    again, with respect to the inputs and to the (random) upstream gradient ``v``.
    """
    inputs = _as_tuple(inputs)
    diff_idx = _diff_inputs(inputs, "gradgradcheck")
    outputs = _as_tuple(fn(*inputs))
    out_idx = [k for k in _float_outputs(outputs) if outputs[k].requires_grad]
    if not out_idx:
        raise ValueError(f"gradgradcheck: {_name(fn)} returned no tensor that requires grad")
    rng = numpy.random.default_rng(seed)
    if grad_outputs is None:
        xp = backend.get_array_module(outputs[out_idx[0]].array)
        grad_outputs = [
            Tensor._make(xp.asarray(rng.standard_normal(outputs[k].shape)), True) for k in out_idx
        ]
    grad_outputs = list(_as_tuple(grad_outputs))
    n = len(inputs)

    def first_derivative(*args):
        ins, gouts = args[:n], args[n:]
        with enable_grad():  # finite differences call this under no_grad; it needs a graph
            outs = _as_tuple(fn(*ins))
            grads = grad(
                [outs[k] for k in out_idx],
                [ins[i] for i in diff_idx],
                list(gouts),
                create_graph=True,
                allow_unused=True,
            )
        return tuple(g for g in grads if g is not None)

    first_derivative.__qualname__ = f"the gradient of {_name(fn)}"
    return gradcheck(
        first_derivative,
        tuple(inputs) + tuple(grad_outputs),
        eps=eps,
        atol=atol,
        rtol=rtol,
        fast_mode=fast_mode,
        raise_exception=raise_exception,
        seed=None if seed is None else seed + 1,
        _where="gradgradcheck",
    )
