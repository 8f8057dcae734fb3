"""Reference implementations and the fast kernels that may stand in for them.

Every op's readable implementation lives in ``minidl/functional/``: written from its equation,
composed of Tensor ops or one ``Function`` whose forward and backward are the derived equations.
A function there marked ``@reference_op`` may have a faster kernel in ``minidl/kernels/``,
registered against it with ``register_kernel``. Calling the op runs the kernel when one is
registered and its ``when`` test accepts the arguments; otherwise the reference runs.

``minidl.reference_mode()`` (a context manager) or ``MINIDL_REFERENCE=1`` in the environment
runs every op through its reference, so a debugger steps into the equation, and a test can
compare the two::

    with minidl.reference_mode():
        y = F.conv2d(x, w)          # unfold + matmul, as written in functional/conv.py

A kernel is a ``KernelFunction``: forward and one backward on arrays (``kernel_backward``).
When the backward itself is being differentiated (``create_graph=True``) it defers to the
reference: ``reference_forward`` rebuilds the op's output from the same inputs with the
reference ops, and the gradient of that graph is returned, so second derivatives need no
second hand-written backward.
"""

from __future__ import annotations

import functools
import os
import threading

from .autograd import Function, grad, is_grad_enabled

_state = threading.local()
_DEFAULT_REFERENCE = os.environ.get("MINIDL_REFERENCE", "0") not in ("", "0")
_kernels: dict = {}  # reference function (undecorated) -> list of (kernel, when)


def is_reference_mode() -> bool:
    """True when every op runs its reference implementation (no kernels)."""
    return getattr(_state, "reference", _DEFAULT_REFERENCE)


class reference_mode:
    """``with reference_mode():`` runs every op through its reference implementation (the code in
    ``minidl/functional/``, written from the equation) instead of a registered kernel.
    ``reference_mode(False)`` turns kernels back on inside an outer reference block. Also usable
    as a decorator."""

    def __init__(self, enabled: bool = True):
        self.enabled = bool(enabled)

    def __enter__(self):
        self._previous = is_reference_mode()
        _state.reference = self.enabled
        return self

    def __exit__(self, *exc):
        _state.reference = self._previous
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with reference_mode(self.enabled):
                return fn(*args, **kwargs)

        return wrapper


def reference_op(fn):
    """Mark ``fn`` as the reference implementation of an op that a kernel may accelerate.

    The returned function calls the first registered kernel whose ``when(*args, **kwargs)`` is
    true, outside reference mode; otherwise ``fn`` itself. ``fn`` stays reachable as
    ``op.reference`` (the undecorated function, which never dispatches)."""

    @functools.wraps(fn)
    def op(*args, **kwargs):
        kernel = None if is_reference_mode() else kernel_for_call(fn, *args, **kwargs)
        if kernel is not None:
            return kernel(*args, **kwargs)
        return fn(*args, **kwargs)  # the reference: the equation, as written

    op.reference = fn
    return op


def register_kernel(op, kernel, when=None):
    """Register ``kernel`` (same signature as ``op``) as a fast implementation of the reference
    op ``op`` (a function decorated with ``@reference_op``). ``when``, with the same signature,
    says for which arguments the kernel is used (``None``: always). Returns ``kernel``."""
    reference = getattr(op, "reference", None)
    if reference is None:
        raise TypeError(f"register_kernel: {getattr(op, '__name__', op)!r} is not marked @reference_op")
    entries = _kernels.setdefault(reference, [])
    if any(k is kernel for k, _ in entries):
        raise ValueError(f"register_kernel: {kernel.__name__} is already registered for {reference.__name__}")
    entries.append((kernel, when))
    return kernel


def kernels_for(op) -> list:
    """The kernels registered for the reference op ``op``, in the order they are tried."""
    return [k for k, _ in _kernels.get(getattr(op, "reference", op), ())]


def kernel_for_call(op, *args, **kwargs):
    """The kernel that ``op(*args, **kwargs)`` would run outside reference mode, or None."""
    for kernel, when in _kernels.get(getattr(op, "reference", op), ()):
        if when is None or when(*args, **kwargs):
            return kernel
    return None


class KernelFunction(Function):
    """A fast kernel of a reference op: ``forward`` and ``kernel_backward`` on arrays.

    ``kernel_backward(ctx, dy)`` receives the output gradient as a Tensor whose ``.array`` it
    reads, and returns one gradient (array, Tensor or None) per input, like any backward. When a
    graph of the backward is being built (``create_graph=True``), ``reference_forward`` is
    differentiated instead: write it to recompute this Function's output from ``ctx.inputs``
    with the reference ops."""

    def kernel_backward(ctx, dy):  # pragma: no cover - abstract
        raise NotImplementedError

    def reference_forward(ctx):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(ctx).__name__}: reference_forward is needed for create_graph=True")

    def backward(ctx, dy):
        if not is_grad_enabled():
            return ctx.kernel_backward(dy)
        # Differentiating the backward: rebuild the output with the reference ops from the same
        # inputs and return the gradient of that graph, itself differentiable.
        wanted = [t for t, need in zip(ctx.inputs, ctx.needs_input_grad) if need]
        with reference_mode():
            out = ctx.reference_forward()
        found = iter(grad(out, wanted, dy, retain_graph=True, create_graph=True))
        return tuple(next(found) if need else None for need in ctx.needs_input_grad)
