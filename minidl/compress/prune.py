"""Magnitude pruning as masks, the way ``torch.nn.utils.prune`` does it.

Pruning the parameter ``weight`` of a module replaces it by three things:

    weight_orig   the Parameter (what the optimizer updates; pruned entries keep their value)
    weight_mask   a buffer of 0s and 1s, the same shape
    weight        a plain attribute, recomputed before every forward:  weight = weight_orig ⊙ weight_mask

so that the gradient reaching ``weight_orig`` is ``dL/dweight ⊙ mask``: fine-tuning moves only the
weights that survive, and the pruned ones stay exactly zero in the forward. ``remove`` makes the
pruning permanent (``weight`` becomes a Parameter again, equal to ``orig ⊙ mask``).

Which entries are pruned (the smallest by magnitude):

    l1_unstructured       the ``amount`` entries with the smallest |w|
    ln_structured         the ``amount`` slices along ``dim`` (output channels for dim=0) with the
                          smallest Ln norm ‖w[c]‖_n over the other dims
    global_unstructured   the smallest |w| over several parameters pooled together
    prune_heads           whole heads of a MultiheadAttention (a structured mask on its projections)

``amount`` is a fraction of the entries (a float in [0, 1], rounded: round(amount · n)) or a count
(a non-negative int). Pruning a parameter again composes the masks as PyTorch's PruningContainer
does: the new amount is taken among the entries (or, structured, the slices) still alive, and the
new mask is the old mask with more zeros.
Notebook: notebooks/10_compression.ipynb, section 1.
"""

from __future__ import annotations

import math
import numbers

from ..autograd import no_grad
from ..backend import get_array_module
from ..nn.module import Module, Parameter
from ..tensor import Tensor


# ---- amounts ---------------------------------------------------------------------------------
def _check_amount(amount, op):
    """``amount`` must be a float in [0, 1] or a non-negative int (bools are neither)."""
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(f"{op}: amount={amount!r} should be a float in [0, 1] or a non-negative int")
    if isinstance(amount, numbers.Integral):
        if amount < 0:
            raise ValueError(f"{op}: amount={amount} should be a non-negative int (a count) or a float in [0, 1]")
    elif not (0.0 <= float(amount) <= 1.0) or math.isnan(amount):
        raise ValueError(f"{op}: amount={amount} should be a float in [0, 1] (a fraction) or a non-negative int")
    return amount


def _count(amount, size, op, what="parameters"):
    """How many of ``size`` units to prune: round(amount · size) for a fraction, amount for a count."""
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise ValueError(f"{op}: amount={amount} is more than the {size} {what} there are to prune")
        return int(amount)
    return int(round(float(amount) * size))


# ---- masks (arrays in, arrays out; no gradient flows through a mask) --------------------------
def l1_mask(scores, amount, op="l1_unstructured"):
    """A 0/1 array of the shape of ``scores`` with zeros at the ``amount`` smallest |scores|."""
    xp = get_array_module(scores)
    k = _count(amount, scores.size, op)
    mask = xp.ones(scores.shape, dtype=scores.dtype)
    if k:
        order = xp.argsort(xp.abs(scores).reshape(-1), kind="stable")  # (numel,), smallest first
        mask.reshape(-1)[order[:k]] = 0
    return mask


def channel_norms(scores, n, dim):
    """‖scores[..., c, ...]‖_n over every dim except ``dim``: shape (scores.shape[dim],).
    n: a positive number, inf, -inf or 'fro' (= 2)."""
    xp = get_array_module(scores)
    flat = xp.moveaxis(scores, dim, 0).reshape(scores.shape[dim], -1)  # (C, rest)
    a = xp.abs(flat)
    if n == "fro":
        n = 2
    if n == math.inf:
        return a.max(axis=1)
    if n == -math.inf:
        return a.min(axis=1)
    return (a ** n).sum(axis=1) ** (1.0 / n)


def ln_mask(scores, amount, n, dim, op="ln_structured"):
    """A 0/1 array of the shape of ``scores`` whose slices along ``dim`` with the ``amount``
    smallest Ln norms are zero."""
    xp = get_array_module(scores)
    size = scores.shape[dim]
    k = _count(amount, size, op, what=f"slices along dim {dim}")
    mask = xp.ones(scores.shape, dtype=scores.dtype)
    if k:
        order = xp.argsort(channel_norms(scores, n, dim), kind="stable")  # (C,), smallest first
        index = [slice(None)] * scores.ndim
        index[dim] = order[:k]
        mask[tuple(index)] = 0
    return mask


