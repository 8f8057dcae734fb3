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

import numbers
import weakref

from .backend import get_array_module
from .grad_mode import (  # noqa: F401  (minidl.autograd.no_grad etc. are their public names)
    _anomaly_enabled,
    _set_grad_enabled,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .tensor import Tensor


def _check_finite(fn_name: str, phase: str, array, what: str):
    xp = get_array_module(array)
    if array.dtype.kind in "fc" and not bool(xp.isfinite(array).all()):
        bad = "NaN" if bool(xp.isnan(array).any()) else "inf"
        raise FloatingPointError(
            f"detect_anomaly: {fn_name}.{phase} produced {bad} in {what} of shape {tuple(array.shape)}"
        )


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
    """Base class of every differentiable operation.

    Subclasses implement ``forward(ctx, *args, **kwargs)`` on raw arrays (a Tensor argument
    arrives as its array, anything else unchanged) and ``backward(ctx, dy)`` on Tensors,
    returning one gradient per positional argument of ``forward`` (``None`` where there is
    none). ``ctx.xp`` is the array module of the inputs. The base class sums each gradient
    back to the shape of its input, so ops that broadcast need not.
    """

    __slots__ = ("inputs", "needs_input_grad", "xp", "_saved", "_freed", "_retained", "__dict__", "__weakref__")

    def __init__(self):
        self._saved = ()
        self._freed = False
        self._retained = None

    # -- the two methods an op writes --------------------------------------------------
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(ctx, *grads):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- saving values for backward ----------------------------------------------------
    def save_for_backward(ctx, *values):
        """Keep values for ``backward``. An input's array or the output array is saved as
        that Tensor (so double backward sees it as part of the graph); any other array as a
        constant."""
        ctx._saved = values

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
                    f"{type(ctx).__name__}: a tensor of shape {tuple(t.shape)} saved for backward was "
                    f"modified in place (version {t._version[0]}, expected {s.version}); "
                    "use an out-of-place operation or clone it before modifying"
                )
            out.append(t)
        return tuple(out)

    @property
    def name(ctx) -> str:
        return type(ctx).__name__

    def __repr__(self):
        return f"<{type(self).__name__}Backward>"

    # -- running an op -------------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on Tensors (and plain values) and record it when a gradient is needed."""
        ctx = cls()
        tensors = [a for a in args if isinstance(a, Tensor)]
        if not tensors:
            raise TypeError(f"{cls.__name__}: needs at least one Tensor argument")
        device = tensors[0].device
        for t in tensors[1:]:
            if t.device != device:
                raise RuntimeError(
                    f"{cls.__name__}: expected all tensors on the same device, got {device} and {t.device}"
                )
        xp = ctx.xp = get_array_module(tensors[0].array)
        arrays = [a.array if isinstance(a, Tensor) else a for a in args]
        try:
            out = ctx.forward(*arrays, **kwargs)
        except (ValueError, IndexError, TypeError) as exc:
            if str(exc).startswith(cls.__name__):
                raise
            shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
            raise type(exc)(f"{cls.__name__}: {exc} (input shapes {shapes})") from exc
        raw = out
        if not isinstance(out, xp.ndarray):  # NumPy returns scalars for 0-d results
            out = get_array_module(out).asarray(out)
        if _anomaly_enabled():
            _check_finite(cls.__name__, "forward", out, "its output")
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
            ctx.inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
            ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
            result.grad_fn = ctx
            if ctx._saved:
                ctx._saved = tuple(_save(v, args, (out, raw), result) for v in ctx._saved)
        else:
            ctx._saved = ()
        return result


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


