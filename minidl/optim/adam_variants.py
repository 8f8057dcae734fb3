"""Adamax, NAdam and RAdam: Adam with an infinity norm, with Nesterov momentum, and rectified."""

from __future__ import annotations

import math

from .. import backend
from .hyperparameters import check_betas, check_nonnegative
from .inplace import scale_add_, zeros_like_array
from .optimizer import Optimizer


def _check_adam_group(name, group):
    check_nonnegative(name, "lr", group["lr"])
    check_nonnegative(name, "eps", group["eps"])
    group["betas"] = check_betas(name, group["betas"])
    check_nonnegative(name, "weight_decay", group["weight_decay"])


def _moments(state, theta):
    if not state:
        state.update(step=0, exp_avg=zeros_like_array(theta), exp_avg_sq=zeros_like_array(theta))


def _decayed_gradient(xp, theta, grad, group):
    """g_t (negated if maximize), with L2 weight decay added or, when decoupled, applied to θ."""
    g = xp.negative(grad) if group["maximize"] else grad        # g_t ← −g_t
    lam = group["weight_decay"]
    if lam != 0 and group.get("decoupled_weight_decay", False):
        theta *= 1 - group["lr"] * lam                          # θ_{t−1} ← θ_{t−1} (1 − γ λ)
    elif lam != 0:
        g = g + lam * theta                                     # g_t ← g_t + λ θ_{t−1}
    return g


class Adamax(Optimizer):
    r"""Adamax (Kingma & Ba, 2015, section 7.1), as PyTorch's ``torch.optim.Adamax``: Adam with
    the second moment replaced by an exponentially weighted infinity norm.

    Hyper-parameters: γ (``lr``, default 2e-3), β₁, β₂ (``betas``), ε, weight decay λ,
    ``maximize``. State m_0 = 0, u_0 = 0. For each parameter θ with gradient g_t::

        g_t ← −g_t;  g_t ← g_t + λ θ_{t−1}          (if maximize; if λ ≠ 0)
        m_t = β₁ m_{t−1} + (1 − β₁) g_t
        u_t = max(β₂ u_{t−1}, |g_t| + ε)
        θ_t = θ_{t−1} − γ / (1 − β₁ᵗ) · m_t / u_t

    State per parameter: ``step`` (t), ``exp_avg`` (m), ``exp_inf`` (u); arrays like θ.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _validate_group(self, group):
        _check_adam_group("Adamax", group)

    def _update(self, theta, grad, state, group):
        xp = backend.get_array_module(theta)
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        if not state:
            state.update(step=0, exp_avg=zeros_like_array(theta), exp_inf=zeros_like_array(theta))
        m, u = state["exp_avg"], state["exp_inf"]
        t = state["step"] = state["step"] + 1
        g = _decayed_gradient(xp, theta, grad, group)
        scale_add_(m, beta1, g, 1 - beta1)                      # m_t = β₁ m_{t−1} + (1 − β₁) g_t
        u *= beta2
        xp.maximum(u, xp.abs(g) + eps, out=u)                   # u_t = max(β₂ u_{t−1}, |g_t| + ε)
        theta -= (lr / (1 - beta1**t)) * (m / u)                # θ_t = θ_{t−1} − γ/(1 − β₁ᵗ) · m_t / u_t


class NAdam(Optimizer):
    r"""NAdam (Dozat, 2016), as PyTorch's ``torch.optim.NAdam``: Adam with Nesterov momentum and
    a momentum schedule μ_t.

    Hyper-parameters: γ (``lr``, default 2e-3), β₁, β₂, ε, weight decay λ, ψ
    (``momentum_decay``), ``decoupled_weight_decay`` (NAdamW), ``maximize``. State m_0 = v_0 = 0,
    Π_0 = 1 (``mu_product``). For each parameter θ with gradient g_t at step t::

        g_t ← −g_t;  g_t ← g_t + λ θ_{t−1}  (or θ_{t−1} ← θ_{t−1}(1 − γλ) when decoupled)
        μ_t = β₁ (1 − ½ · 0.96^(t ψ)),   μ_{t+1} = β₁ (1 − ½ · 0.96^((t+1) ψ))
        Π_t = Π_{t−1} μ_t
        m_t = β₁ m_{t−1} + (1 − β₁) g_t
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²
        d_t = √(v_t / (1 − β₂ᵗ)) + ε
        θ_t = θ_{t−1} − γ (1 − μ_t) / (1 − Π_t) · g_t / d_t − γ μ_{t+1} / (1 − Π_t μ_{t+1}) · m_t / d_t

    State per parameter: ``step``, ``mu_product`` (Π, a float), ``exp_avg`` (m), ``exp_avg_sq`` (v).
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _validate_group(self, group):
        _check_adam_group("NAdam", group)
        check_nonnegative("NAdam", "momentum_decay", group["momentum_decay"])

    def _update(self, theta, grad, state, group):
        xp = backend.get_array_module(theta)
        lr, (beta1, beta2), eps, psi = group["lr"], group["betas"], group["eps"], group["momentum_decay"]
        _moments(state, theta)
        state.setdefault("mu_product", 1.0)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        t = state["step"] = state["step"] + 1
        g = _decayed_gradient(xp, theta, grad, group)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))                # μ_t
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))     # μ_{t+1}
        prod = state["mu_product"] = state["mu_product"] * mu       # Π_t = Π_{t−1} μ_t
        scale_add_(m, beta1, g, 1 - beta1)                          # m_t = β₁ m_{t−1} + (1 − β₁) g_t
        scale_add_(v, beta2, g * g, 1 - beta2)                      # v_t = β₂ v_{t−1} + (1 − β₂) g_t²
        d = xp.sqrt(v / (1 - beta2**t))
        d += eps                                                    # d_t = √(v_t / (1 − β₂ᵗ)) + ε
        theta -= (lr * (1 - mu) / (1 - prod)) * (g / d)
        theta -= (lr * mu_next / (1 - prod * mu_next)) * (m / d)