def _combine(old, compute, structured_dim=None):
    """PyTorch's PruningContainer: compute the new mask on what ``old`` still keeps, and keep
    the old zeros. ``compute(alive_scores)`` returns the mask of the alive part."""
    xp = get_array_module(old)
    new = old.copy()
    if structured_dim is None:
        alive = old == 1  # (shape,) bool: unpruned entries
        new[alive] = compute(alive)
        return new
    other = tuple(d for d in range(old.ndim) if d != structured_dim)
    keep = old.sum(axis=other) != 0  # (C,): slices with at least one unpruned entry
    index = [slice(None)] * old.ndim
    index[structured_dim] = xp.nonzero(keep)[0]
    new[tuple(index)] = compute(tuple(index)) * old[tuple(index)]
    return new


# ---- the pruning state on a module -------------------------------------------------------------
class _PruneHook:
    """Forward pre-hook: ``module.<name> = module.<name>_orig ⊙ module.<name>_mask``. Holds only
    the name, so a deep copy of the module carries a working hook."""

    def __init__(self, name):
        self.name = name

    def __call__(self, module, inputs):
        recompute(module, self.name)


def recompute(module, name):
    """Set ``module.<name>`` to ``<name>_orig ⊙ <name>_mask`` (what the hook does before forward)."""
    orig = module._parameters[name + "_orig"]
    mask = module._buffers[name + "_mask"]
    object.__setattr__(module, name, orig * mask)


def detach_pruned(model):
    """Recompute every pruned weight of ``model`` without a graph. After a forward with gradients,
    ``weight`` is ``orig ⊙ mask`` with its graph, which ``copy.deepcopy`` cannot copy; this makes a
    pruned model copyable again (the next forward recomputes it with its graph)."""
    with no_grad():
        for m in model.modules():
            for name in _hooks(m):
                recompute(m, name)
    return model


def _hooks(module):
    hooks = module.__dict__.get("_forward_pre_hooks", {})
    return {h.name: key for key, h in hooks.items() if isinstance(h, _PruneHook)}


def _check_target(module, name, op):
    if not isinstance(module, Module):
        raise TypeError(f"{op}: expected a minidl.nn.Module, got {type(module).__name__}")
    if name in _hooks(module):
        return
    param = module._parameters.get(name)
    if param is None:
        have = [n for n, p in module._parameters.items() if p is not None]
        raise ValueError(f"{op}: {type(module).__name__} has no parameter {name!r} to prune (it has {have})")


def _install(module, name, compute_new, structured_dim=None):
    """Prune ``module.<name>`` with the mask ``compute_new(scores)`` (first time) or its composition
    with the current mask (already pruned). ``scores`` is the current weight's array."""
    with no_grad():
        if name in _hooks(module):
            scores = (module._parameters[name + "_orig"] * module._buffers[name + "_mask"]).array
            old = module._buffers[name + "_mask"].array
            if structured_dim is None:
                mask = _combine(old, lambda alive: compute_new(scores[alive]))
            else:
                mask = _combine(old, lambda index: compute_new(scores[index]), structured_dim)
            module._buffers[name + "_mask"] = Tensor._make(mask, False)
        else:
            mask = compute_new(module._parameters[name].array)  # first: a bad amount leaves the module as it was
            param = module._parameters.pop(name)
            module.register_parameter(name + "_orig", param)
            module.register_buffer(name + "_mask", Tensor._make(mask.astype(param.array.dtype), False))
            module.register_forward_pre_hook(_PruneHook(name))
        recompute(module, name)  # without a graph until the next forward (so the module can be deep-copied)
    return module


# ---- the public functions (torch.nn.utils.prune's names) ---------------------------------------
def l1_unstructured(module, name, amount):
    """Zero the ``amount`` entries of ``module.<name>`` with the smallest |w| (see the module docstring)."""
    _check_target(module, name, "l1_unstructured")
    _check_amount(amount, "l1_unstructured")
    return _install(module, name, lambda s: l1_mask(s, amount))


def ln_structured(module, name, amount, n, dim):
    """Zero the ``amount`` slices of ``module.<name>`` along ``dim`` with the smallest Ln norm: for a
    Linear's weight (out, in) dim=0 prunes output units, for a Conv2d's (C_out, C_in, KH, KW) dim=0
    prunes output channels (filters), dim=1 input channels."""
    op = "ln_structured"
    _check_target(module, name, op)
    _check_amount(amount, op)
    if not (n == "fro" or (isinstance(n, numbers.Real) and not isinstance(n, bool) and (n > 0 or math.isinf(n)))):
        raise ValueError(f"{op}: n={n!r} should be a positive number, inf, -inf or 'fro'")
    shape = _current(module, name).shape
    if len(shape) < 2:
        raise ValueError(f"{op}: structured pruning needs a tensor of 2 or more dims, {name!r} has shape {shape}")
    if not -len(shape) <= dim < len(shape):
        raise IndexError(f"{op}: dim {dim} is out of range for {name!r} of shape {shape}")
    dim %= len(shape)
    return _install(module, name, lambda s: ln_mask(s, amount, n, dim), structured_dim=dim)


