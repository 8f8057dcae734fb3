"""Adagrad: per-coordinate step sizes from the sum of all past squared gradients."""

from __future__ import annotations

from .. import backend
from .optimizer import Optimizer, check_hyper, effective_grad, full_like_array


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011), as PyTorch's ``torch.optim.Adagrad``.

    For each parameter θ with gradient g at step t = 1, 2, ... (γ = lr, η = lr_decay)::

        g ← −g                                  if maximize
        g ← g + λ θ                             if weight_decay λ ≠ 0
        γ̃ = γ / (1 + (t − 1) η)
        s ← s + g²                              (s starts at initial_accumulator_value)
        θ ← θ − γ̃ g / (√s + ε)

    State per parameter: ``step`` and ``sum`` (s, an array like θ).
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
        check_hyper("lr", group["lr"], "Adagrad")
        check_hyper("lr_decay", group["lr_decay"], "Adagrad")
        check_hyper("weight_decay", group["weight_decay"], "Adagrad")
        check_hyper("initial_accumulator_value", group["initial_accumulator_value"], "Adagrad")
        check_hyper("eps", group["eps"], "Adagrad")

    def _update(self, x, grad, state, group):
        xp = backend.get_array_module(x)
        if not state:
            state["step"] = 0
            state["sum"] = full_like_array(x, group["initial_accumulator_value"])
        g = effective_grad(xp, x, grad, group["maximize"], group["weight_decay"])
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"]
        d = xp.multiply(g, g, out=xp.empty_like(x))
        s += d
        xp.sqrt(s, out=d)
        d += group["eps"]
        xp.divide(g, d, out=d)
        d *= clr
        x -= d
