"""Learning-rate schedules: change each parameter group's ``lr`` as training goes on.

A scheduler is stepped once per epoch (or per batch, for OneCycleLR), after ``optimizer.step()``::

    scheduler = StepLR(optimizer, step_size=10, gamma=0.1)
    for epoch in range(epochs):
        train_one_epoch(...)          # calls optimizer.step()
        scheduler.step()

Each schedule is a formula for the rate η_t of epoch t = ``last_epoch`` from the group's
starting rate η_0 = ``initial_lr`` (in ``base_lrs``), its *closed form* ``η_t = η_0 · f(t)``
(``_closed_form_lr``). Like PyTorch, ``step()`` applies the equal *recursive form*
``η_t = η_{t−1} · f(t) / f(t−1)`` to each group's current ``lr`` (``get_lr``), so that
schedulers chained on one optimizer multiply their factors; ``step(epoch)`` jumps with the
closed form. Both are written next to each other below, and match ``torch.optim.lr_scheduler``.
"""

from __future__ import annotations

import math
import types
from bisect import bisect_right
from collections import Counter

from .optimizer import Optimizer


class LRScheduler:
    """Base class: keeps ``base_lrs`` (each group's ``initial_lr``) and ``last_epoch``.

    ``step()`` advances ``last_epoch`` by one and writes ``get_lr()`` into the groups.
    Subclasses write ``get_lr`` (the recursive form, from each group's current ``lr``) and,
    where it exists, ``_closed_form_lr`` (from ``base_lrs`` and ``last_epoch``).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: {type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr', needed to resume with "
                        f"last_epoch={last_epoch}; load the optimizer's state_dict first"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates for ``last_epoch`` (one per parameter group)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set."""
        return list(self._last_lr)

    def step(self, epoch: int | None = None):
        """Advance one epoch (or jump to ``epoch``, using the closed form where there is one)."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _group_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """Everything but the optimizer (``last_epoch``, ``base_lrs``, the schedule's settings)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict):
        self.__dict__.update(state_dict)

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self.get_last_lr()})"


class LambdaLR(LRScheduler):
    r"""A factor given as a function: ``η_t = η_0 · λ(t)``.

    ``lr_lambda`` is the function λ, or a list of them (one per parameter group).
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per parameter group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t = self.last_epoch
        return [eta_0 * lr_lambda(t) for lr_lambda, eta_0 in zip(self.lr_lambdas, self.base_lrs)]  # η_t = η_0 λ(t)

    def state_dict(self):
        """Plain functions are not saved (only the attributes of callable objects)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [
            None
            if isinstance(f, (types.FunctionType, types.MethodType)) or not hasattr(f, "__dict__")
            else dict(f.__dict__)
            for f in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        saved = state_dict.pop("lr_lambdas", [])
        self.__dict__.update(state_dict)
        for f, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                f.__dict__.update(attrs)


class StepLR(LRScheduler):
    r"""Decay by γ (``gamma``) every s (``step_size``) epochs::

        η_t = η_0 · γ^⌊t / s⌋                        closed form
        η_t = γ η_{t−1}  if t > 0 and s divides t,   else η_{t−1}
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if not isinstance(step_size, int) or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, s, gamma = self.last_epoch, self.step_size, self.gamma
        if t > 0 and t % s == 0:
            return [gamma * lr for lr in self._group_lrs()]  # η_t = γ η_{t−1}
        return self._group_lrs()  # η_t = η_{t−1}

    def _closed_form_lr(self):
        t, s, gamma = self.last_epoch, self.step_size, self.gamma
        return [eta_0 * gamma ** (t // s) for eta_0 in self.base_lrs]  # η_t = η_0 γ^⌊t / s⌋


class MultiStepLR(LRScheduler):
    r"""Decay by γ (``gamma``) at each of the epochs in M (``milestones``, repeats allowed)::

        η_t = η_0 · γ^|{m ∈ M : m ≤ t}|              closed form
        η_t = γ^c(t) η_{t−1}                          c(t): how many times t is in M
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        count = self.milestones[self.last_epoch]  # c(t), 0 when t is no milestone
        return [self.gamma**count * lr for lr in self._group_lrs()]  # η_t = γ^c(t) η_{t−1}

    def _closed_form_lr(self):
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)  # |{m ∈ M : m ≤ t}|
        return [eta_0 * self.gamma**passed for eta_0 in self.base_lrs]  # η_t = η_0 γ^|{m ≤ t}|