class RAdam(Optimizer):
    r"""RAdam (Liu et al., 2020), as PyTorch's ``torch.optim.RAdam``: Adam whose adaptive step is
    switched on, and scaled by a rectification term r_t, once the variance of the adaptive
    learning rate is tractable (ρ_t > 5).

    Hyper-parameters: γ (``lr``), β₁, β₂, ε, weight decay λ, ``decoupled_weight_decay`` (RAdamW),
    ``maximize``. State m_0 = v_0 = 0. For each parameter θ with gradient g_t at step t::

        g_t ← −g_t;  g_t ← g_t + λ θ_{t−1}  (or θ_{t−1} ← θ_{t−1}(1 − γλ) when decoupled)
        m_t = β₁ m_{t−1} + (1 − β₁) g_t,    m̂_t = m_t / (1 − β₁ᵗ)
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²
        ρ_∞ = 2 / (1 − β₂) − 1,             ρ_t = ρ_∞ − 2 t β₂ᵗ / (1 − β₂ᵗ)
        if ρ_t > 5:
            r_t = √((ρ_t − 4)(ρ_t − 2) ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2) ρ_t))
            θ_t = θ_{t−1} − γ m̂_t r_t √(1 − β₂ᵗ) / (√v_t + ε)
        else:
            θ_t = θ_{t−1} − γ m̂_t

    State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _validate_group(self, group):
        _check_adam_group("RAdam", group)

    def _update(self, theta, grad, state, group):
        xp = backend.get_array_module(theta)
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        _moments(state, theta)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        t = state["step"] = state["step"] + 1
        g = _decayed_gradient(xp, theta, grad, group)
        scale_add_(m, beta1, g, 1 - beta1)                          # m_t = β₁ m_{t−1} + (1 − β₁) g_t
        scale_add_(v, beta2, g * g, 1 - beta2)                      # v_t = β₂ v_{t−1} + (1 − β₂) g_t²
        bias1, bias2 = 1 - beta1**t, 1 - beta2**t
        m_hat = m / bias1                                           # m̂_t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / bias2
        if rho_t > 5.0:
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            theta -= m_hat * (lr * r * math.sqrt(bias2)) / (xp.sqrt(v) + eps)
        else:
            theta -= m_hat * lr
