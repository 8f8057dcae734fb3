"""Low-rank factorization of Linear layers by the truncated SVD.

A Linear layer y = x Wᵀ + b with W (out, in) of singular value decomposition W = U S Vᵀ is
replaced by two layers through a bottleneck of width r:

    W ≈ W_r = U_r S_r V_rᵀ = (U_r S_r^½)(S_r^½ V_rᵀ)        first: Linear(in, r, bias=False), weight S_r^½ V_rᵀ  (r, in)
                                                          second: Linear(r, out), weight U_r S_r^½ (out, r), bias b

which stores r·(in + out) numbers instead of in·out (smaller when r < in·out / (in + out)). By
Eckart–Young, W_r is the best rank-r approximation in the Frobenius norm, and its error is the
energy of the singular values dropped:  ‖W − W_r‖²_F = Σ_{i > r} σ_i².
Notebook: notebooks/10_compression.ipynb, section 3.
"""

from __future__ import annotations

import numbers

from ..autograd import no_grad
from ..backend import get_array_module
from ..nn.attention import MultiheadAttention
from ..nn.containers import Sequential
from ..nn.layers import Linear
from ..nn.module import Module
from . import prune


def rank_for_energy(singular_values, energy):
    """The smallest r with Σ_{i ≤ r} σ_i² ≥ energy · Σ σ_i² (energy in (0, 1])."""
    xp = get_array_module(singular_values)
    if not 0.0 < float(energy) <= 1.0:
        raise ValueError(f"rank_for_energy: energy={energy} should be in (0, 1]")
    e = singular_values.astype(xp.float64) ** 2
    total = e.sum()
    if total == 0:
        return 1
    kept = xp.cumsum(e) / total  # (k,): share of the energy in the first r values
    return int(min(xp.searchsorted(kept, float(energy) - 1e-12) + 1, e.size))


def _check_rank(rank, limit, op):
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 1 <= rank <= limit:
        raise ValueError(f"{op}: rank={rank!r} should be an int in 1..{limit} (min(in, out) of the layer)")
    return int(rank)


def low_rank(linear, rank=None, energy=None):
    """A ``Sequential(Linear(in, r, bias=False), Linear(r, out))`` whose product is the truncated SVD
    of ``linear.weight`` at rank ``rank``, or at the smallest rank keeping ``energy`` of Σσ²
    (see the module docstring). The new layers are float and trainable (fine-tune them)."""
    op = "low_rank"
    if not isinstance(linear, Linear):
        raise TypeError(f"{op}: expected a minidl.nn.Linear, got {type(linear).__name__}")
    if (rank is None) == (energy is None):
        raise ValueError(f"{op}: give exactly one of rank= and energy=")
    W = prune.detach_pruned(linear).weight.array  # (out, in); a pruned layer's current weight
    xp = get_array_module(W)
    U, S, Vt = xp.linalg.svd(W.astype(xp.float64), full_matrices=False)  # (out, k), (k,), (k, in)
    r = rank_for_energy(S, energy) if rank is None else _check_rank(rank, S.size, op)
    root = xp.sqrt(S[:r])  # (r,): S_r^½, split between the two factors
    first = Linear(linear.in_features, r, bias=False, dtype=W.dtype)
    second = Linear(r, linear.out_features, bias=linear.bias is not None, dtype=W.dtype)
    with no_grad():
        first.weight.array = (root[:, None] * Vt[:r]).astype(W.dtype)  # (r, in)
        second.weight.array = (U[:, :r] * root[None, :]).astype(W.dtype)  # (out, r)
        if linear.bias is not None:
            second.bias.array = linear.bias.array.copy()
    return Sequential(first, second)


def factorize_linear(model, rank=None, energy=None, min_features=2):
    """Replace, in place, every ``nn.Linear`` of ``model`` (at any depth) by its ``low_rank``
    factorization at ``rank`` (capped at each layer's min(in, out)) or at ``energy``, where it
    stores fewer numbers than the layer it replaces (r·(in + out) < in·out); layers with fewer
    than ``min_features`` inputs or outputs are kept, and so is a MultiheadAttention's ``out_proj``
    (the attention reads its weight as one matrix). Returns ``model`` and a list of
    ``(name, (out, in), r)`` for the layers replaced."""
    if not isinstance(model, Module):
        raise TypeError(f"factorize_linear: expected a minidl.nn.Module, got {type(model).__name__}")
    if (rank is None) == (energy is None):
        raise ValueError("factorize_linear: give exactly one of rank= and energy=")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or rank < 1):
        raise ValueError(f"factorize_linear: rank={rank!r} should be a positive int")
    replaced = []
    for prefix, parent in list(model.named_modules()):
        if isinstance(parent, MultiheadAttention):
            continue  # its forward reads out_proj.weight as one matrix
        for name, child in list(parent._modules.items()):
            if not isinstance(child, Linear) or min(child.in_features, child.out_features) < min_features:
                continue
            r_max = min(child.in_features, child.out_features)
            new = low_rank(child, rank=min(rank, r_max)) if rank is not None else low_rank(child, energy=energy)
            r = new[0].out_features
            if r * (child.in_features + child.out_features) < child.in_features * child.out_features:
                parent._modules[name] = new
                replaced.append((f"{prefix}.{name}" if prefix else name, (child.out_features, child.in_features), r))
    return model, replaced


def reconstruction_error(linear, factorized):
    """‖W − W₂ W₁‖_F: how far the product of the two factors is from the original weight."""
    W = linear.weight.array
    product = factorized[1].weight.array @ factorized[0].weight.array  # (out, r) @ (r, in) -> (out, in)
    xp = get_array_module(W)
    return float(xp.sqrt(((W.astype(xp.float64) - product) ** 2).sum()))

