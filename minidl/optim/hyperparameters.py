"""Checks of an optimizer's hyper-parameters, with PyTorch's messages.

Each error starts with the optimizer's name, then says what PyTorch says for the same value
(``Invalid learning rate: -0.1``), then the rule it breaks: ``Adam: Invalid beta parameter at
index 0: 1.0 (betas[0] = beta1 must be in [0, 1))``. The checks run on every parameter group,
so a group added later with a bad value is refused too. The values refused are PyTorch's, and
NaN, which PyTorch's SGD lets through (it checks ``lr < 0``) and the others refuse.
"""

from __future__ import annotations

from numbers import Real

# PyTorch's words for the value in its "Invalid ...: value" messages
_LABELS = {"lr": "learning rate", "eps": "epsilon value"}


def check_number(where: str, name: str, value):
    """A real number (a bool, a string or None is refused)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{where}: {name} must be a number, got {value!r}")


def check_nonnegative(where: str, name: str, value):
    """``value ≥ 0`` (NaN fails), or a ValueError naming the optimizer, the hyper-parameter and the value."""
    check_number(where, name, value)
    if not 0.0 <= value:
        label = _LABELS.get(name, f"{name} value")
        raise ValueError(f"{where}: Invalid {label}: {value} ({name} must be >= 0)")


def check_betas(where: str, betas) -> tuple:
    """``betas`` is a pair with ``0 ≤ β₁ < 1`` and ``0 ≤ β₂ < 1``; returns it as a tuple."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
    for index, beta in enumerate(betas):
        check_number(where, f"betas[{index}]", beta)
        if not 0.0 <= beta < 1.0:
            raise ValueError(
                f"{where}: Invalid beta parameter at index {index}: {beta} "
                f"(betas[{index}] = beta{index + 1} must be in [0, 1))"
            )
    return tuple(betas)


def check_nesterov(where: str, nesterov, momentum, dampening):
    """Nesterov momentum needs ``momentum > 0`` and ``dampening = 0``."""
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(
            f"{where}: Nesterov momentum requires a momentum and zero dampening "
            f"(nesterov=True with momentum={momentum}, dampening={dampening})"
        )
