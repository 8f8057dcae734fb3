"""Rprop: per-element step sizes that grow while the gradient keeps its sign and shrink when it flips."""

from __future__ import annotations

from .. import backend
from .hyperparameters import check_nonnegative, check_number
from .inplace import full_like_array, zeros_like_array
from .optimizer import Optimizer


def _check_pair(where, name, value):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{where}: {name} must be a pair, got {value!r}")
    for i, v in enumerate(value):
        check_number(where, f"{name}[{i}]", v)
    return tuple(value)


class Rprop(Optimizer):
    r"""Resilient backpropagation (Riedmiller & Braun, 1993; the variant without weight
    backtracking), as PyTorch's ``torch.optim.Rprop``. Only the sign of the gradient is used.

    Hyper-parameters: initial step γ (``lr``), factors η⁻ < 1 < η⁺ (``etas``), bounds
    Δ_min, Δ_max (``step_sizes``), ``maximize``. State Δ_0 = γ everywhere, g_0 = 0. For each
    element of a parameter θ with gradient g_t::

        s = sign(g_t g_{t−1})
        Δ_t = clamp(Δ_{t−1} · (η⁺ if s > 0, η⁻ if s < 0, 1 if s = 0), Δ_min, Δ_max)
        g_t ← 0                                     where s < 0 (the sign flipped: skip, and forget it)
        θ_t = θ_{t−1} − sign(g_t) Δ_t

    State per parameter: ``step``, ``prev`` (g_{t−1} after the flip rule), ``step_size`` (Δ).
    """

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False):
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize))

    def _validate_group(self, group):
        check_nonnegative("Rprop", "lr", group["lr"])
        etas = group["etas"] = _check_pair("Rprop", "etas", group["etas"])
        group["step_sizes"] = _check_pair("Rprop", "step_sizes", group["step_sizes"])
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Rprop: Invalid eta values: {etas[0]}, {etas[1]} (need 0 < etaminus < 1 < etaplus)")

    def _update(self, theta, grad, state, group):
        xp = backend.get_array_module(theta)
        (eta_minus, eta_plus), (lo, hi) = group["etas"], group["step_sizes"]
        if not state:
            state.update(step=0, prev=zeros_like_array(theta), step_size=full_like_array(theta, group["lr"]))
        state["step"] += 1
        prev, delta = state["prev"], state["step_size"]
        g = xp.negative(grad) if group["maximize"] else grad
        s = xp.sign(g * prev)                                   # s = sign(g_t g_{t−1})
        factor = xp.where(s > 0, eta_plus, xp.where(s < 0, eta_minus, 1.0)).astype(delta.dtype)
        delta *= factor
        xp.clip(delta, lo, hi, out=delta)                       # Δ_t = clamp(Δ_{t−1} · factor, Δ_min, Δ_max)
        g = xp.where(s < 0, 0, g).astype(theta.dtype)           # g_t ← 0 where the sign flipped
        theta -= xp.sign(g) * delta                             # θ_t = θ_{t−1} − sign(g_t) Δ_t
        prev[...] = g
