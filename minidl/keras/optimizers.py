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


class Optimizer:
    """A Keras optimizer: hyper-parameters now, the minidl.optim optimizer once the model's
    parameters are known (``build``)."""

    _defaults: dict = {}

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        unknown = set(kwargs) - set(self._defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {', '.join(sorted(unknown))}")
        if callable(learning_rate):
            raise NotImplementedError(
                f"{type(self).__name__}: learning-rate schedule objects are not supported; use a number and the "
                "LearningRateScheduler callback"
            )
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
        self._learning_rate = float(value)
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

    def step(self):
        """Clip the gradients, apply decoupled weight decay, then the update rule."""
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
        return {"learning_rate": self._learning_rate, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
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
