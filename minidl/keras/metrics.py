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


def _xp(a):
    return backend.get_array_module(a)


def _squeeze_last(y_true, y_pred):
    """Targets (N, 1) against predictions (N,) or the reverse: line them up."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0]
    return y_true, y_pred


class Metric:
    """Base class: a running mean of per-sample values computed by ``values(y_true, y_pred)``."""

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.reset_state()

    def reset_state(self):
        self.total, self.count = 0.0, 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        v = self.values(y_true, y_pred)
        if sample_weight is not None:
            w = _xp(v).asarray(sample_weight, dtype=v.dtype).reshape(v.shape[:1] + (1,) * (v.ndim - 1))
            self.total += float((v * w).sum())
            self.count += float(_xp(v).broadcast_to(w, v.shape).sum())
        else:
            self.total += float(v.sum())
            self.count += int(v.size)

    def values(self, y_true, y_pred):
        raise NotImplementedError

    def result(self):
        return self.total / self.count if self.count else 0.0

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name} result={self.result():.4f}>"


class Mean(Metric):
    """The running (weighted) mean of the values given: ``update_state(values, weight)``."""

    def update_state(self, values, sample_weight=None):
        if sample_weight is None:
            self.total += float(values)
            self.count += 1
        else:
            self.total += float(values) * float(sample_weight)
            self.count += float(sample_weight)


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


class _FunctionMetric(Metric):
    def __init__(self, fn, name=None):
        self.fn = fn
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def values(self, y_true, y_pred):
        out = self.fn(y_true, y_pred)
        return out.array if hasattr(out, "grad_fn") else out


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
