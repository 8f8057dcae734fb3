"""Keras losses by name or object, computed with ``minidl.functional``.

    sparse_categorical_crossentropy   integer labels (N,) against class scores (N, C)
    categorical_crossentropy          one-hot / probability targets (N, C)
    binary_crossentropy               0/1 targets against one probability per output
    mse / mean_squared_error, mae / mean_absolute_error

Each loss gives one value per sample (the last axis reduced), then the mean over the batch
(Keras's 'sum_over_batch_size'; 'sum' and 'none' are the other reductions).

How probabilities are handled (``from_logits=False``, the default)
------------------------------------------------------------------
* When the model ends in a softmax (or, for binary cross-entropy, a sigmoid) layer, ``fit``
  hands the loss the values before that activation (``logits``), and the loss is computed from
  them: cross-entropy as log-softmax of the logits (the fused ``F.cross_entropy``), binary
  cross-entropy as ``F.binary_cross_entropy_with_logits``. This is exact and never takes the log
  of a probability that rounded to 0; Keras does the same with the logits it keeps behind a
  softmax output.
* Otherwise the probabilities are clipped to [ε, 1 − ε] with Keras's ε = 1e-7 before the log
  (categorical cross-entropy also rescales each row to sum to 1, as Keras), so a confident wrong
  prediction costs at most −log(1e-7) ≈ 16.1 instead of infinity.
* ``from_logits=True`` means the model outputs logits (no final softmax/sigmoid).
"""

from __future__ import annotations

import numpy

from .. import backend
from .. import functional as F
from ..tensor import Tensor

EPSILON = 1e-7
_REDUCTIONS = ("sum_over_batch_size", "sum", "none", "mean", None)


def _xp(t):
    return backend.get_array_module(t.array)


def _clip_probabilities(p):
    return F.clamp(p, EPSILON, 1.0 - EPSILON)


def _match_rank(y_true, y_pred):
    """Keras's squeeze-or-expand: targets (N,) against outputs (N, 1) (or the reverse) are lined up."""
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = F.unsqueeze(y_true, -1)
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = F.squeeze(y_true, -1)
    return y_true


def _check_same(name, y_true, y_pred):
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(
            f"{name}: targets of shape {tuple(y_true.shape)} do not match the model's outputs of shape "
            f"{tuple(y_pred.shape)}"
        )


def _float_targets(y_true, like):
    if y_true.dtype != like.dtype:
        return Tensor._make(y_true.array.astype(like.dtype), False)
    return y_true


