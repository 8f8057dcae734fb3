"""Keras optimizers (names, arguments and defaults) running ``minidl.optim`` underneath.

    Keras                                         minidl.optim
    SGD(learning_rate=0.01, momentum=0.0,         SGD(lr, momentum, nesterov)
        nesterov=False)
    Adam(learning_rate=0.001, beta_1=0.9,         Adam(lr, betas=(beta_1, beta_2), eps=epsilon, amsgrad)
         beta_2=0.999, epsilon=1e-7)
    AdamW(learning_rate=0.001, weight_decay=0.004, ...)   AdamW(..., weight_decay)
    RMSprop(learning_rate=0.001, rho=0.9,         RMSprop(lr, alpha=rho, eps=epsilon, momentum, centered)
            momentum=0.0, epsilon=1e-7)
    Adagrad(learning_rate=0.001,                  Adagrad(lr, initial_accumulator_value, eps)
            initial_accumulator_value=0.1, epsilon=1e-7)

The update equations are PyTorch's (see each minidl.optim class). Two small differences from
Keras remain, both in where ε enters: Keras's Adam adds ε to √v before the bias correction of
v (ε̂ = ε·√(1 − β₂ᵗ) in PyTorch's terms), and Keras's RMSprop divides by √(v + ε) rather than
√v + ε. With ε = 1e-7 neither changes a training run noticeably.

``weight_decay`` on any optimizer is Keras's decoupled decay, θ ← θ − lr · weight_decay · θ
before each step (AdamW's rule). ``clipnorm`` clips each gradient's norm, ``global_clipnorm``
their joint norm, ``clipvalue`` each element. ``learning_rate`` can be read and assigned at
any time (LearningRateScheduler does so).
"""

from __future__ import annotations

from .. import backend
from .. import optim as _optim
from ..autograd import no_grad
from ..tensor import Tensor
from . import schedules


class Optimizer:
    """A Keras optimizer: hyper-parameters now, the minidl.optim optimizer once the model's
    parameters are known (``build``)."""

    _defaults: dict = {}

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        unknown = set(kwargs) - set(self._defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {', '.join(sorted(unknown))}")
        self._schedule = None
        if isinstance(learning_rate, dict) and "class_name" in learning_rate:
            learning_rate = schedules.deserialize(learning_rate)
        if callable(learning_rate):
            self._schedule = learning_rate  # lr(step): keras.optimizers.schedules
            learning_rate = learning_rate(0)
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{type(self).__name__}: use only one of clipnorm, clipvalue and global_clipnorm")
        self._learning_rate = float(learning_rate)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.hyper = {k: kwargs.get(k, v) for k, v in self._defaults.items()}
        self.inner = None
        self.iterations = 0

    # ---- learning rate -------------------------------------------------------------------
    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if self._schedule is not None:
            raise TypeError(f"{type(self).__name__}: the learning rate follows a schedule and cannot be set")
        self._learning_rate = float(value)
        self._set_inner_rate()

    def _set_inner_rate(self):
        if self.inner is not None:
            for group in self.inner.param_groups:
                group["lr"] = self._learning_rate

    lr = learning_rate

    # ---- building and stepping -----------------------------------------------------------
    def build(self, params):
        """Create the minidl.optim optimizer over ``params`` (done once, on the first step)."""
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: the model has no trainable weights")
        self._params = params
        self.inner = self._make(params)

    def _make(self, params):
        raise NotImplementedError

    @property
    def built(self):
        return self.inner is not None

    def zero_grad(self):
        if self.inner is not None:
            self.inner.zero_grad()

    def apply_gradients(self, grads_and_vars):
        """One update from ``zip(gradients, variables)`` (Keras's way, e.g. with the gradients
        of ``minidl.grad(loss, model.trainable_variables)``); pairs whose gradient is None are
        skipped. Built on the first call from the variables given; later calls may add more."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise ValueError(f"{type(self).__name__}.apply_gradients: no gradients (every gradient is None)")
        for g, v in pairs:
            if tuple(g.shape) != tuple(v.shape):
                raise ValueError(f"apply_gradients: a gradient of shape {tuple(g.shape)} for a variable of shape "
                                 f"{tuple(v.shape)}")
        variables = [v for _, v in pairs]
        if not self.built:
            self.build(variables)
        else:
            known = {id(p) for p in self._params}
            new = [v for v in variables if id(v) not in known]
            if new:
                self.inner.add_param_group({"params": new})
                self._params = self._params + new
        saved = [(p, p.grad) for p in self._params]
        given = {id(v): g for g, v in pairs}
        for p in self._params:
            g = given.get(id(p))
            p.grad = None if g is None else (g.detach() if isinstance(g, Tensor) else Tensor._make(g))
        try:
            self.step()
        finally:
            for p, g in saved:
                p.grad = g
        return self.iterations

    def apply(self, grads, trainable_variables=None):
        """Keras 3's ``optimizer.apply(grads, variables)``: ``apply_gradients(zip(grads, variables))``."""
        if trainable_variables is None:
            trainable_variables = self._params if self.built else None
        if trainable_variables is None:
            raise ValueError(f"{type(self).__name__}.apply: pass the variables the gradients belong to")
        return self.apply_gradients(zip(grads, trainable_variables))

    def step(self):
        """Clip the gradients, apply decoupled weight decay, then the update rule."""
        if self._schedule is not None:
            self._learning_rate = float(self._schedule(self.iterations))
            self._set_inner_rate()
        params = [p for p in self._params if p.grad is not None]
        if self.clipnorm is not None:
            for p in params:
                _optim.clip_grad_norm_([p], self.clipnorm)
        elif self.global_clipnorm is not None:
            _optim.clip_grad_norm_(params, self.global_clipnorm)
        elif self.clipvalue is not None:
            _optim.clip_grad_value_(params, self.clipvalue)
        if self.weight_decay and not self._decay_inside:
            with no_grad():
                for p in params:
                    p.array *= 1.0 - self._learning_rate * self.weight_decay
        self.inner.step()
        self.iterations += 1

    _decay_inside = False

    def move_state(self, device):
        """Move the optimizer's running buffers to ``device`` (after ``model.to(device)``)."""
        if self.inner is None:
            return
        for state in self.inner.state.values():
            for key, value in list(state.items()):
                if hasattr(value, "shape") and hasattr(value, "dtype"):
                    state[key] = backend.to_device(value, device)

    def get_config(self):
        lr = schedules.serialize(self._schedule) if self._schedule is not None else self._learning_rate
        return {"learning_rate": lr, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm, "name": self.name, **self.hyper}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} learning_rate={self._learning_rate}>"


