"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

import math

from .. import backend
from .optimizer import Optimizer, check_hyper, effective_grad, zeros_like_array


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), as PyTorch's ``torch.optim.Adam``.

    For each parameter θ with gradient g at step t = 1, 2, ... (γ = lr, β₁, β₂ = betas)::

        g ← −g                                       if maximize
        θ ← θ (1 − γ λ)                              AdamW only (decoupled weight decay λ)
        g ← g + λ θ                                  Adam only, if weight_decay λ ≠ 0
        m ← β₁ m + (1 − β₁) g                        first moment
        v ← β₂ v + (1 − β₂) g²                       second moment
        v̂ ← max(v̂, v) if amsgrad, else v             (v̂ kept in state as max_exp_avg_sq)
        θ ← θ − γ / (1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)

    State per parameter: ``step`` (int), ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with amsgrad,
    ``max_exp_avg_sq`` (v̂); arrays like θ.

    The update runs in place on the arrays with one scratch array per parameter per step.
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize
        )
        super().__init__(params, defaults)

    def _validate_group(self, group):
        name = type(self).__name__
        check_hyper("lr", group["lr"], name)
        check_hyper("eps", group["eps"], name)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(betas)
        check_hyper("beta1 (betas[0])", betas[0], name, 0.0, 1.0, high_open=True)
        check_hyper("beta2 (betas[1])", betas[1], name, 0.0, 1.0, high_open=True)
        check_hyper("weight_decay", group["weight_decay"], name)

    def _update(self, x, grad, state, group):
        xp = backend.get_array_module(x)
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_like_array(x)
            state["exp_avg_sq"] = zeros_like_array(x)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = zeros_like_array(x)

        if weight_decay != 0 and self._decoupled:
            x *= 1 - lr * weight_decay
            g = -grad if group["maximize"] else grad
        else:
            g = effective_grad(xp, x, grad, group["maximize"], weight_decay)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]

        scratch = xp.multiply(g, 1 - beta1, out=xp.empty_like(x))  # (1 − β₁) g
        m *= beta1
        m += scratch
        xp.multiply(g, g, out=scratch)  # (1 − β₂) g²
        scratch *= 1 - beta2
        v *= beta2
        v += scratch
        if group["amsgrad"]:
            v_hat = state["max_exp_avg_sq"]
            xp.maximum(v_hat, v, out=v_hat)
        else:
            v_hat = v

        step_size = lr / (1 - beta1**t)
        xp.sqrt(v_hat, out=scratch)  # denominator √v̂ / √(1 − β₂ᵗ) + ε
        scratch /= math.sqrt(1 - beta2**t)
        scratch += eps
        xp.divide(m, scratch, out=scratch)
        scratch *= step_size
        x -= scratch


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    The same update as :class:`Adam`, except that weight decay shrinks the parameter directly,
    ``θ ← θ (1 − γ λ)``, before the moment update, instead of adding ``λ θ`` to the gradient
    (so it is not rescaled by the adaptive denominator). Default ``weight_decay=1e-2``.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False):
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize
        )
