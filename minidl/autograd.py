"""Reverse-mode automatic differentiation.

A ``Function`` turns arrays into an array in ``forward`` and turns the gradient of its
output into gradients of its inputs in ``backward``. ``Function.apply`` runs the forward on
the inputs' arrays and, when any input requires grad, records the call in the graph: the
output Tensor's ``grad_fn`` is the Function instance (the "ctx"), which keeps its input
Tensors and whatever it saved for backward.

``backward`` receives and returns Tensors, so it is itself made of recorded operations
when the graph is being built (``create_graph=True``): that is how second and higher
derivatives come for free. The engine walks the graph in reverse topological order with an
explicit stack, so a chain of any length works without recursion.
"""

from __future__ import annotations

import functools
import numbers
import weakref

from .backend import get_array_module
from .backprop import _check_finite, backward, grad, topological_order  # noqa: F401  (their public address)
from .grad_mode import (  # noqa: F401  (minidl.autograd.no_grad etc. are their public names)
    _anomaly_enabled,
    _set_grad_enabled,
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .tensor import Tensor


class _Saved:
    """A tensor saved for backward, with the version it had when saved.

    An op's own output is held through a weak reference: whoever reaches this op in backward
    holds that output (it is the root, or an input of a later op), and no cycle is made."""

    __slots__ = ("ref", "version", "weak")

    def __init__(self, tensor, weak=False):
        self.ref = weakref.ref(tensor) if weak else tensor
        self.weak = weak
        self.version = tensor._version[0]

    def get(self):
        return self.ref() if self.weak else self.ref


class Function:
    """Base class of every differentiable operation, written in one of two styles.

    minidl's: ``forward(ctx, *args, **kwargs)`` on raw arrays (a Tensor argument arrives as its
    array, anything else unchanged) and ``backward(ctx, dy)`` on Tensors, returning one gradient
    per positional argument of ``forward`` (``None`` where there is none). ``ctx.xp`` is the
    array module of the inputs.

    PyTorch's: ``@staticmethod forward(ctx, *args)`` on the Tensors themselves (run without
    recording a graph) returning a Tensor, or a tuple of which one is differentiable and the
    others passed to ``ctx.mark_non_differentiable``; ``@staticmethod backward(ctx, *grads)``,
    one gradient per output, with ``ctx.saved_tensors`` and ``ctx.needs_input_grad``. A
    ``setup_context(ctx, inputs, output)`` beside a ``forward(*args)`` without ctx works too.

    Either way the base class sums each gradient back to the shape of its input, so ops that
    broadcast need not.
    """

    __slots__ = ("inputs", "parents", "needs_input_grad", "xp", "_saved", "_freed", "_retained", "__dict__",
                 "__weakref__")
    _torch_style = False  # set per subclass by __init_subclass__

    def __init__(self):
        self._saved = ()
        self._freed = False
        self._retained = None

    def __init_subclass__(cls, **kwargs):
        """A subclass whose ``forward`` is a staticmethod is written PyTorch's way: its static
        ``backward`` becomes an ordinary method, so the engine calls ``ctx.backward(dy)`` alike."""
        super().__init_subclass__(**kwargs)
        forward = _static_lookup(cls, "forward")
        cls._torch_style = isinstance(forward, staticmethod)
        static_backward = cls.__dict__.get("backward")
        if cls._torch_style and isinstance(static_backward, staticmethod):
            cls.backward = _one_grad_per_output(static_backward.__func__)

    # -- the two methods an op writes --------------------------------------------------
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(ctx, *grads):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- saving values for backward ----------------------------------------------------
    def save_for_backward(ctx, *values):
        """Keep values for ``backward``. An input (its array, or the Tensor in PyTorch's style)
        or the output is saved as that Tensor (so double backward sees it as part of the graph,
        and an in-place change of it before backward is an error); any other array as a constant."""
        ctx._saved = values

    def mark_non_differentiable(ctx, *outputs):
        """PyTorch's style: these outputs of ``forward`` (indices, masks) get no gradient."""
        ctx._non_differentiable = {id(t) for t in outputs}

    @property
    def saved_tensors(ctx):
        if ctx._freed:
            raise RuntimeError(
                f"{type(ctx).__name__}: trying to backward through the graph a second time (or to read "
                "saved tensors after they were freed); call .backward(retain_graph=True) the first time "
                "if you need to backward twice"
            )
        out = []
        for s in ctx._saved:
            if not isinstance(s, _Saved):
                out.append(s)  # a plain Python value
                continue
            t = s.get()
            if t._version[0] != s.version:
                raise RuntimeError(
                    f"{type(ctx).__name__}: one of the variables needed for gradient computation has been "
                    f"modified by an inplace operation: a tensor of shape {tuple(t.shape)} saved for backward was "
                    f"modified in place (version {t._version[0]}, expected {s.version}); use an out-of-place "
                    "operation or clone it before modifying"
                )
            out.append(t)
        return tuple(out)

    @property
    def name(ctx) -> str:
        return type(ctx).__name__

    @property
    def next_functions(ctx):
        """PyTorch's view of the graph: ``(node, 0)`` for each Tensor input, the node being the
        Function that made it, an ``AccumulateGrad`` for a leaf that requires grad, else None."""
        out = []
        for t, parent, need in zip(ctx.inputs, ctx.parents, ctx.needs_input_grad):
            if t is not None:
                out.append((parent if parent is not None else AccumulateGrad(t) if need else None, 0))
        return tuple(out)

    def __repr__(self):
        return f"<{type(self).__name__}Backward>"

    # -- running an op -------------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on Tensors (and plain values) and record it when a gradient is needed."""
        ctx = cls()
        tensors = [a for a in args if isinstance(a, Tensor)]
        if cls._torch_style:
            return _apply_torch_style(ctx, args, kwargs, tensors)
        if not tensors:
            raise TypeError(f"{cls.__name__}: needs at least one Tensor argument")
        device = tensors[0].device
        for t in tensors[1:]:
            if t.device != device:
                raise RuntimeError(
                    f"{cls.__name__}: expected all tensors on the same device, got {device} and {t.device}"
                )
        ctx.xp = get_array_module(tensors[0].array)
        arrays = [a.array if isinstance(a, Tensor) else a for a in args]
        try:
            out = ctx.forward(*arrays, **kwargs)
        except (ValueError, IndexError, TypeError) as exc:
            if str(exc).startswith(cls.__name__):
                raise
            shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
            raise type(exc)(f"{cls.__name__}: {exc} (input shapes {shapes})") from exc
        return ctx._record(args, tensors, out, out)

    def _record(ctx, args, tensors, out, raw):
        """The output Tensor of ``out`` (an array; ``raw`` is what forward returned), recorded in
        the graph when an input requires grad and the output can carry a gradient."""
        if not isinstance(out, ctx.xp.ndarray):  # NumPy returns scalars for 0-d results
            out = get_array_module(out).asarray(out)
        if _anomaly_enabled():
            _check_finite(type(ctx).__name__, "forward", out, "its output")
        requires_grad = is_grad_enabled() and any(t.requires_grad for t in tensors)
        if requires_grad and out.dtype.kind not in "fc":
            requires_grad = False  # integer and bool results (argmax, comparisons) carry no gradient
        result = Tensor._make(out, requires_grad)
        base = out.base
        if base is not None:  # a view of an input (reshape, basic indexing...): one version counter
            for t in tensors:
                if base is t.array or base is t.array.base:
                    result._version = t._version
                    break
        if requires_grad:
            ctx.inputs = inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
            ctx.parents = tuple(None if t is None else t.grad_fn for t in inputs)  # the nodes that made them
            ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
            result.grad_fn = ctx
            if ctx._saved:
                ctx._saved = tuple(_save(v, args, (out, raw), result) for v in ctx._saved)
        else:
            ctx._saved = ()
        return result


class AccumulateGrad:
    """The node of ``next_functions`` that stands for a leaf: its gradient goes into ``variable.grad``."""

    def __init__(self, variable):
        self.variable = variable
        self.next_functions = ()

    def __repr__(self):
        return "<AccumulateGradBackward>"

    def __eq__(self, other):
        return isinstance(other, AccumulateGrad) and other.variable is self.variable

    __hash__ = None


def _static_lookup(cls, name):
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def _apply_torch_style(ctx, args, kwargs, tensors):
    """``Function.apply`` for a PyTorch-style Function: forward on Tensors without recording,
    then one output recorded as usual (the others, marked non-differentiable, come back cut)."""
    cls = type(ctx)
    if not tensors:  # nothing to differentiate: PyTorch just runs forward
        return cls.forward(ctx, *args, **kwargs)
    ctx.xp = get_array_module(tensors[0].array)
    ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
    ctx._non_differentiable = set()
    with no_grad():
        if _static_lookup(cls, "setup_context") is not None:
            output = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, output)
        else:
            output = cls.forward(ctx, *args, **kwargs)
    outputs = (output,) if not isinstance(output, tuple) else output
    if not all(isinstance(o, Tensor) for o in outputs):
        raise TypeError(f"{cls.__name__}.forward: must return a Tensor or a tuple of Tensors, "
                        f"got {', '.join(type(o).__name__ for o in outputs)}")
    live = [i for i, o in enumerate(outputs) if id(o) not in ctx._non_differentiable]
    if len(live) != 1:
        raise RuntimeError(f"{cls.__name__}.forward: returned {len(live)} differentiable outputs; a minidl "
                           "Function has exactly one (pass the others to ctx.mark_non_differentiable)")
    chosen = outputs[live[0]]
    # the output Tensor saved by forward becomes the recorded result, as an input stays itself
    ctx._saved = tuple(chosen.array if v is chosen else v for v in ctx._saved)
    result = ctx._record(args, tensors, chosen.array, chosen.array)
    if not isinstance(output, tuple):
        return result
    ctx._outputs = (live[0], tuple((o.shape, o.dtype) for o in outputs))
    return tuple(result if i == live[0] else o.detach() for i, o in enumerate(outputs))