class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None)`` is a scalar Tensor; subclasses
    define ``call(y_true, y_pred, logits=None, kind=None)`` giving one value per sample."""

    def __init__(self, reduction="sum_over_batch_size", name=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be 'sum_over_batch_size', 'sum' or 'none', "
                             f"got {reduction!r}")
        self.reduction = "sum_over_batch_size" if reduction in ("mean", None) else reduction
        self.name = name or _snake(type(self).__name__)

    def __call__(self, y_true, y_pred, sample_weight=None, logits=None, kind=None):
        from .layers.symbolic import as_input_tensor

        y_true = as_input_tensor(y_true, y_pred.device if isinstance(y_pred, Tensor) else None)
        y_pred = as_input_tensor(y_pred)
        if sample_weight is None and self.reduction == "sum_over_batch_size":
            fast = self._mean(y_true, y_pred, logits, kind)
            if fast is not None:
                return fast
        values = self.call(y_true, y_pred, logits=logits, kind=kind)
        if sample_weight is not None:
            w = as_input_tensor(sample_weight, values.device)
            w = Tensor._make(w.array.astype(values.dtype).reshape(w.shape + (1,) * (values.ndim - w.ndim)), False)
            values = values * w
        if self.reduction == "none":
            return values
        total = F.sum(values)
        return total if self.reduction == "sum" else total / max(values.numel(), 1)

    def _mean(self, y_true, y_pred, logits, kind):
        """A faster exact path for the batch mean, or None."""
        return None

    def call(self, y_true, y_pred, logits=None, kind=None):
        raise NotImplementedError

    def check_targets(self, y, output_shape):
        """Raise a clear error when targets ``y`` (an array) cannot go with outputs of
        ``output_shape`` (batch axis None allowed)."""

    def prepare_targets(self, y, dtype):
        """Targets as an array of the dtype this loss wants."""
        return numpy.asarray(y).astype(dtype, copy=False)

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SparseCategoricalCrossentropy(Loss):
    """ℓ_i = −log p_i[y_i] for integer labels y (N,) or (N, 1) and scores (N, C) (also (N, T) and
    (N, T, C) for sequences). See the module docstring for how probabilities are handled."""

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy"):
        super().__init__(reduction, name)
        self.from_logits, self.ignore_class = bool(from_logits), ignore_class

    def _labels(self, y_true, y_pred):
        y = y_true
        if y.ndim == y_pred.ndim and y.shape[-1] == 1:
            y = F.squeeze(y, -1)
        if tuple(y.shape) != tuple(y_pred.shape[:-1]):
            raise ValueError(
                f"{self.name}: integer labels of shape {tuple(y_true.shape)} do not fit outputs of shape "
                f"{tuple(y_pred.shape)} (expected labels of shape {tuple(y_pred.shape[:-1])})"
            )
        if y.dtype.kind not in "iu":
            y = Tensor._make(y.array.astype("int64"), False)
        return y

    def _scores(self, y_pred, logits, kind):
        if self.from_logits:
            return y_pred, True
        if logits is not None and kind == "softmax":
            return logits, True
        return y_pred, False

    def _mean(self, y_true, y_pred, logits, kind):
        y = self._labels(y_true, y_pred)
        scores, are_logits = self._scores(y_pred, logits, kind)
        C = scores.shape[-1]
        flat, labels = F.reshape(scores, (-1, C)), F.reshape(y, (-1,))  # (N·T, C), (N·T,)
        ignore = -100 if self.ignore_class is None else self.ignore_class
        if are_logits:
            return F.cross_entropy(flat, labels, ignore_index=ignore)
        return F.nll_loss(F.log(_clip_probabilities(flat)), labels, ignore_index=ignore)

    def call(self, y_true, y_pred, logits=None, kind=None):
        y = self._labels(y_true, y_pred)
        scores, are_logits = self._scores(y_pred, logits, kind)
        C = scores.shape[-1]
        flat, labels = F.reshape(scores, (-1, C)), F.reshape(y, (-1,))
        ignore = -100 if self.ignore_class is None else self.ignore_class
        if are_logits:
            values = F.cross_entropy(flat, labels, ignore_index=ignore, reduction="none")
        else:
            values = F.nll_loss(F.log(_clip_probabilities(flat)), labels, ignore_index=ignore, reduction="none")
        return F.reshape(values, tuple(y.shape))

    def check_targets(self, y, output_shape):
        y = numpy.asarray(y)
        out = tuple(output_shape)
        if y.ndim == len(out) and out[-1] not in (None, 1) and y.shape[-1] == out[-1] and y.shape[-1] != 1:
            raise ValueError(
                f"{self.name} expects integer class labels of shape {_shape_text(('N',) + out[1:-1])}, got targets "
                f"of shape {y.shape} that look one-hot encoded: use loss='categorical_crossentropy' for one-hot "
                "targets"
            )
        expected = len(out) - 1
        ndim = y.ndim - 1 if (y.ndim == len(out) and y.shape[-1] == 1) else y.ndim
        if ndim != expected:
            raise ValueError(
                f"{self.name}: labels of shape {y.shape} do not fit the model's outputs of shape "
                f"{_shape_text(out)} (one integer label per output row expected)"
            )
        if y.dtype.kind == "f" and y.size and not numpy.all(numpy.mod(y, 1) == 0):
            raise ValueError(f"{self.name} expects integer class labels, got non-integer values such as "
                             f"{y[numpy.mod(y, 1) != 0].flat[0]}")
        if y.dtype.kind not in "iuf" + "b":
            raise TypeError(f"{self.name} expects integer class labels, got dtype {y.dtype}")
        C = out[-1]
        if C is not None and y.size:
            lo, hi = int(y.min()), int(y.max())
            ignore = self.ignore_class
            if ignore is not None:
                kept = y[y != ignore]
                lo, hi = (int(kept.min()), int(kept.max())) if kept.size else (0, 0)
            if lo < 0 or hi >= C:
                raise ValueError(
                    f"{self.name}: labels must be in [0, {C}) for outputs with {C} classes, got labels from {lo} "
                    f"to {hi}" + (" (the last layer needs more units)" if hi >= C else "")
                )

    def prepare_targets(self, y, dtype):
        y = numpy.asarray(y)
        return y.astype(numpy.int64, copy=False)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class}


class CategoricalCrossentropy(Loss):
    """ℓ_i = −Σ_c t_ic log p_ic for one-hot or probability targets t of the outputs' shape;
    ``label_smoothing`` ε uses t(1 − ε) + ε/C."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy"):
        super().__init__(reduction, name)
        if axis != -1:
            raise NotImplementedError("CategoricalCrossentropy: only axis=-1 is supported")
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), float(label_smoothing), axis

    def call(self, y_true, y_pred, logits=None, kind=None):
        t = _float_targets(y_true, y_pred)
        _check_same(self.name, t, y_pred)
        if self.label_smoothing:
            t = t * (1.0 - self.label_smoothing) + self.label_smoothing / y_pred.shape[-1]
        if self.from_logits or (logits is not None and kind == "softmax"):
            logp = F.log_softmax(y_pred if self.from_logits else logits, -1)
        else:
            p = y_pred / F.sum(y_pred, -1, keepdim=True)
            logp = F.log(_clip_probabilities(p))
        return -F.sum(t * logp, -1)

    def check_targets(self, y, output_shape):
        y = numpy.asarray(y)
        out = tuple(output_shape)
        if y.ndim == len(out) - 1 and out[-1] not in (None, 1):
            raise ValueError(
                f"{self.name} expects one-hot targets of shape (N, {out[-1]}), got integer-like labels of shape "
                f"{y.shape}: use loss='sparse_categorical_crossentropy' or keras.utils.to_categorical(y, {out[-1]})"
            )
        if y.ndim != len(out) or (out[-1] is not None and y.shape[-1] != out[-1]):
            raise ValueError(f"{self.name}: targets of shape {y.shape} do not match the model's outputs of shape "
                             f"{_shape_text(out)}")

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(Loss):
    """ℓ_i = mean over the last axis of −(t log p + (1 − t) log(1 − p)), targets in [0, 1]."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy"):
        super().__init__(reduction, name)
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), float(label_smoothing), axis

    def call(self, y_true, y_pred, logits=None, kind=None):
        t = _float_targets(_match_rank(y_true, y_pred), y_pred)
        _check_same(self.name, t, y_pred)
        if self.label_smoothing:
            t = t * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits or (logits is not None and kind == "sigmoid"):
            z = y_pred if self.from_logits else logits
            values = F.binary_cross_entropy_with_logits(z, t, reduction="none")
        else:
            values = F.binary_cross_entropy(_clip_probabilities(y_pred), t, reduction="none")
        return F.mean(values, -1) if values.ndim > 1 else values

    def check_targets(self, y, output_shape):
        y = numpy.asarray(y)
        out = tuple(output_shape)
        lined = y.shape + (1,) if (y.ndim == len(out) - 1 and out[-1] == 1) else y.shape
        if len(lined) != len(out) or any(o is not None and a != o for a, o in zip(lined[1:], out[1:])):
            raise ValueError(f"{self.name}: targets of shape {y.shape} do not match the model's outputs of shape "
                             f"{_shape_text(out)}")
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"{self.name} expects targets in [0, 1], got values from {y.min()} to {y.max()}")

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class _Regression(Loss):
    def call(self, y_true, y_pred, logits=None, kind=None):
        t = _float_targets(_match_rank(y_true, y_pred), y_pred)
        _check_same(self.name, t, y_pred)
        values = self._elementwise(y_pred - t)
        return F.mean(values, -1) if values.ndim > 1 else values

    def check_targets(self, y, output_shape):
        y = numpy.asarray(y)
        out = tuple(output_shape)
        lined = y.shape + (1,) if (y.ndim == len(out) - 1 and out[-1] == 1) else y.shape
        if len(lined) == len(out) + 1 and lined[-1] == 1:
            lined = lined[:-1]
        if len(lined) != len(out) or any(o is not None and a != o for a, o in zip(lined[1:], out[1:])):
            raise ValueError(f"{self.name}: targets of shape {y.shape} do not match the model's outputs of shape "
                             f"{_shape_text(out)}")


class MeanSquaredError(_Regression):
    """ℓ_i = mean over the last axis of (y − ŷ)²"""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(reduction, name)

    @staticmethod
    def _elementwise(d):
        return d * d


class MeanAbsoluteError(_Regression):
    """ℓ_i = mean over the last axis of |y − ŷ|"""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(reduction, name)

    @staticmethod
    def _elementwise(d):
        return F.abs(d)


class Huber(_Regression):
    """ℓ = ½ d² for |d| ≤ δ, δ(|d| − ½δ) beyond, averaged over the last axis."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(reduction, name)
        self.delta = float(delta)

    def _elementwise(self, d):
        a = F.abs(d)
        quad = F.clamp(a, max=self.delta)
        return 0.5 * quad * quad + self.delta * (a - quad)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class KLDivergence(_Regression):
    """ℓ_i = Σ over the last axis of t · log(t / p), t and p clipped to [ε, 1] (Keras's KL divergence)."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence"):
        super().__init__(reduction, name)

    def call(self, y_true, y_pred, logits=None, kind=None):
        t = _float_targets(_match_rank(y_true, y_pred), y_pred)
        _check_same(self.name, t, y_pred)
        t, p = F.clamp(t, EPSILON, 1.0), F.clamp(y_pred, EPSILON, 1.0)
        return F.sum(t * F.log(t / p), -1)


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _snake(name):
    from .naming import to_snake_case

    return to_snake_case(name)


# ---- functions (one value per sample), Keras's functional forms ----------------------------------
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Per-sample −log p[y_true] for integer labels (y_pred: probabilities, or logits with ``from_logits``)."""
    return SparseCategoricalCrossentropy(from_logits, ignore_class, reduction="none")(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample −Σ y_true · log p for one-hot (or soft) targets along ``axis``."""
    return CategoricalCrossentropy(from_logits, label_smoothing, axis, reduction="none")(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample mean over ``axis`` of −(t log p + (1 − t) log(1 − p))."""
    return BinaryCrossentropy(from_logits, label_smoothing, axis, reduction="none")(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean over the last axis of (y_true − y_pred)²."""
    return MeanSquaredError(reduction="none")(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean over the last axis of |y_true − y_pred|."""
    return MeanAbsoluteError(reduction="none")(y_true, y_pred)


def kl_divergence(y_true, y_pred):
    """Per-sample Σ t · log(t / p) over the last axis."""
    return KLDivergence(reduction="none")(y_true, y_pred)


mse, mae, kld = mean_squared_error, mean_absolute_error, kl_divergence

_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "huber": Huber,
    "huber_loss": Huber,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
}
_CLASSES = {cls.__name__: cls for cls in set(_BY_NAME.values())}
_FUNCTIONS = {
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    kl_divergence: KLDivergence,
}


class _FunctionLoss(Loss):
    """A user function ``fn(y_true, y_pred) -> per-sample values`` used as a loss."""

    def __init__(self, fn):
        super().__init__(name=getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred, logits=None, kind=None):
        return self.fn(y_true, y_pred)


def get(identifier):
    """A Loss from a Keras name, a Loss object, a class, a config dict or a function."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            loss = _BY_NAME[identifier]()
            loss.name = identifier if identifier in ("mse", "mae") else loss.name
            return loss
        raise ValueError(f"Unknown loss {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}")
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]].from_config(identifier.get("config", {}))
    if identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    if callable(identifier):
        return _FunctionLoss(identifier)
    raise ValueError(f"Unknown loss {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}")


def serialize(loss):
    if isinstance(loss, _FunctionLoss):
        raise ValueError(f"cannot save a model compiled with the loss function {loss.name!r}: use a Loss subclass")
    return {"class_name": type(loss).__name__, "config": loss.get_config()}
