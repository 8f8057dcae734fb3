"""Metrics: running averages over the batches of an epoch (or of an evaluation).

``update_state(y_true, y_pred)`` takes arrays (NumPy or CuPy) and accumulates a sum and a count
on the host; ``result()`` is their ratio; ``reset_state()`` starts again. ``'accuracy'`` in
``compile`` becomes the accuracy that fits the loss, as in Keras:
sparse_categorical_crossentropy -> SparseCategoricalAccuracy, categorical_crossentropy ->
CategoricalAccuracy, binary_crossentropy -> BinaryAccuracy (threshold 0.5, or 0 on logits when
the loss has ``from_logits=True``), anything else -> Accuracy (exact equality).
"""

from __future__ import annotations

from .. import backend
from ..tensor import Tensor


def _xp(a):
    return backend.get_array_module(a)


def _data(x):
    """A Tensor, Variable, NumPy/CuPy array, list or number as an array (never a graph node)."""
    if isinstance(x, Tensor):
        return x.array
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return x
    import numpy

    return numpy.asarray(x)


def _squeeze_last(y_true, y_pred):
    """Targets (N, 1) against predictions (N,) or the reverse: line them up."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0]
    return y_true, y_pred


class MetricValue(float):
    """What ``result()`` returns: a Python float that also has ``numpy()`` (as a TF scalar does)."""

    def numpy(self):
        import numpy

        return numpy.float32(self)


def _value(v):
    if isinstance(v, Tensor):
        v = v.array
    if hasattr(v, "shape") and getattr(v, "size", 1) != 1:
        return v
    return MetricValue(float(v))


class Metric:
    """Base class, as Keras's: ``update_state(y_true, y_pred, sample_weight=None)`` accumulates,
    ``result()`` is the value so far, ``reset_state()`` starts again, and calling the metric
    does ``update_state`` then returns ``result()``. The built-in metrics keep a running mean of
    per-sample values computed by ``values(y_true, y_pred)``; a subclass may instead keep its own
    state in weights made by ``add_weight`` (reset to their initial values by ``reset_state``)."""

    def __init__(self, name=None, dtype=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"
        self._state_weights = []
        self.total, self.count = 0.0, 0

    def add_weight(self, name=None, shape=(), initializer="zeros", dtype=None, **kwargs):
        """A state variable of this metric (a non-trainable ``keras.Variable``)."""
        from . import initializers
        from .variables import Variable

        shape = tuple(int(d) for d in (shape or ()))
        init = initializers.get(initializer)
        value = init(shape, dtype or self.dtype, None)
        v = Variable(value, requires_grad=False, name=name or f"variable_{len(self._state_weights)}",
                     path=f"{self.name}/{name}")
        self._state_weights.append((v, value.array.copy()))
        return v

    @property
    def variables(self):
        return [v for v, _ in getattr(self, "_state_weights", [])]

    def reset_state(self):
        self.total, self.count = 0.0, 0
        for v, initial in getattr(self, "_state_weights", []):
            v.assign(initial)

    reset_states = reset_state

    def update_state(self, y_true, y_pred, sample_weight=None):
        v = self.values(_data(y_true), _data(y_pred))
        if sample_weight is not None:
            w = _xp(v).asarray(_data(sample_weight), dtype=v.dtype).reshape(v.shape[:1] + (1,) * (v.ndim - 1))
            self.total += float((v * w).sum())
            self.count += float(_xp(v).broadcast_to(w, v.shape).sum())
        else:
            self.total += float(v.sum())
            self.count += int(v.size)

    def values(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__}: define update_state and result (or values)")

    def result(self):
        return MetricValue(self.total / self.count if self.count else 0.0)

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return _value(self.result())

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        try:
            shown = f"{float(self.result()):.4f}"
        except (TypeError, ValueError):
            shown = "?"
        return f"<{type(self).__name__} name={self.name} result={shown}>"


class Mean(Metric):
    """The running (weighted) mean of all the values given: ``update_state(values, sample_weight)``."""

    def update_state(self, values, sample_weight=None):
        v = _data(values)
        xp = _xp(v)
        v = xp.asarray(v, dtype="float64")
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += int(v.size)
        else:
            w = xp.broadcast_to(xp.asarray(_data(sample_weight), dtype="float64"), v.shape) if v.ndim else \
                xp.asarray(_data(sample_weight), dtype="float64")
            self.total += float((v * w).sum())
            self.count += float(w.sum())


class Sum(Metric):
    """The running sum of the values given."""

    def update_state(self, values, sample_weight=None):
        v = _xp(_data(values)).asarray(_data(values), dtype="float64")
        if sample_weight is not None:
            v = v * _xp(v).asarray(_data(sample_weight), dtype="float64")
        self.total += float(v.sum())

    def result(self):
        return MetricValue(self.total)


class MeanMetricWrapper(Metric):
    """A metric from a function ``fn(y_true, y_pred) -> per-sample values``, averaged."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn, self._fn_kwargs = fn, kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"), dtype)

    def values(self, y_true, y_pred):
        out = self._fn(Tensor._make(y_true), Tensor._make(y_pred), **self._fn_kwargs)
        return _data(out)


