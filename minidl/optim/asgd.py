"""ASGD: stochastic gradient descent that also keeps a running average of the iterates."""

from __future__ import annotations

from .. import backend
from .hyperparameters import check_nonnegative, check_number
from .inplace import zeros_like_array
from .optimizer import Optimizer


class ASGD(Optimizer):
    r"""Averaged SGD (Polyak & Juditsky, 1992; the step-size schedule of Bottou, 2012), as
    PyTorch's ``torch.optim.ASGD``.

    Hyper-parameters: γ (``lr``), decay λ (``lambd``), power α (``alpha``), averaging start t₀
    (``t0``), weight decay w, ``maximize``. State η_0 = γ, μ_0 = 1, ā_0 = 0. For each parameter θ
    with gradient g_t at step t = 1, 2, ...::

        g_t ← −g_t;  g_t ← g_t + w θ_{t−1}          (if maximize; if w ≠ 0)
        θ_t = θ_{t−1} (1 − λ η_{t−1}) − η_{t−1} g_t
        ā_t = ā_{t−1} + μ_{t−1} (θ_t − ā_{t−1})     (ā_t = θ_t while μ_{t−1} = 1)
        η_t = γ / (1 + λ γ t)^α
        μ_t = 1 / max(1, t − t₀)

    The model trains on θ; ā (``ax``), the average of the iterates since t₀, is what the method
    is named for. State per parameter: ``step`` (t), ``eta`` (η) and ``mu`` (μ) as floats,
    ``ax`` (ā, an array like θ).
    """

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      maximize=maximize))

    def _validate_group(self, group):
        check_nonnegative("ASGD", "lr", group["lr"])
        check_nonnegative("ASGD", "weight_decay", group["weight_decay"])
        for name in ("lambd", "alpha", "t0"):
            check_number("ASGD", name, group[name])

    def _update(self, theta, grad, state, group):
        xp = backend.get_array_module(theta)
        lr, lambd, alpha, t0, w = group["lr"], group["lambd"], group["alpha"], group["t0"], group["weight_decay"]
        if not state:
            state.update(step=0, eta=float(lr), mu=1.0, ax=zeros_like_array(theta))
        t = state["step"] = state["step"] + 1
        eta, mu, ax = state["eta"], state["mu"], state["ax"]
        g = xp.negative(grad) if group["maximize"] else grad    # g_t ← −g_t
        if w != 0:
            g = g + w * theta                                   # g_t ← g_t + w θ_{t−1}
        theta *= 1 - lambd * eta
        theta -= eta * g                                        # θ_t = θ_{t−1} (1 − λ η) − η g_t
        if mu != 1:
            ax += mu * (theta - ax)                             # ā_t = ā_{t−1} + μ (θ_t − ā_{t−1})
        else:
            ax[...] = theta                                     # ā_t = θ_t
        state["eta"] = lr / (1 + lambd * lr * t) ** alpha       # η_t = γ / (1 + λ γ t)^α
        state["mu"] = 1 / max(1, t - t0)                        # μ_t = 1 / max(1, t − t₀)
