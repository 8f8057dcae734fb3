"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

from .. import backend
from .hyperparameters import check_nonnegative, check_number
from .inplace import scale_add_, zeros_like_array
from .optimizer import Optimizer


def check_unit_interval(where, name, value):
    """``0 ≤ value ≤ 1`` (PyTorch's "Invalid rho value: ..." for Adadelta's ρ)."""
    check_number(where, name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{where}: Invalid {name} value: {value} ({name} must be in [0, 1])")


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), as PyTorch's ``torch.optim.Adadelta``.

    Hyper-parameters: learning rate γ (``lr``, default 1), decay ρ (``rho``), ε (``eps``),
    weight decay λ, ``maximize``. State v_0 = 0 (``square_avg``), u_0 = 0 (``acc_delta``). For
    each parameter θ with gradient g_t at step t = 1, 2, ...::

        g_t ← −g_t                                   if maximize
        g_t ← g_t + λ θ_{t−1}                        if λ ≠ 0
        v_t = ρ v_{t−1} + (1 − ρ) g_t²               running mean of squared gradients
        Δx_t = √(u_{t−1} + ε) / √(v_t + ε) · g_t     the update, in the units of θ
        u_t = ρ u_{t−1} + (1 − ρ) Δx_t²              running mean of squared updates
        θ_t = θ_{t−1} − γ Δx_t

    State per parameter: ``step`` (t), ``square_avg`` (v), ``acc_delta`` (u); arrays like θ.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _validate_group(self, group):
        check_nonnegative("Adadelta", "lr", group["lr"])
        check_unit_interval("Adadelta", "rho", group["rho"])
        check_nonnegative("Adadelta", "eps", group["eps"])
        check_nonnegative("Adadelta", "weight_decay", group["weight_decay"])

    def _update(self, theta, grad, state, group):
        xp = backend.get_array_module(theta)
        lr, rho, eps, lam = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        if not state:
            state.update(step=0, square_avg=zeros_like_array(theta), acc_delta=zeros_like_array(theta))
        v, u = state["square_avg"], state["acc_delta"]
        state["step"] += 1
        g = xp.negative(grad) if group["maximize"] else grad    # g_t ← −g_t
        if lam != 0:
            g = g + lam * theta                                 # g_t ← g_t + λ θ_{t−1}
        scale_add_(v, rho, g * g, 1 - rho)                      # v_t = ρ v_{t−1} + (1 − ρ) g_t²
        delta = xp.sqrt(u + eps)
        delta /= xp.sqrt(v + eps)
        delta *= g                                              # Δx_t = √(u_{t−1} + ε) / √(v_t + ε) · g_t
        scale_add_(u, rho, delta * delta, 1 - rho)              # u_t = ρ u_{t−1} + (1 − ρ) Δx_t²
        delta *= lr
        theta -= delta                                          # θ_t = θ_{t−1} − γ Δx_t
