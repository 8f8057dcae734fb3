"""The loops behind ``Model.fit``, ``evaluate`` and ``predict``.

    fit:       for each epoch: for each batch: train_step (forward, loss, backward, update)
               then, every ``validation_freq`` epochs, the validation loss and metrics
    evaluate:  for each batch: test_step (forward and loss, no gradients)
    predict:   for each batch: forward in inference mode, outputs gathered as NumPy arrays

Callbacks see each of these points (``keras.callbacks``); logs hold the running means of the
loss and the metrics over the batches so far.
"""

from __future__ import annotations

import numpy

from .. import backend
from ..autograd import no_grad
from . import callbacks as callbacks_module
from .data_adapter import make_batches, split_validation, validation_batches
from .layers.symbolic import map_structure
from .progress import ProgbarLogger, resolve_verbose


def format_logs(model, logs, return_dict):
    """Logs as Keras returns them: a dict, the loss alone, or [loss, metric, ...] in the order of
    ``model.metrics_names`` (then any other logged values)."""
    if return_dict:
        return dict(logs)
    names = [n for n in model.metrics_names if n in logs]
    names += [n for n in logs if n not in names]
    values = [logs[n] for n in names]
    return values[0] if len(values) == 1 else values


def _callback_list(model, callbacks, verbose, params, history=None):
    cbs = list(callbacks or [])
    if verbose:
        cbs.append(ProgbarLogger(verbose))
    if history is not None:
        cbs.append(history)
    return callbacks_module.CallbackList(cbs, model=model, params=dict(params, verbose=verbose))


