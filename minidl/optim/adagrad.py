"""Adagrad: per-coordinate step sizes from the sum of all past squared gradients."""

from __future__ import annotations

from .. import backend
from .hyperparameters import check_nonnegative
from .inplace import addcdiv_, full_like_array, scratch_like, sqrt_add
from .optimizer import Optimizer


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011), as PyTorch's ``torch.optim.Adagrad``.

    Hyper-parameters: learning rate γ (``lr``), learning-rate decay η (``lr_decay``), weight
    decay λ, ε (``eps``), initial accumulator τ (``initial_accumulator_value``), ``maximize``.
    State s_0 = τ. For each parameter θ with gradient g_t at step t = 1, 2, ...::

        g_t ← −g_t                                   if maximize
        g_t ← g_t + λ θ_{t−1}                        if λ ≠ 0
        γ̃ = γ / (1 + (t − 1) η)                      decayed learning rate
        s_t = s_{t−1} + g_t²                         sum of squared gradients
        θ_t = θ_{t−1} − γ̃ g_t / (√s_t + ε)

    State per parameter: ``step`` (t) and ``sum`` (s, an array like θ).
    """

    def __init__(
        self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, maximize=False
    ):
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _validate_group(self, group):
        for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):  # PyTorch's order
            check_nonnegative("Adagrad", name, group[name])

    def _update(self, theta, grad, state, group):
        xp = backend.get_array_module(theta)
        lr, eta, lam, eps = group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]
        if not state:
            state.update(step=0, sum=full_like_array(theta, group["initial_accumulator_value"]))
        sq_sum = state["sum"]
        s = scratch_like(theta)  # the step's one temporary: every line below writes into the sum, θ or s
        t = state["step"] = state["step"] + 1
        # −grad and the weight-decayed gradient are new arrays: grad belongs to the caller
        g = xp.negative(grad) if group["maximize"] else grad          # g_t ← −g_t
        if lam != 0:
            g = g + lam * theta                                       # g_t ← g_t + λ θ_{t−1}
        lr_t = lr / (1 + (t - 1) * eta)                               # γ̃ = γ / (1 + (t − 1) η)
        sq_sum += xp.multiply(g, g, out=s)                            # s_t = s_{t−1} + g_t²   (in place in the state)
        denom = sqrt_add(sq_sum, eps, out=s)                          # √s_t + ε
        addcdiv_(theta, g, denom, -lr_t)                              # θ_t = θ_{t−1} − γ̃ g_t / (√s_t + ε)
