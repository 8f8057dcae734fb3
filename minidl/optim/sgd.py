"""Stochastic gradient descent, with optional momentum (heavy ball or Nesterov)."""

from __future__ import annotations

from .. import backend
from .optimizer import Optimizer, check_hyper, effective_grad


class SGD(Optimizer):
    r"""Stochastic gradient descent (PyTorch's ``torch.optim.SGD``).

    For each parameter θ with gradient g at step t (b is the momentum buffer)::

        g ← −g                               if maximize
        g ← g + λ θ                          if weight_decay λ ≠ 0
        if momentum μ ≠ 0:
            b ← g                            at the first step
            b ← μ b + (1 − τ) g              afterwards (τ = dampening)
            g ← g + μ b                      if nesterov
            g ← b                            otherwise
        θ ← θ − γ g                          (γ = lr)

    State per parameter: ``momentum_buffer`` (an array like θ; only when momentum ≠ 0).
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
        check_hyper("lr", group["lr"], "SGD")
        check_hyper("momentum", group["momentum"], "SGD")
        check_hyper("dampening", group["dampening"], "SGD")
        check_hyper("weight_decay", group["weight_decay"], "SGD")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: nesterov momentum requires momentum > 0 and dampening = 0, "
                f"got momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _update(self, x, grad, state, group):
        xp = backend.get_array_module(x)
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        g = effective_grad(xp, x, grad, group["maximize"], weight_decay)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.array(g, copy=True)
            else:
                buf *= momentum
                dampening = group["dampening"]
                buf += g if dampening == 0 else (1 - dampening) * g
            g = g + momentum * buf if group["nesterov"] else buf
        x -= lr * g
