"""What ``compile`` makes of its ``loss``, ``loss_weights`` and ``metrics`` for a model with one
or several outputs: ``model.compiled_loss`` and ``model.compiled_metrics`` (tf.keras 2's names,
which custom ``train_step`` code still uses).

    loss          one loss for every output, a list (one per output, in order) or a dict by
                  output name; None entries leave an output out of the loss
    loss_weights  a list or dict of the same shape: total = Σ_k w_k · loss_k(y_k, ŷ_k)
    metrics       a list (applied to every output), a list of lists (one list per output) or a
                  dict by output name; with several outputs a metric is logged as "<output>_<name>"

Targets and predictions are matched by position when given as lists, by output name when
given as dicts (the names of the output layers, or the keys of a dict of outputs).
"""

from __future__ import annotations

from ..tensor import Tensor
from . import losses as losses_module
from . import metrics as metrics_module


def _per_output(spec, names, what):
    """``spec`` (one object, a list or a dict) as one entry per output name."""
    if isinstance(spec, dict):
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(f"compile: {what} has keys {sorted(unknown)} that are not outputs of the model; the "
                             f"outputs are {names}")
        return [spec.get(n) for n in names]
    if isinstance(spec, (list, tuple)) and len(names) > 1:
        if len(spec) != len(names):
            raise ValueError(f"compile: {what} has {len(spec)} entries for a model with {len(names)} outputs "
                             f"({names})")
        return list(spec)
    return [spec] * len(names)


def flatten_targets(y, names, what="targets"):
    """Targets or predictions (one array/Tensor, a list or a dict by output name) as a list."""
    if len(names) == 1:
        if isinstance(y, dict):
            if len(y) != 1:
                raise ValueError(f"{what}: a dict with keys {sorted(y)} for a model with one output ({names[0]})")
            return [next(iter(y.values()))]
        if isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "shape"):
            return [y[0]]
        return [y]
    if isinstance(y, dict):
        missing = [n for n in names if n not in y]
        if missing:
            raise ValueError(f"{what}: no entry for output(s) {missing}; the dict has keys {sorted(y)}")
        return [y[n] for n in names]
    if not isinstance(y, (list, tuple)) or len(y) != len(names):
        raise ValueError(f"{what}: the model has {len(names)} outputs ({names}); pass a list of {len(names)} "
                         "arrays or a dict by output name")
    return list(y)


class LossesContainer:
    """``model.compiled_loss``: ``compiled_loss(y_true, y_pred, sample_weight=None,
    regularization_losses=None)`` is the weighted sum of the per-output losses (plus the given
    regularization terms) as a scalar Tensor."""

    def __init__(self, loss, loss_weights, output_names):
        self.output_names = list(output_names)
        specs = _per_output(loss, self.output_names, "loss")
        self.losses = [None if s is None else losses_module.get(s) for s in specs]
        weights = _per_output(loss_weights, self.output_names, "loss_weights") if loss_weights is not None else \
            [1.0] * len(self.output_names)
        self.weights = [1.0 if w is None else float(w) for w in weights]
        if all(loss is None for loss in self.losses):
            raise ValueError("compile: every output's loss is None")
        self.last_values = {}

    @property
    def single(self):
        """The loss when the model has one output (None otherwise)."""
        return self.losses[0] if len(self.losses) == 1 else None

    def value_names(self):
        return [f"{n}_loss" for n, loss in zip(self.output_names, self.losses) if loss is not None] \
            if len(self.losses) > 1 else []

    tracker = None  # the model's "loss" Mean, updated by calls from a custom train_step (tf.keras 2 style)

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None, logits=None, kind=None,
                 track=True):
        ys = flatten_targets(y_true, self.output_names, "loss (targets)")
        ps = flatten_targets(y_pred, self.output_names, "loss (predictions)")
        total, self.last_values = None, {}
        for name, loss, w, y, p in zip(self.output_names, self.losses, self.weights, ys, ps):
            if loss is None:
                continue
            if y is None:
                raise ValueError(f"loss: output {name!r} has a loss but no targets were given for it")
            value = loss(y, p, sample_weight, logits=logits, kind=kind) if len(ps) == 1 else loss(y, p, sample_weight)
            if len(ps) > 1:
                self.last_values[f"{name}_loss"] = value
            term = value * w if w != 1.0 else value
            total = term if total is None else total + term
        for penalty in regularization_losses or []:
            total = total + penalty
        if track and self.tracker is not None:
            self.tracker.update_state(float(total.array), len(ps[0]) if hasattr(ps[0], "__len__") else 1)
        return total


class MetricsContainer:
    """``model.compiled_metrics``: ``update_state(y_true, y_pred, sample_weight=None)`` updates
    every compiled metric with its output; ``metrics`` lists them; ``reset_state()``."""

    def __init__(self, metrics, output_names, losses=None):
        self.output_names = list(output_names)
        multi = len(self.output_names) > 1
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, metrics_module.Metric)) or (callable(metrics) and not isinstance(metrics, type)):
            metrics = [metrics]
        if isinstance(metrics, dict) or (multi and metrics and all(isinstance(m, (list, tuple)) or m is None
                                                                   for m in metrics)):
            per_output = _per_output(metrics, self.output_names, "metrics")
        else:
            per_output = [list(metrics)] * len(self.output_names)
        self.by_output = []  # (output index, metric)
        for i, specs in enumerate(per_output):
            specs = [] if specs is None else specs if isinstance(specs, (list, tuple)) else [specs]
            loss = None if losses is None else losses[i]
            for spec in specs:
                metric = metrics_module.get(spec, loss)
                if multi and len(per_output) > 1 and not isinstance(spec, metrics_module.Metric):
                    metric.name = f"{self.output_names[i]}_{metric.name}"
                self.by_output.append((i, metric))

    @property
    def metrics(self):
        return [m for _, m in self.by_output]

    def update_state(self, y_true, y_pred, sample_weight=None):
        ys = flatten_targets(y_true, self.output_names, "metrics (targets)")
        ps = flatten_targets(y_pred, self.output_names, "metrics (predictions)")
        for i, metric in self.by_output:
            y, p = ys[i], ps[i]
            if y is None:
                continue
            metric.update_state(_detached(y), _detached(p), sample_weight)

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()

    def __iter__(self):
        return iter(self.metrics)

    def __len__(self):
        return len(self.by_output)


def _detached(t):
    return Tensor._make(t.array) if isinstance(t, Tensor) else t