class Accuracy(Metric):
    """Share of predictions exactly equal to their targets."""

    def values(self, y_true, y_pred):
        y_true, y_pred = _squeeze_last(y_true, y_pred)
        return (y_true == y_pred).astype("float32")


class SparseCategoricalAccuracy(Metric):
    """Share of rows whose largest score is at the integer label."""

    def values(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        return (y_pred.argmax(axis=-1) == y_true.astype("int64")).astype("float32")


class CategoricalAccuracy(Metric):
    """Share of rows whose largest score is where the one-hot target is largest."""

    def values(self, y_true, y_pred):
        return (y_pred.argmax(axis=-1) == y_true.argmax(axis=-1)).astype("float32")


class BinaryAccuracy(Metric):
    """Share of outputs on the right side of ``threshold`` (0.5 for probabilities)."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        self.threshold = threshold
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        y_true, y_pred = _squeeze_last(y_true, y_pred)
        return ((y_pred > self.threshold) == (y_true > 0.5)).astype("float32")

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class SparseTopKCategoricalAccuracy(Metric):
    """Share of rows whose label is among the k largest scores."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        self.k = k
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        xp = _xp(y_pred)
        label_score = xp.take_along_axis(y_pred, y_true.astype("int64")[..., None], axis=-1)  # (N, 1)
        return ((y_pred > label_score).sum(axis=-1) < self.k).astype("float32")

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class MeanSquaredError(Metric):
    """Mean of (y − ŷ)²."""

    def values(self, y_true, y_pred):
        y_true, y_pred = _squeeze_last(y_true, y_pred)
        d = y_pred - y_true.astype(y_pred.dtype)
        return d * d


class MeanAbsoluteError(Metric):
    """Mean of |y − ŷ|."""

    def values(self, y_true, y_pred):
        y_true, y_pred = _squeeze_last(y_true, y_pred)
        return abs(y_pred - y_true.astype(y_pred.dtype))


class _FunctionMetric(MeanMetricWrapper):
    """A user function used as a metric."""


def _snake(name):
    from .naming import to_snake_case

    return to_snake_case(name)


_BY_NAME = {
    "accuracy": None,  # chosen from the loss
    "acc": None,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
}
_CLASSES = {c.__name__: c for c in set(_BY_NAME.values()) if c is not None}
_CLASSES.update({"Accuracy": Accuracy})


def get(identifier, loss=None):
    """A Metric from a Keras name, an object, a class or a function ``fn(y_true, y_pred)``.
    'accuracy' / 'acc' pick the accuracy that fits ``loss`` (see the module docstring)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"Unknown metric {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}")
        cls = _BY_NAME[identifier]
        if cls is None:
            return _accuracy_for(loss, identifier)
        metric = cls()
        metric.name = identifier
        return metric
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]](**identifier.get("config", {}))
    if callable(identifier):
        return _FunctionMetric(identifier)
    raise ValueError(f"Unknown metric {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}")


def _accuracy_for(loss, name):
    from . import losses

    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy(name=name)
    if isinstance(loss, losses.CategoricalCrossentropy):
        return CategoricalAccuracy(name=name)
    if isinstance(loss, losses.BinaryCrossentropy):
        return BinaryAccuracy(name=name, threshold=0.0 if loss.from_logits else 0.5)
    return Accuracy(name=name)


def serialize(metric):
    if isinstance(metric, _FunctionMetric):
        raise ValueError(f"cannot save a model compiled with the metric function {metric.name!r}")
    return {"class_name": type(metric).__name__, "config": metric.get_config()}
