"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

import math

from .. import backend
from .hyperparameters import check_betas, check_nonnegative
from .inplace import addcdiv_, scale_add_, scratch_like, sqrt_add, zeros_like_array
from .optimizer import Optimizer


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), as PyTorch's ``torch.optim.Adam``.

    Hyper-parameters: learning rate γ (``lr``), β₁, β₂ (``betas``), ε (``eps``), weight decay λ,
    ``amsgrad``, ``maximize``. State m_0 = v_0 = 0 (and v_0^max = 0). For each parameter θ with
    gradient g_t at step t = 1, 2, ...::

        g_t ← −g_t                                   if maximize
        g_t ← g_t + λ θ_{t−1}                        if λ ≠ 0          (AdamW: decays θ instead)
        m_t = β₁ m_{t−1} + (1 − β₁) g_t              first moment
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²             second moment
        v_t^max = max(v_{t−1}^max, v_t)              if amsgrad, and v_t ← v_t^max below
        m̂_t = m_t / (1 − β₁ᵗ)                        bias corrections
        v̂_t = v_t / (1 − β₂ᵗ)
        θ_t = θ_{t−1} − γ m̂_t / (√v̂_t + ε)

    The bias corrections are scalars, so m̂_t and v̂_t are never stored: multiplying numerator
    and denominator by √(1 − β₂ᵗ), the last line runs as the equal
    ``θ_t = θ_{t−1} − (γ √(1 − β₂ᵗ) / (1 − β₁ᵗ)) · m_t / (√v_t + ε √(1 − β₂ᵗ))``, one pass over
    the arrays fewer than dividing √v_t by √(1 − β₂ᵗ) (the order PyTorch computes in).

    State per parameter: ``step`` (t, an int), ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with
    amsgrad, ``max_exp_avg_sq`` (v^max); arrays like θ.
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize
        )
        super().__init__(params, defaults)

    def _validate_group(self, group):
        name = type(self).__name__
        check_nonnegative(name, "lr", group["lr"])
        check_nonnegative(name, "eps", group["eps"])
        group["betas"] = check_betas(name, group["betas"])
        check_nonnegative(name, "weight_decay", group["weight_decay"])

    def _update(self, theta, grad, state, group):
        xp = backend.get_array_module(theta)
        lr, (beta1, beta2), eps, lam = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=zeros_like_array(theta), exp_avg_sq=zeros_like_array(theta))
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = zeros_like_array(theta)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        s = scratch_like(theta)  # the step's one temporary: every line below writes into m, v, θ or s
        t = state["step"] = state["step"] + 1
        # −grad and the weight-decayed gradient are new arrays: grad belongs to the caller
        g = xp.negative(grad) if group["maximize"] else grad          # g_t ← −g_t
        if lam != 0 and self._decoupled:
            theta *= 1 - lr * lam                                     # θ_{t−1} ← θ_{t−1} − γ λ θ_{t−1}     (AdamW)
        elif lam != 0:
            g = g + lam * theta                                       # g_t ← g_t + λ θ_{t−1}               (Adam)
        scale_add_(m, beta1, g, 1 - beta1, s)                         # m_t = β₁ m_{t−1} + (1 − β₁) g_t
        scale_add_(v, beta2, xp.multiply(g, g, out=s), 1 - beta2, s)  # v_t = β₂ v_{t−1} + (1 − β₂) g_t²
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])  # v_t ← max(v_{t−1}^max, v_t)
        bias1, bias2 = 1 - beta1**t, 1 - beta2**t                     # m̂_t = m_t / bias1,  v̂_t = v_t / bias2
        root_bias2 = math.sqrt(bias2)                                 # (the last fraction times √bias2 / √bias2)
        denom = sqrt_add(v, eps * root_bias2, out=s)                  # √bias2 (√v̂_t + ε) = √v_t + ε √bias2
        addcdiv_(theta, m, denom, -lr * root_bias2 / bias1)           # θ_t = θ_{t−1} − γ m̂_t / (√v̂_t + ε)


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    The algorithm of :class:`Adam`, except that weight decay shrinks the parameter directly
    instead of adding λ θ to the gradient, so the adaptive denominator does not rescale it::

        g_t ← −g_t                                   if maximize
        θ_{t−1} ← θ_{t−1} − γ λ θ_{t−1}              decoupled weight decay (default λ = 0.01)
        m_t, v_t, v_t^max, m̂_t, v̂_t                  as in Adam
        θ_t = θ_{t−1} − γ m̂_t / (√v̂_t + ε)
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False):
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize
        )
