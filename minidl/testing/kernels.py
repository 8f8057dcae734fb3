"""Assertion that a fast kernel computes what its reference op computes."""

from __future__ import annotations

import numpy

from .. import dispatch
from ..autograd import grad
from ..backend import get_array_module
from ..tensor import Tensor
from .assertions import assert_close


def _outputs(result):
    """The Tensors of an op's result (a Tensor, or a nested tuple of them)."""
    if isinstance(result, Tensor):
        return [result]
    return [t for part in result for t in _outputs(part)] if isinstance(result, (tuple, list)) else []


def _like(t, host_array):
    """``host_array`` as an array of ``t``'s dtype on ``t``'s device."""
    return get_array_module(t.array).asarray(host_array.astype(t.dtype))


def _run(op, inputs, kwargs, upstream_seed, reference):
    with dispatch.reference_mode(reference):
        outs = _outputs(op(*inputs, **kwargs))
    rng = numpy.random.default_rng(upstream_seed)
    wanted = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    used = [o for o in outs if o.requires_grad]
    if not wanted or not used:
        return outs, []
    with dispatch.reference_mode(reference):
        ups = [Tensor._make(_like(o, rng.standard_normal(o.shape)), False) for o in used]
        grads = grad(used, wanted, ups, allow_unused=True)
    return outs, list(grads)


def assert_kernel_matches_reference(op, *inputs, rtol=1e-6, atol=1e-8, seed=0, **kwargs):
    """Assert that ``op(*inputs, **kwargs)`` gives the same outputs, and the same input gradients
    for one random upstream gradient, with its kernels on as in ``reference_mode()``.

    Fails, naming the output or input, when a kernel disagrees with the reference; also when no
    kernel would run for these arguments (then the check would compare the reference with
    itself), unless ``op`` has no registered kernel at all, which raises too."""
    name = getattr(op, "__name__", op)
    if not dispatch.kernels_for(op):
        raise AssertionError(f"{name} has no registered kernel to compare")
    if dispatch.kernel_for_call(op, *inputs, **kwargs) is None:
        raise AssertionError(f"no kernel of {name} accepts these arguments: nothing to compare")
    fast, fast_grads = _run(op, inputs, kwargs, seed, reference=False)
    ref, ref_grads = _run(op, inputs, kwargs, seed, reference=True)
    if len(fast) != len(ref):
        raise AssertionError(f"kernel returned {len(fast)} tensors, reference {len(ref)}")
    for i, (a, e) in enumerate(zip(fast, ref)):
        if a.dtype != e.dtype:
            raise AssertionError(f"output {i}: kernel dtype {a.dtype} != reference {e.dtype}")
        assert_close(a, e, rtol=rtol, atol=atol, what=f"output {i} (kernel vs reference)")
    for i, (a, e) in enumerate(zip(fast_grads, ref_grads)):
        if (a is None) != (e is None):
            raise AssertionError(f"gradient of input {i}: kernel gives {a}, reference gives {e}")
        if a is not None:
            assert_close(a, e, rtol=rtol, atol=atol, what=f"gradient of input {i} (kernel vs reference)")