class ExponentialLR(LRScheduler):
    r"""Decay by γ (``gamma``) every epoch: ``η_t = η_0 · γ^t``, that is ``η_t = γ η_{t−1}``."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._group_lrs()  # η_0
        return [self.gamma * lr for lr in self._group_lrs()]  # η_t = γ η_{t−1}

    def _closed_form_lr(self):
        return [eta_0 * self.gamma**self.last_epoch for eta_0 in self.base_lrs]  # η_t = η_0 γ^t


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from η_0 down to η_min (``eta_min``) over T (``T_max``) epochs (SGDR, Loshchilov
    & Hutter 2017, without restarts)::

        η_t = η_min + (η_0 − η_min) · (1 + cos(π t / T)) / 2                              closed form
        η_t = η_min + (η_{t−1} − η_min) · (1 + cos(π t / T)) / (1 + cos(π (t − 1) / T))    recursive form

    After T the rate climbs back (period 2T). Where the recursion's ratio is 0/0, at the bottom
    of the cosine (t − 1 ≡ T mod 2T), ``step()`` adds the first increment instead:
    ``η_t = η_{t−1} + (η_0 − η_min) · (1 − cos(π / T)) / 2``.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()  # η_0
        if self._step_count == 1 and t > 0:  # resumed at epoch t: no η_{t−1} to start from
            return self._closed_form_lr()
        if (t - 1 - T) % (2 * T) == 0:  # the bottom of the cosine
            step_up = (1 - math.cos(math.pi / T)) / 2
            return [lr + (eta_0 - eta_min) * step_up for lr, eta_0 in zip(self._group_lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [eta_min + (lr - eta_min) * ratio for lr in self._group_lrs()]  # η_t from η_{t−1}

    def _closed_form_lr(self):
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        return [eta_min + (eta_0 - eta_min) * (1 + math.cos(math.pi * t / T)) / 2 for eta_0 in self.base_lrs]


class LinearLR(LRScheduler):
    r"""Linear warm-up (or decay) of the factor from s (``start_factor``) to e (``end_factor``)
    over n (``total_iters``) epochs; it stays at e afterwards::

        η_t = η_0 · (s + (e − s) · min(t, n) / n)                          closed form
        η_0 ← s η_0;   η_t = η_{t−1} · (1 + (e − s) / (n s + (t − 1)(e − s)))  for 1 ≤ t ≤ n

    (the ratio of consecutive factors (n s + t (e − s)) / (n s + (t − 1)(e − s))).
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        if not isinstance(total_iters, int) or total_iters <= 0:
            raise ValueError(f"LinearLR: total_iters must be a positive integer, got {total_iters!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        s, e, n, t = self.start_factor, self.end_factor, self.total_iters, self.last_epoch
        if t == 0:
            return [lr * s for lr in self._group_lrs()]  # η_0 ← s η_0
        if self._is_initial or t > n:
            return self._group_lrs()  # the factor stays at e
        ratio = 1.0 + (e - s) / (n * s + (t - 1) * (e - s))
        return [lr * ratio for lr in self._group_lrs()]  # η_t = η_{t−1} · ratio

    def _closed_form_lr(self):
        s, e, n, t = self.start_factor, self.end_factor, self.total_iters, self.last_epoch
        return [eta_0 * (s + (e - s) * min(t, n) / n) for eta_0 in self.base_lrs]  # η_t = η_0 (s + (e − s) min(t, n)/n)


def _per_group(name, optimizer, value):
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"OneCycleLR: expected {n} values for {name} (one per parameter group), got {len(value)}")
        return list(value)
    return [value] * n


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy (Smith & Topin, 2017); step it after every batch.

    The rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    ``total_steps`` (or ``epochs · steps_per_epoch``), then anneals down to
    ``max_lr / (div_factor · final_div_factor)``. With ``three_phase`` it first comes back down to
    the initial rate symmetrically and only then anneals to the minimum. Each phase interpolates
    with ``anneal_strategy``::

        cos:     v = end + (start − end) · (1 + cos(π · pct)) / 2
        linear:  v = start + (end − start) · pct

    where pct is the fraction of the phase done. With ``cycle_momentum`` the momentum (SGD's
    ``momentum`` or Adam's ``betas[0]``) moves the opposite way, between ``max_momentum`` and
    ``base_momentum``.
    """

    def __init__(
        self,
        optimizer,
        max_lr,
        total_steps=None,
        epochs=None,
        steps_per_epoch=None,
        pct_start=0.3,
        anneal_strategy="cos",
        cycle_momentum=True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
        last_epoch=-1,
    ):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"OneCycleLR: {type(optimizer).__name__} is not an Optimizer")
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"OneCycleLR: total_steps must be a positive integer, got {total_steps!r}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"OneCycleLR: epochs must be a positive integer, got {epochs!r}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(f"OneCycleLR: steps_per_epoch must be a positive integer, got {steps_per_epoch!r}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR: give either total_steps, or both epochs and steps_per_epoch")
        if isinstance(pct_start, bool) or not isinstance(pct_start, (int, float)) or not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start must be a number in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy

        n = self.total_steps
        up_end = float(pct_start * n) - 1
        if three_phase:
            # (last step of the phase, lr from, lr to, momentum from, momentum to)
            self._phases = [
                (up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * n) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self._phases = [
                (up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]

        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"OneCycleLR: cycle_momentum needs an optimizer with momentum or betas, "
                    f"{type(optimizer).__name__} has neither; pass cycle_momentum=False"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            max_ms = _per_group("max_momentum", optimizer, max_momentum)
            base_ms = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for group, m_max, m_base in zip(optimizer.param_groups, max_ms, base_ms):
                    self._set_momentum(group, m_max)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(
                f"OneCycleLR: tried to step {t} times, but the schedule has total_steps={self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr_from, lr_to, m_from, m_to) in enumerate(self._phases):
                if t <= end or i == len(self._phases) - 1:
                    pct = (t - start) / (end - start)
                    lrs.append(self._anneal(group[lr_from], group[lr_to], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m_from], group[m_to], pct))
                    break
                start = end
        return lrs