def custom_from_mask(module, name, mask):
    """Prune ``module.<name>`` with a given 0/1 ``mask`` (a Tensor or array of its shape); composed
    with an existing mask by multiplication."""
    op = "custom_from_mask"
    _check_target(module, name, op)
    array = mask.array if isinstance(mask, Tensor) else mask
    shape = _current(module, name).shape
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{op}: mask of shape {tuple(array.shape)} does not fit {name!r} of shape {tuple(shape)}")
    xp = get_array_module(_current(module, name).array)
    given = xp.asarray(array)
    if not bool(((given == 0) | (given == 1)).all()):
        raise ValueError(f"{op}: the mask for {name!r} must hold only 0s and 1s")

    def compute(scores):
        return given.astype(scores.dtype)

    if name in _hooks(module):
        with no_grad():
            old = module._buffers[name + "_mask"].array
            module._buffers[name + "_mask"] = Tensor._make(old * given.astype(old.dtype), False)
            recompute(module, name)
        return module
    return _install(module, name, compute)


def _current(module, name):
    return module._parameters[name + "_orig"] if name in _hooks(module) else module._parameters[name]


def global_unstructured(parameters, amount):
    """Zero the ``amount`` entries with the smallest |w| among all of ``parameters`` (a list of
    ``(module, name)`` pairs) pooled together, as ``prune.global_unstructured(parameters,
    pruning_method=prune.L1Unstructured, amount=...)``: a layer with small weights loses more."""
    op = "global_unstructured"
    parameters = list(parameters)
    if not parameters:
        raise ValueError(f"{op}: no (module, name) pairs given")
    for pair in parameters:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"{op}: parameters must be (module, name) pairs, got {pair!r}")
        _check_target(*pair, op)
    _check_amount(amount, op)
    arrays = [(getattr(m, n) if n in _hooks(m) else m._parameters[n]).array for m, n in parameters]
    xp = get_array_module(arrays[0])
    scores = xp.concatenate([a.reshape(-1) for a in arrays])  # (Σ numel,)
    old = xp.concatenate([
        (m._buffers[n + "_mask"].array if n in _hooks(m) else xp.ones(a.shape, a.dtype))
        .reshape(-1).astype(scores.dtype)
        for (m, n), a in zip(parameters, arrays)
    ])
    mask = _combine(old, lambda alive: l1_mask(scores[alive], amount, op))
    start = 0
    for (m, n), a in zip(parameters, arrays):
        custom_from_mask(m, n, mask[start:start + a.size].reshape(a.shape))
        start += a.size


def remove(module, name):
    """Make the pruning of ``module.<name>`` permanent: ``<name>`` becomes a Parameter equal to
    ``orig ⊙ mask``, and ``<name>_orig``, ``<name>_mask`` and the hook go."""
    hooks = _hooks(module)
    if name not in hooks:
        raise ValueError(f"remove: parameter {name!r} of {type(module).__name__} has to be pruned before "
                         "its pruning can be removed")
    with no_grad():
        orig = module._parameters.pop(name + "_orig")
        mask = module._buffers.pop(name + "_mask")
        weight = Parameter(Tensor._make(orig.array * mask.array, False), requires_grad=orig.requires_grad)
    del module._forward_pre_hooks[hooks[name]]
    module.__dict__.pop(name, None)
    module.register_parameter(name, weight)
    return module


def is_pruned(module):
    """Whether ``module`` or any of its sub-modules has a pruned parameter."""
    return any(_hooks(m) for m in module.modules())


def pruned_names(module):
    """The names of the pruned parameters of ``module`` itself (not of its sub-modules)."""
    return sorted(_hooks(module))


def sparsity(module):
    """The fraction of zeros in the weights a forward uses (pruned and otherwise), over the
    parameters of ``module`` and its sub-modules: Σ #zeros / Σ numel."""
    zeros = total = 0
    for m in module.modules():
        hooks = _hooks(m)
        for name, p in m._parameters.items():
            if p is None:
                continue
            base = name[: -len("_orig")] if name.endswith("_orig") and name[: -len("_orig")] in hooks else None
            data = (p.array * m._buffers[base + "_mask"].array) if base else p.array
            zeros += int((data == 0).sum())
            total += data.size
    return zeros / total if total else 0.0


