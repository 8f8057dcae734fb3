"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

from __future__ import annotations

from .. import backend
from .optimizer import Optimizer, check_hyper, effective_grad, zeros_like_array


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture 6e), as PyTorch's ``torch.optim.RMSprop``.

    For each parameter θ with gradient g (γ = lr, α = alpha, μ = momentum)::

        g ← −g                                  if maximize
        g ← g + λ θ                             if weight_decay λ ≠ 0
        v ← α v + (1 − α) g²                    running mean of squares (square_avg)
        ḡ ← α ḡ + (1 − α) g                     if centered (grad_avg)
        d ← √(v − ḡ²) + ε  if centered, else  √v + ε
        b ← μ b + g / d ;  θ ← θ − γ b          if μ > 0 (momentum_buffer)
        θ ← θ − γ g / d                         otherwise

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (μ > 0), ``grad_avg`` (centered).
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
        check_hyper("lr", group["lr"], "RMSprop")
        check_hyper("alpha", group["alpha"], "RMSprop")
        check_hyper("eps", group["eps"], "RMSprop")
        check_hyper("momentum", group["momentum"], "RMSprop")
        check_hyper("weight_decay", group["weight_decay"], "RMSprop")

    def _update(self, x, grad, state, group):
        xp = backend.get_array_module(x)
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["square_avg"] = zeros_like_array(x)
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = zeros_like_array(x)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = zeros_like_array(x)

        state["step"] += 1
        g = effective_grad(xp, x, grad, group["maximize"], weight_decay)
        v = state["square_avg"]
        d = xp.multiply(g, g, out=xp.empty_like(x))
        d *= 1 - alpha
        v *= alpha
        v += d
        if group["centered"]:
            g_avg = state["grad_avg"]
            g_avg += (1 - alpha) * (g - g_avg)
            xp.multiply(g_avg, g_avg, out=d)
            xp.subtract(v, d, out=d)
            xp.sqrt(d, out=d)
        else:
            xp.sqrt(v, out=d)
        d += eps
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += g / d
            x -= lr * buf
        else:
            xp.divide(g, d, out=d)
            d *= lr
            x -= d