def _sum_to_shape(grad, shape):
    """Sum a broadcast gradient back to ``shape`` (the reverse of broadcasting)."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and grad.shape[i + lead] != 1
    )
    if dims:
        grad = grad.sum(dim=dims, keepdim=True)
    if lead:
        grad = grad.reshape(shape)
    if grad.shape != shape:
        raise RuntimeError(f"gradient of shape {grad.shape} cannot be summed to input shape {shape}")
    return grad


def topological_order(roots, parents):
    """Every node reachable from ``roots`` through ``parents(node)``, each listed before all of
    its parents (consumers first). Iterative depth-first search: no recursion limit."""
    order, visited = [], set()
    stack = [(node, False) for node in roots]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        stack.extend((p, False) for p in parents(node) if p not in visited)
    order.reverse()
    return order


def _producers(fn):
    """The Functions whose outputs ``fn`` consumed."""
    return [t.grad_fn for t in fn.inputs if t is not None and t.grad_fn is not None]


class _BackwardPass:
    """One walk of the graph from ``outputs`` back to the leaves.

    ``grads`` holds, for each Function reached so far, the sum of the gradients of its output;
    a Function runs its backward once all its consumers have added theirs (reverse topological
    order). ``handed`` is the memory already given to some ``.grad`` (no two leaves may share
    it). With ``capture`` (``grad()``), the gradients of those tensors are collected in
    ``results`` instead of being accumulated into the leaves' ``.grad``.
    """

    def __init__(self, grad_outputs, retain_graph, create_graph, capture=None):
        self.retain_graph, self.create_graph, self.capture = retain_graph, create_graph, capture
        self.grads = {}  # Function -> gradient of its output
        self.handed = {_memory_key(g.array) for g in grad_outputs}  # memory a leaf's .grad must not share
        self.leaf_grads = {}  # id(leaf) -> gradient (capture mode)
        self.captured_nodes = {}  # Function -> indices of the captured tensors it produced
        self.capture_ids = None
        self.results = None
        if capture is not None:
            for i, t in enumerate(capture):
                if t.grad_fn is not None:
                    self.captured_nodes.setdefault(t.grad_fn, []).append(i)
            self.capture_ids = {id(t) for t in capture}
            self.results = [None] * len(capture)

    def seed(self, outputs, grad_outputs):
        """Hand each output its gradient; the Functions that made them (the roots)."""
        roots = []
        for out, g in zip(outputs, grad_outputs):
            if out.grad_fn is None:
                self._reach_leaf(out, g, requested=True)
                continue
            self._add_to(out.grad_fn, g)
            roots.append(out.grad_fn)
        return roots

    def run(self, roots):
        """Run the backwards in reverse topological order (consumers before producers)."""
        order = topological_order(roots, _producers)
        # grad(): run only the backwards that lead to a requested input, as torch.autograd.grad does
        # (a gradient asked of a non-leaf stops there; the graph above it is neither run nor freed)
        runs = None if self.capture is None else _leading_to(order, self.captured_nodes, self.capture_ids)
        anomaly = _anomaly_enabled()
        with set_grad_enabled(self.create_graph):
            for fn in order:
                dy = self.grads.pop(fn, None)
                if dy is None:
                    continue
                for i in self.captured_nodes.get(fn, ()):
                    self.results[i] = dy
                if runs is not None and fn not in runs:
                    continue
                self._keep_retained_grad(fn, dy)
                self._send_to_inputs(fn, self._input_gradients(fn, dy, anomaly), anomaly)

    def captured(self):
        """The gradients of the captured tensors (None where a tensor got none)."""
        for i, t in enumerate(self.capture):
            if t.grad_fn is None:
                self.results[i] = self.leaf_grads.get(id(t))
        return self.results

    # ---- the steps of one Function ---------------------------------------------------
    def _keep_retained_grad(self, fn, dy):
        """``retain_grad()`` on fn's output: add its gradient to that tensor's ``.grad``."""
        if fn._retained is None:
            return
        owner = fn._retained()
        if owner is not None:  # a retained gradient accumulates, as a leaf's does
            g = dy if self.create_graph else dy.detach()
            if owner.grad is not None:
                g = owner.grad + g if self.create_graph else Tensor._make(owner.grad.array + g.array, False)
            owner.grad = g
            self.handed.add(_memory_key(g.array))

    def _input_gradients(self, fn, dy, anomaly):
        """``fn.backward(dy)`` as a tuple with one entry per input; frees fn's saved values
        unless the graph is retained."""
        input_grads = _backward_under_anomaly(fn, dy) if anomaly else fn.backward(dy)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(fn.inputs):
            raise RuntimeError(f"{fn.name}.backward returned {len(input_grads)} gradients for {len(fn.inputs)} inputs")
        if not self.retain_graph:
            fn._saved = ()
            fn._freed = True
        return input_grads

    def _send_to_inputs(self, fn, input_grads, anomaly):
        """Each input's gradient, summed to its shape and cast to its dtype, goes to the Function
        that produced the input, or to the leaf."""
        for t, g, needed in zip(fn.inputs, input_grads, fn.needs_input_grad):
            if not needed or g is None:
                continue
            if not isinstance(g, Tensor):
                g = Tensor._make(g, False)
            if g.shape != t.shape:
                g = _sum_to_shape(g, t.shape)
            if g.dtype != t.dtype:
                g = g.to(t.dtype)
            if anomaly:
                _check_finite(fn.name, "backward", g.array, f"the gradient of an input of shape {t.shape}")
            if t.grad_fn is not None:
                self._add_to(t.grad_fn, g)
            else:
                self._reach_leaf(t, g, requested=self.capture is None or id(t) in self.capture_ids)

    def _add_to(self, fn, g):
        self.grads[fn] = g if fn not in self.grads else self.grads[fn] + g

    def _reach_leaf(self, t, g, requested):
        """A gradient reaching leaf ``t``: into ``t.grad``, or (capture mode) collected when
        ``t`` is requested."""
        if self.capture is None:
            _accumulate_leaf(t, g, self.create_graph, self.handed)
        elif requested:
            self.leaf_grads[id(t)] = g if id(t) not in self.leaf_grads else self.leaf_grads[id(t)] + g


def _run_backward(outputs, grad_outputs, retain_graph, create_graph, capture=None):
    """Propagate ``grad_outputs`` from ``outputs`` through the graph (see ``_BackwardPass``).

    With ``capture`` (a list of Tensors) the gradients of those tensors are returned instead of
    being accumulated into the leaves' ``.grad``.
    """
    walk = _BackwardPass(grad_outputs, retain_graph, create_graph, capture)
    walk.run(walk.seed(outputs, grad_outputs))
    return walk.captured() if capture is not None else None


def _leading_to(order, captured_nodes, capture_ids):
    """The Functions in ``order`` (consumers first) whose backward reaches a captured tensor:
    one of their inputs is captured, or is made by a Function that reaches one."""
    runs = set()
    for fn in reversed(order):  # producers before their consumers
        for t in fn.inputs:
            if t is None:
                continue
            src = t.grad_fn
            if (src is None and id(t) in capture_ids) or src in captured_nodes or src in runs:
                runs.add(fn)
                break
    return runs


def _backward_under_anomaly(fn, dy):
    """``fn.backward(dy)``, with a NaN or inf from any op inside it reported as ``fn``'s
    backward (the op whose derivative misbehaved), not as the forward of a helper op."""
    try:
        return fn.backward(dy)
    except FloatingPointError as exc:
        inner = str(exc).removeprefix("detect_anomaly: ")
        raise FloatingPointError(f"detect_anomaly: {fn.name}.backward failed: {inner}") from exc


def _memory_key(array):
    """Identifies the memory an array uses: its own, or that of the array it is a view of."""
    base = array.base
    return id(array) if base is None else id(base)


def _accumulate_leaf(t, g, create_graph, handed):
    if not t.requires_grad:
        return
    if not create_graph:
        g = g.detach()
    if t.grad is None:
        # one gradient array (or views of it, e.g. through a reshape's backward) can reach
        # several leaves (x + y), or be the caller's gradient, or a read-only broadcast view
        # (sum's backward): each .grad gets its own writable array
        key = _memory_key(g.array)
        if key in handed or not getattr(g.array.flags, "writeable", True):
            g = Tensor._make(g.array.copy(), False) if not create_graph else g * 1
            key = _memory_key(g.array)
        handed.add(key)
        t.grad = g
    else:
        t.grad = t.grad + g if create_graph else Tensor._make(t.grad.array + g.array, False)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate d(tensors)/d(leaf) · grad_tensors into every leaf's ``.grad``."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    grad_tensors = _make_grads(tensors, grad_tensors, "backward")
    retain_graph = create_graph if retain_graph is None else retain_graph
    _run_backward(tensors, grad_tensors, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Return the gradients of ``outputs`` with respect to ``inputs`` (a tuple, one per input),
    without touching any ``.grad``. Same contract as ``torch.autograd.grad``."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {t.shape}) does not require grad")
    grad_outputs = _make_grads(outputs, grad_outputs, "grad")
    retain_graph = create_graph if retain_graph is None else retain_graph
    results = _run_backward(outputs, grad_outputs, retain_graph, create_graph, capture=inputs)
    for i, (t, g) in enumerate(zip(inputs, results)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
                    "pass allow_unused=True if this is expected"
                )
        elif not create_graph:
            results[i] = g.detach()
    return tuple(results)


def _make_grads(outputs, grad_outputs, where):
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"{where}: got {len(grad_outputs)} gradients for {len(outputs)} outputs")
    result = []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError(
                f"{where}: tensor of shape {out.shape} does not require grad and has no grad_fn"
            )
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(
                    f"{where}: grad can be implicitly created only for scalar outputs, got shape {out.shape}; "
                    "pass a gradient of the same shape"
                )
            g = Tensor._make(get_array_module(out.array).ones_like(out.array), False)
        elif not isinstance(g, Tensor):
            g = Tensor._make(get_array_module(out.array).asarray(g, dtype=out.dtype), False)
        if g.shape != out.shape:
            raise RuntimeError(f"{where}: gradient of shape {g.shape} does not match output of shape {out.shape}")
        result.append(g)
    return result