# ---- fit ---------------------------------------------------------------------------------------
def class_sample_weights(y, class_weight, sample_weight=None):
    """One weight per sample from ``class_weight`` {class: weight} and the labels y (integers, or
    one-hot rows whose largest entry is the class); multiplied into ``sample_weight`` if given."""
    if isinstance(y, (list, tuple, dict)):
        raise ValueError("fit: class_weight is only supported for a model with one output (use sample_weight)")
    labels = numpy.asarray(backend.as_numpy(y))
    if labels.ndim > 1 and labels.shape[-1] > 1:
        labels = labels.argmax(-1)
    labels = labels.reshape(len(labels), -1)[:, 0].astype(numpy.int64)
    missing = sorted(set(numpy.unique(labels).tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ValueError(f"fit: class_weight has no weight for class(es) {missing}")
    table = {int(k): float(v) for k, v in class_weight.items()}
    weights = numpy.array([table[int(c)] for c in labels], dtype="float32")
    return weights if sample_weight is None else weights * numpy.asarray(sample_weight, dtype="float32")


def _check_fit_arguments(batch_size, validation_split):
    batch_size = 32 if batch_size is None else int(batch_size)
    if batch_size < 1:
        raise ValueError(f"fit: batch_size must be positive, got {batch_size}")
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
    return batch_size


def _train_epoch(model, data, cb, steps_per_epoch):
    """One pass over the training batches; the logs of its last batch."""
    logs = {}
    for step, (xs, yb, swb) in enumerate(data):
        if steps_per_epoch is not None and step >= steps_per_epoch:
            break
        cb.on_train_batch_begin(step)
        logs = model._run_step("train_step", xs, yb, swb)
        cb.on_train_batch_end(step, logs)
        if model.stop_training:
            break
    return logs


def _run_epochs(model, data, val, cb, epochs, loop):
    """Epochs ``loop['initial_epoch']`` to ``epochs - 1`` (until a callback stops training)."""
    epoch_logs = {}
    try:
        for epoch in range(loop["initial_epoch"], epochs):
            model.reset_metrics()
            cb.on_epoch_begin(epoch)
            model.train()
            epoch_logs = dict(_train_epoch(model, data, cb, loop["steps_per_epoch"]))
            if val is not None and (epoch + 1) % loop["validation_freq"] == 0:
                val_logs = evaluate_batches(model, val, None, loop["validation_steps"])
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cb.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
    finally:
        model.eval()
    return epoch_logs


def fit(model, x, y, *, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
        class_weight, sample_weight, validation_batch_size, **loop):
    """``Model.fit`` (see there); ``loop`` holds initial_epoch, steps_per_epoch, validation_steps
    and validation_freq."""
    model._assert_compiled("fit")
    verbose = resolve_verbose(verbose)
    batch_size = _check_fit_arguments(batch_size, validation_split)
    if class_weight is not None:
        if y is None:
            raise ValueError("fit: class_weight needs the targets y as an array")
        sample_weight = class_sample_weights(y, class_weight, sample_weight)
    if validation_split and validation_data is None:
        x, y, sample_weight, validation_data = split_validation(model, x, y, sample_weight, validation_split)
    data = make_batches(model, x, y, "fit", batch_size, shuffle, sample_weight, need_y=False)
    val = None
    if validation_data is not None:
        val = validation_batches(model, validation_data, validation_batch_size or batch_size)
    if not model.optimizer.built and any(True for _ in model.parameters()):
        model.optimizer.build(model._trainable_parameters())  # so callbacks see it from the start
    history = callbacks_module.History()
    params = {"epochs": epochs, "steps": loop["steps_per_epoch"] or len(data)}
    cb = _callback_list(model, callbacks, verbose, params, history)
    model.history = history
    model.stop_training = False
    cb.on_train_begin()
    epoch_logs = _run_epochs(model, data, val, cb, epochs, loop)
    cb.on_train_end(epoch_logs)
    return history


# ---- evaluate / predict ------------------------------------------------------------------------
def evaluate_batches(model, data, cb, steps=None):
    """The loss and metrics over ``data`` (at most ``steps`` batches), in inference mode."""
    model.eval()
    model.reset_metrics()
    logs = {}
    for step, (xs, yb, swb) in enumerate(data):
        if steps is not None and step >= steps:
            break
        if cb is not None:
            cb.on_test_batch_begin(step)
        logs = model._run_step("test_step", xs, yb, swb)
        if cb is not None:
            cb.on_test_batch_end(step, logs)
    return logs


def evaluate(model, x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict):
    """``Model.evaluate`` (see there)."""
    model._assert_compiled("evaluate")
    verbose = resolve_verbose(verbose)
    batch_size = 32 if batch_size is None else int(batch_size)
    data = make_batches(model, x, y, "evaluate", batch_size, False, sample_weight)
    cb = _callback_list(model, callbacks, verbose, {"steps": steps or len(data)})
    cb.on_test_begin()
    logs = evaluate_batches(model, data, cb, steps)
    cb.on_test_end(logs)
    return format_logs(model, logs, return_dict)


def _concatenate_outputs(outputs):
    if not outputs:
        raise ValueError("predict: no batches")
    if isinstance(outputs[0], dict):
        return {k: numpy.concatenate([o[k] for o in outputs]) for k in outputs[0]}
    if isinstance(outputs[0], (list, tuple)):
        return [numpy.concatenate([o[i] for o in outputs]) for i in range(len(outputs[0]))]
    return numpy.concatenate(outputs)


def predict(model, x, batch_size, verbose, steps, callbacks):
    """``Model.predict`` (see there)."""
    verbose = resolve_verbose(verbose)
    batch_size = 32 if batch_size is None else int(batch_size)
    data = make_batches(model, x, None, "predict", batch_size, False, need_y=False)
    cb = _callback_list(model, callbacks, verbose, {"steps": steps or len(data)})
    model.eval()
    outputs = []
    cb.on_predict_begin()
    with no_grad():
        for step, (xs, _, _) in enumerate(data):
            if steps is not None and step >= steps:
                break
            cb.on_predict_batch_begin(step)
            out, _, _ = model._run(xs, False)
            outputs.append(map_structure(lambda t: backend.as_numpy(t.array), out))
            cb.on_predict_batch_end(step, {"outputs": outputs[-1]})
    cb.on_predict_end()
    return _concatenate_outputs(outputs)


def train_on_batch(model, x, y, sample_weight, return_dict):
    """One training step on one batch; the loss (and metrics) of that batch."""
    model._assert_compiled("train_on_batch")
    n = len(model._input_arrays(x, "train_on_batch")[0])
    data = make_batches(model, x, y, "train_on_batch", n, False, sample_weight)
    model.reset_metrics()
    model.train()
    try:
        xs, yb, swb = next(iter(data))
        logs = model._run_step("train_step", xs, yb, swb)
    finally:
        model.eval()
    return format_logs(model, logs, return_dict)


def test_on_batch(model, x, y, sample_weight, return_dict):
    """The loss (and metrics) of one batch, without training."""
    model._assert_compiled("test_on_batch")
    n = len(model._input_arrays(x, "test_on_batch")[0])
    data = make_batches(model, x, y, "test_on_batch", n, False, sample_weight)
    return format_logs(model, evaluate_batches(model, data, None), return_dict)
