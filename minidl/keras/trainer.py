"""One training or evaluation step of a Keras ``Model``, written so that a subclass can replace
any part of it as in Keras (a mixin of ``Model``):

    train_step(data)      x, y, sample_weight = data; forward (training mode); loss =
                          compute_loss(x, y, y_pred, sample_weight); backward; optimizer update;
                          returns compute_metrics(...) (a dict of logs)
    test_step(data)       the same without gradients or update
    compute_loss(...)     the compiled loss (per output, weighted) + every ``add_loss`` term and
                          weight penalty (``model.losses``)
    compute_metrics(...)  updates the loss tracker, the compiled metrics and ``add_metric``
                          values; returns ``{name: result}`` for ``model.metrics``

``fit`` and ``evaluate`` call ``train_step`` / ``test_step`` once per batch with ``data`` = x,
(x, y) or (x, y, sample_weight), x and y as Tensors (lists for several inputs or outputs), as
Keras does; an override returns its own logs. The older signature ``train_step(xs, y,
sample_weight)`` returning ``(loss, y_pred)`` still works for subclasses that use it.
"""

from __future__ import annotations

import inspect

from ..autograd import no_grad
from ..tensor import Tensor
from . import metrics as metrics_module


def unpack_x_y_sample_weight(data):
    """``data`` of a step as ``(x, y, sample_weight)`` (Keras's ``keras.utils.unpack_x_y_sample_weight``)."""
    if isinstance(data, tuple):
        if len(data) == 1:
            return data[0], None, None
        if len(data) == 2:
            return data[0], data[1], None
        if len(data) == 3:
            return data
        raise ValueError(f"a step's data must be x, (x,), (x, y) or (x, y, sample_weight); got a tuple of "
                         f"{len(data)}")
    return data, None, None


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    if y is None:
        return x if not isinstance(x, (list, tuple)) else (x,)
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def _is_legacy(method):
    """True for ``train_step(self, xs, y, sample_weight=None)`` (more than one positional argument)."""
    params = [p for p in inspect.signature(method).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(params) > 2


def _float(v):
    if isinstance(v, Tensor):
        v = v.array
    try:
        return metrics_module.MetricValue(float(v))
    except (TypeError, ValueError):
        return v


class Trainer:
    """Mixin of ``keras.Model``: the steps (see the module docstring)."""

    # ---- the trackers ----------------------------------------------------------------------
    def _init_trackers(self):
        object.__setattr__(self, "_loss_tracker", metrics_module.Mean(name="loss"))
        object.__setattr__(self, "_output_loss_trackers", {})
        object.__setattr__(self, "_added_metric_trackers", {})

    @property
    def metrics(self):
        """The metrics ``fit`` resets each epoch and logs: the loss, the compiled metrics, the
        ``add_metric`` values and the Metric objects held as attributes."""
        out = []
        if self._compile_args is not None:
            out.append(self._loss_tracker)
            out += list(self._output_loss_trackers.values())
            out += self.compiled_metrics.metrics
        out += list(self._added_metric_trackers.values())
        for value in self.__dict__.values():
            if isinstance(value, metrics_module.Metric) and not any(value is m for m in out):
                out.append(value)
        return out

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self):
        return {m.name: _float(m.result()) for m in self.metrics}

    # ---- loss and metrics ------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of (y, y_pred) plus ``self.losses`` (a scalar Tensor)."""
        logits, kind = self.__dict__.pop("_pending_logits", (None, None))
        total = None
        if self.compiled_loss is not None and y is not None:
            total = self.compiled_loss(y, y_pred, sample_weight, logits=logits, kind=kind, track=False)
        for term in self.losses:
            total = term if total is None else total + term
        if total is None:
            raise ValueError("No loss to compute: give compile() a loss (e.g. loss='mse') and fit() targets y, use "
                             "add_loss in a layer, or override train_step / compute_loss")
        return total

    def _loss(self, x, y, y_pred, sample_weight, logits=None, kind=None):
        self.__dict__["_pending_logits"] = (logits, kind)
        method = type(self).compute_loss
        kwargs = {"x": x, "y": y, "y_pred": y_pred, "sample_weight": sample_weight}
        if "training" in inspect.signature(method).parameters:
            kwargs["training"] = self.training
        try:
            return self.compute_loss(**kwargs)
        finally:
            self.__dict__.pop("_pending_logits", None)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics (and the ``add_metric`` values); the logs so far."""
        if self.compiled_metrics is not None and y is not None:
            self.compiled_metrics.update_state(y, y_pred, sample_weight)
        for name, value in self._added_metrics():
            tracker = self._added_metric_trackers.get(name)
            if tracker is None:
                tracker = self._added_metric_trackers[name] = metrics_module.Mean(name=name)
            tracker.update_state(value)
        return self.get_metrics_result()

    def _track_loss(self, loss, n):
        self._loss_tracker.update_state(float(loss.array), n)
        if self.compiled_loss is not None:
            for name, value in self.compiled_loss.last_values.items():
                tracker = self._output_loss_trackers.get(name)
                if tracker is None:
                    tracker = self._output_loss_trackers[name] = metrics_module.Mean(name=name)
                tracker.update_state(float(value.array), n)

    # ---- the steps -------------------------------------------------------------------------
    def _inputs_list(self, x):
        if isinstance(x, dict):
            return self._input_arrays(x, "train_step")
        return list(x) if isinstance(x, (list, tuple)) else [x]

    def _forward_and_loss(self, xs, y, sample_weight, training):
        self._clear_call_losses()
        y_pred, logits, kind = self._run(xs, training, want_logits=True)
        x = xs[0] if len(xs) == 1 else list(xs)
        return self._loss(x, y, y_pred, sample_weight, logits, kind), y_pred

    def _update(self, loss):
        if not self.optimizer.built:
            self.optimizer.build(self._trainable_parameters())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def train_step(self, data, *legacy):
        """One update on a batch (see the module docstring); returns the logs."""
        if legacy:  # train_step(xs, y, sample_weight) -> (loss, y_pred), the older signature
            loss, y_pred = self._forward_and_loss(data, legacy[0], legacy[1] if len(legacy) > 1 else None, True)
            self._update(loss)
            return loss, y_pred
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        xs = self._inputs_list(x)
        loss, y_pred = self._forward_and_loss(xs, y, sample_weight, True)
        self._update(loss)
        self._track_loss(loss, len(xs[0]))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data, *legacy):
        """The loss and metrics of a batch without training; returns the logs."""
        with no_grad():
            if legacy:
                return self._forward_and_loss(data, legacy[0], legacy[1] if len(legacy) > 1 else None, False)
            x, y, sample_weight = unpack_x_y_sample_weight(data)
            xs = self._inputs_list(x)
            loss, y_pred = self._forward_and_loss(xs, y, sample_weight, False)
            self._track_loss(loss, len(xs[0]))
            return self.compute_metrics(x, y, y_pred, sample_weight)

    def _run_step(self, which, xs, y, sample_weight):
        """What the loops call per batch: the step (new or older signature) -> logs of floats."""
        step = getattr(self, which)
        if _is_legacy(getattr(type(self), which)):
            loss, y_pred = step(xs, y, sample_weight)
            self._track_loss(loss, len(xs[0]))
            logs = self.compute_metrics(xs, y, y_pred, sample_weight)
        else:
            x = xs[0] if len(xs) == 1 else list(xs)
            logs = step(pack_x_y_sample_weight(x, y, sample_weight))
        if not isinstance(logs, dict):
            raise TypeError(f"{which} must return a dict of logs (name -> value), got {type(logs).__name__}")
        return {k: _float(v) for k, v in logs.items()}