def _one_grad_per_output(backward_fn):
    """A PyTorch-style ``backward(ctx, *grads)`` called with the one gradient the engine has: the
    outputs marked non-differentiable get zeros, as PyTorch materializes them."""

    @functools.wraps(backward_fn)
    def call(ctx, dy):
        if "_outputs" not in ctx.__dict__:
            return backward_fn(ctx, dy)
        live, meta = ctx._outputs
        grads = [dy if i == live else Tensor._make(ctx.xp.zeros(shape, dtype), False)
                 for i, (shape, dtype) in enumerate(meta)]
        return backward_fn(ctx, *grads)

    return call


def once_differentiable(backward_fn):
    """Decorate a PyTorch-style ``backward``: it runs without recording, and differentiating its
    result again (``create_graph=True``, then a second backward) raises instead of giving zeros."""

    @functools.wraps(backward_fn)
    def call(ctx, *grads):
        with no_grad():
            out = backward_fn(ctx, *grads)
        sources = [g for g in grads if isinstance(g, Tensor) and g.requires_grad]
        sources += [t for t in ctx.inputs if t is not None and t.requires_grad]
        if not is_grad_enabled() or not sources:
            return out
        outs = out if isinstance(out, tuple) else (out,)
        wired = [g if g is None else _OnceDifferentiable.apply(g, *sources) for g in outs]
        return tuple(wired) if isinstance(out, tuple) else wired[0]

    return call


class _OnceDifferentiable(Function):
    """Stands for a gradient computed by a ``@once_differentiable`` backward: its value, and an
    error if a second backward reaches it."""

    def forward(ctx, g, *sources):
        return g

    def backward(ctx, dy):
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


def _save(value, args, out_arrays, out_tensor):
    if isinstance(value, Tensor):
        return _Saved(value)
    if value is out_arrays[0] or value is out_arrays[1]:
        return _Saved(out_tensor, weak=True)
    for a in args:
        if isinstance(a, Tensor) and a.array is value:
            return _Saved(a)
    if value is None or isinstance(value, numbers.Number):
        return value
    return _Saved(Tensor._make(value, False))


