"""The backward pass: from the outputs' gradients back to the leaves.

``backward`` and ``grad`` (PyTorch's contract) walk the graph that ``Function.apply`` records
(minidl/autograd.py): each Function node knows its input Tensors and the nodes that made them
(``fn.parents``, fixed when the op ran, so that an in-place change of a tensor later does not
re-route the gradients of the ops that read it before). The nodes run in reverse topological
order, found with an explicit stack, so a chain of any length works without recursion.

Notebook: notebooks/01_autograd.ipynb, section 1 (reverse mode, ``backward``) and section 5
("Derivatives of derivatives", ``grad`` with ``create_graph=True``).
"""

from __future__ import annotations

from .backend import get_array_module
from .grad_mode import _anomaly_enabled, set_grad_enabled
from .tensor import Tensor


def _check_finite(fn_name: str, phase: str, array, what: str):
    xp = get_array_module(array)
    if array.dtype.kind in "fc" and not bool(xp.isfinite(array).all()):
        bad = "NaN" if bool(xp.isnan(array).any()) else "inf"
        raise FloatingPointError(
            f"detect_anomaly: {fn_name}.{phase} produced {bad} in {what} of shape {tuple(array.shape)}"
        )


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
    return [p for p in fn.parents if p is not None]


class _BackwardPass:
    """One walk of the graph from ``outputs`` back to the leaves.

    ``grads`` holds, for each Function reached so far, the sum of the gradients of its output;
    a Function runs its backward once all its consumers have added theirs (reverse topological
    order). Without ``create_graph``, a sum this pass allocated (``owned``) takes the next
    gradients in place, and an op whose gradient fills only part of its input (indexing: the
    pieces of a split) adds it into that owned sum through ``backward_into`` instead of
    returning a full-size array that is mostly zeros. ``handed`` is the memory already given to
    some ``.grad`` (no two leaves may share it). With ``capture`` (``grad()``), the gradients of
    those tensors are collected in ``results`` instead of being accumulated into the leaves'
    ``.grad``.
    """

    def __init__(self, grad_outputs, retain_graph, create_graph, capture=None):
        self.retain_graph, self.create_graph, self.capture = retain_graph, create_graph, capture
        self.grads = {}  # Function -> gradient of its output
        self.owned = set()  # the Functions whose gradient in ``grads`` this pass allocated (no one else holds it)
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
                if self._scattered_into_owned(fn, dy, anomaly):
                    continue
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
        for t, src, g, needed in zip(fn.inputs, fn.parents, input_grads, fn.needs_input_grad):
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
            if src is not None:
                self._add_to(src, g)
            else:
                self._reach_leaf(t, g, requested=self.capture is None or id(t) in self.capture_ids)

    def _add_to(self, fn, g):
        """Add ``g`` to the gradient of ``fn``'s output: in place into a sum this pass owns."""
        total = self.grads.get(fn)
        if total is None:
            self.grads[fn] = g
        elif fn in self.owned and g.dtype == total.dtype and g.shape == total.shape:
            total.array += g.array
        else:
            self.grads[fn] = total + g
            if not self.create_graph:
                self.owned.add(fn)  # a fresh array: later gradients can be added into it

    def _scattered_into_owned(self, fn, dy, anomaly):
        """For an op with ``backward_into`` whose input is made by another Function: add its
        input gradient straight into that Function's gradient, made an owned array first (zeros,
        or a copy of what arrived so far). True when done so; never while building a graph."""
        if self.create_graph or not hasattr(fn, "backward_into"):
            return False
        t, src = fn.inputs[0], fn.parents[0]  # the one Tensor input: the other arguments are not Tensors
        if src is None or not fn.needs_input_grad[0] or any(u is not None for u in fn.inputs[1:]):
            return False  # a leaf's .grad has its own rules (_accumulate_leaf)
        total = self.grads.get(src)
        if total is None:
            buffer = get_array_module(dy.array).zeros(t.shape, dtype=t.dtype)
        elif src in self.owned and total.dtype == t.dtype and total.shape == t.shape:
            buffer = total.array
        else:
            buffer = total.array.astype(t.dtype, copy=True).reshape(t.shape)
        fn.backward_into(dy.array, buffer)
        if not self.retain_graph:
            fn._saved = ()
            fn._freed = True
        if anomaly:
            _check_finite(fn.name, "backward", buffer, f"the gradient of an input of shape {t.shape}")
        self.grads[src] = Tensor._make(buffer, False)
        self.owned.add(src)
        return True

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
        for t, src in zip(fn.inputs, fn.parents):
            if t is None:
                continue
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

