"""Stochastic gradient descent, with optional momentum (heavy ball or Nesterov)."""

from __future__ import annotations

from .. import backend
from .hyperparameters import check_nesterov, check_nonnegative, check_number
from .inplace import copy_array, scale_add_
from .optimizer import Optimizer


class SGD(Optimizer):
    r"""Stochastic gradient descent, as PyTorch's ``torch.optim.SGD``.

    Hyper-parameters: learning rate γ (``lr``), momentum μ, dampening τ, weight decay λ,
    ``nesterov``, ``maximize``. For each parameter θ with gradient g_t at step t = 1, 2, ...::

        g_t ← −g_t                               if maximize
        g_t ← g_t + λ θ_{t−1}                    if λ ≠ 0
        if μ ≠ 0:
            b_t = g_t                            if t = 1
            b_t = μ b_{t−1} + (1 − τ) g_t        if t > 1
            g_t ← g_t + μ b_t                    if nesterov
            g_t ← b_t                            otherwise
        θ_t = θ_{t−1} − γ g_t

    (With ``maximize`` PyTorch negates the gradient first, so weight decay still pulls θ to 0.)
    State per parameter: ``momentum_buffer`` (b, an array like θ; only when μ ≠ 0).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _validate_group(self, group):
        check_nonnegative("SGD", "lr", group["lr"])
        check_nonnegative("SGD", "momentum", group["momentum"])
        check_number("SGD", "dampening", group["dampening"])  # any value, as in PyTorch
        check_nonnegative("SGD", "weight_decay", group["weight_decay"])
        check_nesterov("SGD", group["nesterov"], group["momentum"], group["dampening"])

    def _update(self, theta, grad, state, group):
        xp = backend.get_array_module(theta)
        lr, mu, tau, lam = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        # Each line writes in place into b or θ; the only temporaries are −g_t and g_t + λ θ_{t−1}
        # (grad is the caller's), (1 − τ) g_t when τ ≠ 0, the Nesterov sum, and γ g_t.
        g = xp.negative(grad) if group["maximize"] else grad    # g_t ← −g_t
        if lam != 0:
            g = g + lam * theta                                 # g_t ← g_t + λ θ_{t−1}
        if mu != 0:
            b = state.get("momentum_buffer")
            if b is None:
                b = state["momentum_buffer"] = copy_array(g)    # b_1 = g_1
            else:
                scale_add_(b, mu, g, 1 - tau)                   # b_t = μ b_{t−1} + (1 − τ) g_t
            g = g + mu * b if group["nesterov"] else b          # g_t ← g_t + μ b_t  |  g_t ← b_t
        theta -= lr * g                                         # θ_t = θ_{t−1} − γ g_t