class SGD(Optimizer):
    """v ← momentum · v − lr · g;  θ ← θ + v   (plain θ ← θ − lr · g without momentum)"""

    _defaults = {"momentum": 0.0, "nesterov": False}

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, momentum=momentum, nesterov=nesterov, **kwargs)

    def _make(self, params):
        return _optim.SGD(params, lr=self._learning_rate, momentum=self.hyper["momentum"],
                          nesterov=self.hyper["nesterov"])


class Adam(Optimizer):
    """Adam with Keras's defaults (ε = 1e-7)."""

    _defaults = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}
    _decay_inside = True

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad, **kwargs)

    def _make(self, params):
        h = self.hyper
        return _optim.AdamW(params, lr=self._learning_rate, betas=(h["beta_1"], h["beta_2"]), eps=h["epsilon"],
                            weight_decay=self.weight_decay or 0.0, amsgrad=h["amsgrad"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras's default weight_decay 0.004)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop with Keras's defaults (rho 0.9, ε = 1e-7)."""

    _defaults = {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False}

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, rho=rho, momentum=momentum, epsilon=epsilon, centered=centered, **kwargs)

    def _make(self, params):
        h = self.hyper
        return _optim.RMSprop(params, lr=self._learning_rate, alpha=h["rho"], eps=h["epsilon"],
                              momentum=h["momentum"], centered=h["centered"])


class Adagrad(Optimizer):
    """Adagrad with Keras's defaults (initial accumulator 0.1, ε = 1e-7)."""

    _defaults = {"initial_accumulator_value": 0.1, "epsilon": 1e-7}

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, initial_accumulator_value=initial_accumulator_value, epsilon=epsilon,
                         **kwargs)

    def _make(self, params):
        h = self.hyper
        return _optim.Adagrad(params, lr=self._learning_rate,
                              initial_accumulator_value=h["initial_accumulator_value"], eps=h["epsilon"])


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}
_CLASSES = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier):
    """An Optimizer from a Keras name ('adam'), an object, a class or a config dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]].from_config(identifier.get("config", {}))
    if isinstance(identifier, _optim.Optimizer):
        raise TypeError(
            "compile(optimizer=...) takes a keras optimizer (e.g. keras.optimizers.Adam(1e-3)) or a name, not a "
            "minidl.optim optimizer (the model's weights are created lazily)"
        )
    raise ValueError(f"Unknown optimizer {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}")


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