# ---- heads of a multi-head attention -----------------------------------------------------------
class _ChildPruneHook:
    """Forward pre-hook on a MultiheadAttention: its forward reads ``out_proj.weight`` without
    calling ``out_proj``, so the pruned weight of that child is recomputed here."""

    def __init__(self, child):
        self.child = child

    def __call__(self, module, inputs):
        child = module._modules[self.child]
        for name in _hooks(child):
            recompute(child, name)


def follow_attention(model):
    """Register on every ``MultiheadAttention`` of ``model`` the pre-hook that recomputes its pruned
    ``out_proj.weight`` (its forward reads that weight without calling ``out_proj``, so out_proj's
    own hook never runs). ``prune_heads`` does this itself; call it after pruning ``out_proj``
    otherwise (``global_unstructured`` over a Transformer, say). Returns ``model``."""
    for m in model.modules():
        if hasattr(m, "out_proj") and hasattr(m, "num_heads"):
            hooks = m.__dict__["_forward_pre_hooks"].values()
            if not any(isinstance(h, _ChildPruneHook) for h in hooks):
                m.register_forward_pre_hook(_ChildPruneHook("out_proj"))
    return model


def head_norms(mha):
    """‖head h‖₂ over its rows of W_q, W_k, W_v and its columns of W_o: shape (num_heads,), a
    score for choosing which heads to prune (the smallest first)."""
    H, D, E = mha.num_heads, mha.head_dim, mha.embed_dim
    xp = get_array_module(mha.out_proj.weight.array)
    total = xp.zeros(H)
    for W in _projection_weights(mha):
        total += (W.array.reshape(-1, H, D, W.shape[-1]) ** 2).sum(axis=(0, 2, 3))  # (blocks, H, D, in) -> (H,)
    out = mha.out_proj.weight.array.reshape(E, H, D)  # (E, H, D): column block h is head h
    return xp.sqrt(total + (out ** 2).sum(axis=(0, 2)))


def _projection_weights(mha):
    if mha._qkv_same_embed_dim:
        return [mha.in_proj_weight]
    return [getattr(mha, n) for n in ("q_proj_weight", "k_proj_weight", "v_proj_weight")]


def prune_heads(mha, heads):
    """Prune whole heads of a ``nn.MultiheadAttention``: for each head h in ``heads``, its rows
    h·D..(h+1)·D − 1 of W_q, W_k, W_v (and of their biases) and its columns of W_o are masked, so
    head h's output softmax(q_h k_hᵀ/√D) v_h is 0 and adds nothing to concat(heads) W_oᵀ. The
    masks are ordinary pruning masks (``in_proj_weight_mask``, ..., ``out_proj.weight_mask``),
    composed with earlier ones; ``remove`` makes them permanent."""
    op = "prune_heads"
    if not all(hasattr(mha, a) for a in ("num_heads", "head_dim", "out_proj", "_qkv_same_embed_dim")):
        raise TypeError(f"{op}: expected a minidl.nn.MultiheadAttention, got {type(mha).__name__}")
    H, D = mha.num_heads, mha.head_dim
    heads = sorted({int(h) for h in heads})
    bad = [h for h in heads if not 0 <= h < H]
    if bad:
        raise ValueError(f"{op}: heads {bad} are out of range for {H} heads")
    xp = get_array_module(mha.out_proj.weight.array)
    alive = xp.ones(H)
    alive[heads] = 0
    rows = xp.repeat(alive, D)  # (E,): 0 on the rows of a pruned head
    names = ["in_proj_weight"] if mha._qkv_same_embed_dim else ["q_proj_weight", "k_proj_weight", "v_proj_weight"]
    for name, W in zip(names, _projection_weights(mha)):
        blocks = W.shape[0] // (H * D)  # 3 for in_proj_weight, 1 for a separate projection
        custom_from_mask(mha, name, xp.broadcast_to(xp.tile(rows, blocks)[:, None], W.shape))
    if _current_or_none(mha, "in_proj_bias") is not None:
        custom_from_mask(mha, "in_proj_bias", xp.tile(rows, 3))
    custom_from_mask(mha.out_proj, "weight", xp.broadcast_to(rows[None, :], mha.out_proj.weight.shape))
    return follow_attention(mha)


def _current_or_none(module, name):
    if name in _hooks(module):
        return module._parameters[name + "_orig"]
    return module._parameters.get(name)
