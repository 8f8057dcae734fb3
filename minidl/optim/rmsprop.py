"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

from __future__ import annotations

from .. import backend
from .hyperparameters import check_nonnegative
from .inplace import addcdiv_, scale_add_, scratch_like, sqrt_add, zeros_like_array
from .optimizer import Optimizer


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, lecture 6e of "Neural Networks for Machine Learning"; centered: Graves, 2013),
    as PyTorch's ``torch.optim.RMSprop``.

    Hyper-parameters: learning rate γ (``lr``), smoothing α (``alpha``), ε (``eps``), weight decay λ,
    momentum μ, ``centered``, ``maximize``. State v_0 = 0, b_0 = 0, g^ave_0 = 0. For each
    parameter θ with gradient g_t at step t = 1, 2, ...::

        g_t ← −g_t                                   if maximize
        g_t ← g_t + λ θ_{t−1}                        if λ ≠ 0
        v_t = α v_{t−1} + (1 − α) g_t²               running mean of squares
        ṽ_t = v_t
        if centered:
            g^ave_t = α g^ave_{t−1} + (1 − α) g_t    running mean
            ṽ_t ← ṽ_t − (g^ave_t)²                   running variance
        if μ > 0:
            b_t = μ b_{t−1} + g_t / (√ṽ_t + ε)
            θ_t = θ_{t−1} − γ b_t
        else:
            θ_t = θ_{t−1} − γ g_t / (√ṽ_t + ε)

    State per parameter: ``step``, ``square_avg`` (v), ``momentum_buffer`` (b, when μ > 0) and
    ``grad_avg`` (g^ave, when centered); arrays like θ.
    """

    def __init__(
        self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False
    ):
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _validate_group(self, group):
        for name in ("lr", "eps", "momentum", "weight_decay", "alpha"):  # PyTorch's order
            check_nonnegative("RMSprop", name, group[name])

    def _init_state(self, theta, state, group):
        if not state:
            state.update(step=0, square_avg=zeros_like_array(theta))
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = zeros_like_array(theta)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = zeros_like_array(theta)

    def _update(self, theta, grad, state, group):
        xp = backend.get_array_module(theta)
        lr, alpha, eps, lam, mu = group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        self._init_state(theta, state, group)
        v = state["square_avg"]
        s = scratch_like(theta)  # the step's one temporary: every line below writes into v, g^ave, b, θ or s
        state["step"] += 1
        # −grad and the weight-decayed gradient are new arrays: grad belongs to the caller
        g = xp.negative(grad) if group["maximize"] else grad          # g_t ← −g_t
        if lam != 0:
            g = g + lam * theta                                       # g_t ← g_t + λ θ_{t−1}
        scale_add_(v, alpha, xp.multiply(g, g, out=s), 1 - alpha, s)  # v_t = α v_{t−1} + (1 − α) g_t²
        v_tilde = v                                                   # ṽ_t = v_t
        if group["centered"]:
            g_ave = state["grad_avg"]
            scale_add_(g_ave, alpha, g, 1 - alpha, s)                 # g^ave_t = α g^ave_{t−1} + (1 − α) g_t
            v_tilde = xp.subtract(v, xp.multiply(g_ave, g_ave, out=s), out=s)  # ṽ_t ← ṽ_t − (g^ave_t)²
        denom = sqrt_add(v_tilde, eps, out=s)                         # √ṽ_t + ε
        if mu > 0:
            b = state["momentum_buffer"]
            scale_add_(b, mu, xp.divide(g, denom, out=s), 1, s)       # b_t = μ b_{t−1} + g_t / (√ṽ_t + ε)
            theta -= xp.multiply(b, lr, out=s)                        # θ_t = θ_{t−1} − γ b_t
        else:
            addcdiv_(theta, g, denom, -lr)                            # θ_t = θ_{t−1} − γ g_t / (√ṽ_t + ε)
