"""``keras.optimizers.schedules``: learning rates as a function of the optimizer's step count.

    lr = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=10000, decay_rate=0.9)
    optimizer = keras.optimizers.SGD(learning_rate=lr)      # lr(step) before each update

    ExponentialDecay        lr₀ · r^(t / T)             (t // T with staircase=True)
    InverseTimeDecay        lr₀ / (1 + r · t / T)       (t // T with staircase=True)
    PiecewiseConstantDecay  values[i] for boundaries[i-1] < t ≤ boundaries[i]
    PolynomialDecay         (lr₀ − lr_end) · (1 − min(t, T)/T)^p + lr_end
    CosineDecay             linear warmup, then lr_peak · ((1 − α) · ½(1 + cos(π min(t, T)/T)) + α)

t is the number of updates done so far (0 for the first), T ``decay_steps``.
"""

from __future__ import annotations

import math


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate``; ``get_config`` / ``from_config``."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _positive(name, value, what):
    if value <= 0:
        raise ValueError(f"{what}: {name} must be positive, got {value}")
    return value


class ExponentialDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self.initial_learning_rate, self.decay_rate = float(initial_learning_rate), float(decay_rate)
        self.decay_steps = _positive("decay_steps", decay_steps, "ExponentialDecay")
        self.staircase, self.name = bool(staircase), name

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(ExponentialDecay):
    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate / (1.0 + self.decay_rate * (math.floor(p) if self.staircase else p))


class PiecewiseConstantDecay(LearningRateSchedule):
    def __init__(self, boundaries, values, name=None):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: {len(boundaries)} boundaries need {len(boundaries) + 1} "
                             f"values, got {len(values)}")
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got {list(boundaries)}")
        self.boundaries, self.values, self.name = list(boundaries), [float(v) for v in values], name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name=None):
        if cycle:
            raise NotImplementedError("PolynomialDecay: cycle=True is not supported")
        self.initial_learning_rate, self.end_learning_rate = float(initial_learning_rate), float(end_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps, "PolynomialDecay")
        self.power, self.cycle, self.name = float(power), cycle, name

    def __call__(self, step):
        frac = 1.0 - min(step, self.decay_steps) / self.decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * frac ** self.power + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class CosineDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate, self.alpha = float(initial_learning_rate), float(alpha)
        self.decay_steps = _positive("decay_steps", decay_steps, "CosineDecay")
        self.warmup_target, self.warmup_steps, self.name = warmup_target, int(warmup_steps), name

    def __call__(self, step):
        peak = self.initial_learning_rate if self.warmup_target is None else float(self.warmup_target)
        if step < self.warmup_steps:
            return self.initial_learning_rate + (peak - self.initial_learning_rate) * step / self.warmup_steps
        t = min(step - self.warmup_steps, self.decay_steps) / self.decay_steps
        return peak * ((1.0 - self.alpha) * 0.5 * (1.0 + math.cos(math.pi * t)) + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_CLASSES = {c.__name__: c for c in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay,
                                    CosineDecay)}


def serialize(schedule):
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config, custom_objects=None):
    classes = {**_CLASSES, **(custom_objects or {})}
    if config.get("class_name") not in classes:
        raise ValueError(f"Unknown learning-rate schedule {config.get('class_name')!r}")
    return classes[config["class_name"]].from_config(config.get("config", {}))
