"""Weight penalties added to the training loss: ``Dense(64, kernel_regularizer='l2')``.

    L1(l1):        penalty = l1 · Σ |w|
    L2(l2):        penalty = l2 · Σ w²
    L1L2(l1, l2):  both
"""

from __future__ import annotations

from .. import functional as F


class Regularizer:
    def __call__(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """penalty = l1 · Σ|w| + l2 · Σw²"""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w):
        total = None
        if self.l1:
            total = self.l1 * F.sum(F.abs(w))
        if self.l2:
            term = self.l2 * F.sum(w * w)
            total = term if total is None else total + term
        return total if total is not None else F.sum(w) * 0.0

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """penalty = l1 · Σ|w|   (Keras's default l1 = 0.01)"""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """penalty = l2 · Σw²   (Keras's default l2 = 0.01)"""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2

_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}
_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """A Regularizer from None, a name ('l1', 'l2', 'l1_l2'), a config dict or an object."""
    if identifier is None or isinstance(identifier, Regularizer) or callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]].from_config(identifier.get("config", {}))
    raise ValueError(f"Unknown regularizer {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}")


def serialize(regularizer):
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        raise ValueError(f"cannot serialize the regularizer {regularizer!r} (not a keras Regularizer)")
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
