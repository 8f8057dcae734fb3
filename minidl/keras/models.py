"""Models: ``Sequential``, functional ``Model(inputs, outputs)`` and subclassed ``Model``, with
Keras's training API.

    model = keras.models.Sequential([keras.layers.Dense(64, activation='relu', input_shape=(20,)),
                                     keras.layers.Dense(10, activation='softmax')])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    history = model.fit(x, y, epochs=5, batch_size=32, validation_split=0.1)
    model.evaluate(x_test, y_test)          # [loss, accuracy]
    model.predict(x_test)                   # NumPy array
    model.save('model.keras'); keras.models.load_model('model.keras')

One training step (``train_step``): forward in training mode, loss (plus weight penalties),
``loss.backward()``, then the optimizer's update. Batches are moved to the model's device
(``model.to('cuda')`` or ``compile(..., device='cuda')``); on a GPU the whole data set is copied
there once when it fits in a quarter of the free memory, so batches are cut on the device.

Saving and loading (``model.save``, ``save_weights``, ``load_model``) live in ``minidl.keras.saving``.
"""

from __future__ import annotations

import math

import numpy

from .. import backend
from ..autograd import no_grad
from ..tensor import Tensor
from . import callbacks as callbacks_module
from . import losses, optimizers, saving
from . import metrics as metrics_module
from .layers.base import (
    InputLayer,
    KerasTensor,
    Layer,
    _flatten,
    is_shape,
    map_structure,
    normalize_shape,
    shape_str,
    unique_name,
)
from .progress import ProgbarLogger, resolve_verbose


# ---- data --------------------------------------------------------------------------------------
def _to_array(x, what):
    if isinstance(x, Tensor):
        return x.data
    if hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, numpy.ndarray):
        return x  # a CuPy array
    try:
        return numpy.asarray(x)
    except Exception as exc:
        raise TypeError(f"{what}: cannot use a {type(x).__name__} as an array ({exc})") from exc


def _is_batch_iterable(x):
    """A DataLoader, generator or other iterable of batches (not an array or a list of arrays)."""
    if x is None or isinstance(x, (numpy.ndarray, Tensor, list, tuple, dict)) or hasattr(x, "shape"):
        return False
    return hasattr(x, "__iter__")


class _Arrays:
    """Arrays cut into batches, on the model's device."""

    def __init__(self, xs, y, batch_size, shuffle, device, sample_weight=None):
        self.xs, self.y, self.sw = xs, y, sample_weight
        self.n = len(xs[0])
        self.batch_size, self.shuffle = batch_size, shuffle
        self.device = device
        if device.type == "cuda" and self._fits_on_device():
            self.xs = [backend.to_device(a, device) for a in self.xs]
            self.y = None if y is None else backend.to_device(y, device)
            self.sw = None if sample_weight is None else backend.to_device(sample_weight, device)

    def _fits_on_device(self):
        total = sum(a.nbytes for a in self.xs) + (0 if self.y is None else self.y.nbytes)
        try:
            free = backend.require_cuda(self.device).cuda.Device(self.device.index).mem_info[0]
        except Exception:
            return False
        return total < free / 4

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        order = backend.rng_for(backend.CPU).permutation(self.n) if self.shuffle else None
        for start in range(0, self.n, self.batch_size):
            if order is None:
                idx = slice(start, start + self.batch_size)
            else:
                idx = order[start : start + self.batch_size]
                xp = backend.get_array_module(self.xs[0])
                idx = xp.asarray(idx)
            xs = [self._tensor(a[idx]) for a in self.xs]
            y = None if self.y is None else self._tensor(self.y[idx])
            sw = None if self.sw is None else self.sw[idx]
            yield xs, y, sw

    def _tensor(self, a):
        return Tensor._make(backend.to_device(numpy.ascontiguousarray(a) if isinstance(a, numpy.ndarray) else a,
                                              self.device), False)


class _Batches:
    """An iterable of (x, y) or (x, y, sample_weight) batches (e.g. a minidl DataLoader)."""

    def __init__(self, source, model, device, what, need_y=True):
        self.source, self.model, self.device, self.what, self.need_y = source, model, device, what, need_y

    def __len__(self):
        return len(self.source) if hasattr(self.source, "__len__") else None

    def __iter__(self):
        for item in self.source:
            if isinstance(item, (list, tuple)) and len(item) in (2, 3) and not self._is_multi_input(item):
                x, y = item[0], item[1]
                sw = item[2] if len(item) == 3 else None
            else:
                if self.need_y:
                    raise ValueError(f"{self.what}: each batch must be a pair (x, y), got a {type(item).__name__}")
                x, y, sw = item, None, None
            xs = self.model._input_arrays(x, self.what)
            xs = [Tensor._make(backend.to_device(a, self.device), False) for a in xs]
            if y is not None:
                y = Tensor._make(backend.to_device(self.model._target_array(_to_array(y, self.what)), self.device),
                                 False)
            yield xs, y, None if sw is None else _to_array(sw, self.what)

    def _is_multi_input(self, item):
        return not self.need_y and len(self.model._input_names()) == len(item)


# ---- the model ---------------------------------------------------------------------------------
class Model(Layer):
    """A layer with training: ``compile``, ``fit``, ``evaluate``, ``predict``, ``summary``,
    ``save``. ``Model(inputs, outputs)`` builds a functional model from symbolic tensors;
    subclass ``Model`` and define ``call`` for a model written as code."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (len(args) >= 2 or "inputs" in kwargs or "outputs" in kwargs):
            return object.__new__(Functional)
        return object.__new__(cls)

    def __init__(self, *args, name=None, trainable=True, dtype=None, **kwargs):
        if args:
            raise TypeError(f"{type(self).__name__}: unexpected positional arguments; use Model(inputs, outputs) "
                            "for a functional model")
        super().__init__(name=name, trainable=trainable, dtype=dtype, **kwargs)
        self.optimizer = None
        self.loss = None
        self.compiled_loss = None
        self.compiled_metrics = []
        self._compile_args = None
        self.stop_training = False
        self.history = None

    # ---- device ----------------------------------------------------------------------------
    @property
    def device(self):
        for p in self.parameters():
            return p.device
        return backend.Device(self._device) if self._device is not None else backend.CPU

    def to(self, *args, **kwargs):
        out = super().to(*args, **kwargs)
        if self.optimizer is not None:
            self.optimizer.move_state(self.device)
        return out

    # ---- compile ---------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, steps_per_execution=1, jit_compile=None, device=None, **kwargs):
        """Choose the optimizer, the loss and the metrics (Keras names or objects); ``device``
        moves the model there first."""
        if kwargs:
            raise TypeError(f"compile: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        if loss is None:
            raise ValueError(
                "compile: a loss is required, e.g. loss='sparse_categorical_crossentropy'. Valid names: "
                + ", ".join(sorted(losses._BY_NAME))
            )
        if loss_weights is not None or weighted_metrics is not None:
            raise NotImplementedError("compile: loss_weights and weighted_metrics are not supported")
        if device is not None:
            self.to(device)
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self.compiled_loss = losses.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, metrics_module.Metric)) or callable(metrics):
            metrics = [metrics]
        elif isinstance(metrics, dict):
            raise NotImplementedError("compile: metrics as a dict (one list per output) is not supported")
        self.compiled_metrics = [metrics_module.get(m, self.compiled_loss) for m in metrics]
        names = ["loss"] + [m.name for m in self.compiled_metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"compile: metric names must be unique, got {names}")
        self._compile_args = {"optimizer": optimizer, "loss": loss, "metrics": list(metrics)}

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.compiled_metrics]

    def _assert_compiled(self, what):
        if self.compiled_loss is None:
            raise RuntimeError(
                f"You must call compile() before {what}(), e.g. model.compile(optimizer='adam', "
                "loss='sparse_categorical_crossentropy', metrics=['accuracy'])"
            )

    # ---- inputs ----------------------------------------------------------------------------
    def _input_names(self):
        return ["input"]

    def _takes_indices(self, i=0):
        """True when input i goes straight into an Embedding (so integers stay integers)."""
        return False

    def _input_arrays(self, x, what):
        n_inputs = len(self._input_names())
        if n_inputs > 1:
            if not isinstance(x, (list, tuple)) or len(x) != n_inputs:
                raise ValueError(f"{what}: the model has {n_inputs} inputs, pass a list of {n_inputs} arrays")
            xs = [_to_array(a, what) for a in x]
        else:
            if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
                x = x[0]
            xs = [_to_array(x, what)]
        out = []
        for i, a in enumerate(xs):
            kind = a.dtype.kind
            if kind in "iu" and self._takes_indices(i):
                a = a.astype("int64", copy=False)
            elif kind in "iufb":
                a = a.astype(self._dtype, copy=False)
            else:
                raise TypeError(f"{what}: input {i} has dtype {a.dtype}, expected numbers")
            if a.ndim == 0:
                raise ValueError(f"{what}: input {i} is a scalar; expected a batch of samples (an array of N samples)")
            out.append(a)
        return out

    def _target_array(self, y):
        return self.compiled_loss.prepare_targets(y, self._dtype)

    def _check_cardinality(self, xs, y, what):
        sizes = [len(a) for a in xs] + ([] if y is None else [len(y)])
        if len(set(sizes)) > 1:
            raise ValueError(
                f"{what}: data cardinality is ambiguous: x sizes: {', '.join(str(len(a)) for a in xs)}, y sizes: "
                f"{len(y) if y is not None else '-'}. Make sure all arrays contain the same number of samples."
            )
        if sizes[0] == 0:
            raise ValueError(f"{what}: no samples (the arrays are empty)")

    def _ensure_built(self, xs):
        if not self.built:
            shapes = [(None,) + tuple(a.shape[1:]) for a in xs]
            self._build_from(shapes[0] if len(shapes) == 1 else shapes)

    def _build_from(self, input_shape):
        """Built from the first data seen: later data must have the same rank, while sizes may
        change (e.g. sequences of another length); each layer still checks the axes its weights
        depend on."""
        if not self.built:
            self.build(input_shape)
            self._strict_input = False

    def _expected_shapes(self):
        expected = self._build_input_shape
        if expected is None:
            return None
        expected = [expected] if is_shape(expected) else list(expected)
        if getattr(self, "_strict_input", True):
            return expected
        return [(None,) * len(e) for e in expected]  # the rank only; the layers check their own axes

    def build(self, input_shape=None):
        """Subclassed models are built by running them once on zeros of ``input_shape``."""
        if input_shape is None:
            raise ValueError(f'Model "{self.name}": build() needs the input shape')
        if type(self).call is Model.call:
            raise NotImplementedError(f'Model "{self.name}": subclasses of Model must define call()')
        shapes = input_shape if not is_shape(input_shape) else [input_shape]
        dummies = [Tensor._make(backend.array_module_for(self.device).zeros(
            tuple(1 if d is None else d for d in s), self._dtype)) for s in shapes]
        self.built = True
        self._build_input_shape = normalize_shape(input_shape) if is_shape(input_shape) else input_shape
        with no_grad():
            self.call(dummies[0] if len(dummies) == 1 else dummies, **self._call_kwargs(False, None))

    def call(self, inputs, training=None, mask=None):
        raise NotImplementedError(f'Model "{self.name}": subclasses of Model must define call()')

    def _run(self, xs, training, want_logits=False):
        """Forward pass on a list of input Tensors: (outputs, logits, kind) — logits and kind
        only when the model ends in a softmax/sigmoid layer (see Layer.logits)."""
        out = self(xs[0] if len(xs) == 1 else xs, training=training)
        return out, None, None

    def _known_output_shape(self):
        try:
            shape = self.output_shape
        except (AttributeError, NotImplementedError, ValueError):
            return None
        return shape if is_shape(shape) else None

    # ---- one step --------------------------------------------------------------------------
    def _trainable_parameters(self):
        return [p for p in self.parameters()]

    def train_step(self, xs, y, sample_weight=None):
        """One update on a batch: forward (training mode), loss, backward, optimizer step.
        Returns (loss, predictions)."""
        y_pred, logits, kind = self._run(xs, True, want_logits=True)
        loss = self.compiled_loss(y, y_pred, sample_weight, logits=logits, kind=kind)
        for penalty in self.regularization_losses():
            loss = loss + penalty
        if not self.optimizer.built:
            self.optimizer.build(self._trainable_parameters())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss, y_pred

    def test_step(self, xs, y, sample_weight=None):
        with no_grad():
            y_pred, logits, kind = self._run(xs, False, want_logits=True)
            loss = self.compiled_loss(y, y_pred, sample_weight, logits=logits, kind=kind)
            for penalty in self.regularization_losses():
                loss = loss + penalty
        return loss, y_pred

    def _update_metrics(self, tracker, y, y_pred, n, loss, sample_weight=None):
        tracker.update_state(float(loss.data), n)
        if isinstance(y_pred, (list, tuple)):
            y_pred = y_pred[0]
        for m in self.compiled_metrics:
            m.update_state(y.data, y_pred.data, sample_weight)
        logs = {"loss": tracker.result()}
        for m in self.compiled_metrics:
            logs[m.name] = m.result()
        return logs

    def reset_metrics(self):
        for m in self.compiled_metrics:
            m.reset_state()

    # ---- data preparation ------------------------------------------------------------------
    def _prepare_data(self, x, y, what, batch_size, shuffle, sample_weight=None, need_y=True):
        if _is_batch_iterable(x):
            if y is not None:
                raise ValueError(f"{what}: y must be None when x is an iterable of batches (it yields (x, y))")
            if not self.built:
                first = next(iter(x))
                xb = first[0] if isinstance(first, (list, tuple)) and need_y else first
                self._ensure_built(self._input_arrays(xb, what))
            return _Batches(x, self, self.device, what, need_y=need_y)
        if x is None:
            raise ValueError(f"{what}: x is required")
        xs = self._input_arrays(x, what)
        if need_y and y is None:
            raise ValueError(f"{what}: y (the targets) is required when x is an array")
        y_arr = None
        if y is not None:
            y_arr = _to_array(y, what)
            self._check_cardinality(xs, y_arr, what)
        else:
            self._check_cardinality(xs, None, what)
        self._ensure_built(xs)
        self._check_input_arrays(xs)
        if y_arr is not None:
            out_shape = self._known_output_shape()
            if out_shape is not None:
                self.compiled_loss.check_targets(backend.as_numpy(y_arr), out_shape)
            y_arr = self._target_array(y_arr)
        sw = None if sample_weight is None else numpy.asarray(sample_weight, dtype=self._dtype)
        if sw is not None and len(sw) != len(xs[0]):
            raise ValueError(f"{what}: sample_weight has {len(sw)} entries for {len(xs[0])} samples")
        return _Arrays(xs, y_arr, batch_size, shuffle, self.device, sw)

    def _check_input_arrays(self, xs):
        expected = self._expected_shapes()
        if expected is None:
            return
        for i, (a, e) in enumerate(zip(xs, expected)):
            got = tuple(a.shape)
            if len(got) != len(e) or any(d is not None and d != g for d, g in zip(e[1:], got[1:])):
                hint = ""
                if len(got) == len(e) - 1 and e[-1] == 1 and tuple(got[1:]) == tuple(e[1:-1]):
                    hint = " (add the channel axis: x[..., None] or x.reshape(-1, " + ", ".join(
                        str(d) for d in e[1:]) + "))"
                raise ValueError(
                    f'Input {i} of layer "{self.name}" is incompatible with the layer: expected shape='
                    f"{shape_str(e)}, found shape={shape_str(got)}{hint}"
                )

    # ---- fit -------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs (from ``initial_epoch``) on x, y in batches of
        ``batch_size`` (32), shuffled each epoch; returns a ``History``.

        ``validation_split``: the fraction of samples at the end of x, y (taken before
        shuffling) held out and evaluated after each epoch; ``validation_data=(x_val, y_val)``
        instead gives them explicitly. x may also be an iterable of (x, y) batches."""
        self._assert_compiled("fit")
        verbose = resolve_verbose(verbose)
        if class_weight is not None:
            raise NotImplementedError("fit: class_weight is not supported (use sample_weight)")
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"fit: batch_size must be positive, got {batch_size}")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if validation_split and validation_data is None:
            if _is_batch_iterable(x):
                raise ValueError("fit: validation_split needs arrays; pass validation_data with an iterable")
            xs = self._input_arrays(x, "fit")
            y_all = _to_array(y, "fit") if y is not None else None
            n = len(xs[0])
            split = int(n * (1.0 - validation_split))
            if split == 0 or split == n:
                raise ValueError(f"fit: validation_split={validation_split} leaves no training or no validation "
                                 f"samples out of {n}")
            x_val = [a[split:] for a in xs]
            validation_data = (x_val if len(x_val) > 1 else x_val[0], None if y_all is None else y_all[split:])
            x = [a[:split] for a in xs] if len(xs) > 1 else xs[0][:split]
            y = None if y_all is None else y_all[:split]
            if sample_weight is not None:
                sample_weight = numpy.asarray(sample_weight)[:split]
        data = self._prepare_data(x, y, "fit", batch_size, shuffle, sample_weight)
        val = None
        if validation_data is not None:
            if _is_batch_iterable(validation_data):
                val = self._prepare_data(validation_data, None, "fit (validation_data)", batch_size, False)
            else:
                if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
                    raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or an iterable of batches")
                vsw = validation_data[2] if len(validation_data) == 3 else None
                val = self._prepare_data(validation_data[0], validation_data[1], "fit (validation_data)",
                                         validation_batch_size or batch_size, False, vsw)
        if not self.optimizer.built and any(True for _ in self.parameters()):
            self.optimizer.build(self._trainable_parameters())  # so callbacks see it from the start
        steps = steps_per_epoch or len(data)
        history = callbacks_module.History()
        cbs = list(callbacks or [])
        if verbose:
            cbs.append(ProgbarLogger(verbose))
        cbs.append(history)
        cb = callbacks_module.CallbackList(cbs, model=self,
                                           params={"epochs": epochs, "steps": steps, "verbose": verbose})
        self.history = history
        self.stop_training = False
        tracker = metrics_module.Mean()
        cb.on_train_begin()
        epoch_logs = {}
        try:
            for epoch in range(initial_epoch, epochs):
                tracker.reset_state()
                self.reset_metrics()
                cb.on_epoch_begin(epoch)
                self.train()
                logs = {}
                for step, (xs, yb, swb) in enumerate(data):
                    if steps_per_epoch is not None and step >= steps_per_epoch:
                        break
                    cb.on_train_batch_begin(step)
                    loss, y_pred = self.train_step(xs, yb, swb)
                    logs = self._update_metrics(tracker, yb, y_pred, xs[0].shape[0], loss, swb)
                    cb.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                epoch_logs = dict(logs)
                if val is not None and (epoch + 1) % validation_freq == 0:
                    val_logs = self._evaluate_batches(val, None, validation_steps)
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                cb.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
        finally:
            self.eval()
        cb.on_train_end(epoch_logs)
        return history

    # ---- evaluate / predict ----------------------------------------------------------------
    def _evaluate_batches(self, data, cb, steps=None):
        self.eval()
        tracker = metrics_module.Mean()
        self.reset_metrics()
        logs = {}
        for step, (xs, yb, swb) in enumerate(data):
            if steps is not None and step >= steps:
                break
            if cb is not None:
                cb.on_test_batch_begin(step)
            loss, y_pred = self.test_step(xs, yb, swb)
            logs = self._update_metrics(tracker, yb, y_pred, xs[0].shape[0], loss, swb)
            if cb is not None:
                cb.on_test_batch_end(step, logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics on x, y: the loss alone when there are no metrics, else
        [loss, metric, ...] (``return_dict=True``: a dict by name)."""
        self._assert_compiled("evaluate")
        verbose = resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else int(batch_size)
        data = self._prepare_data(x, y, "evaluate", batch_size, False, sample_weight)
        cbs = list(callbacks or []) + ([ProgbarLogger(verbose)] if verbose else [])
        cb = callbacks_module.CallbackList(cbs, model=self, params={"steps": steps or len(data), "verbose": verbose})
        cb.on_test_begin()
        logs = self._evaluate_batches(data, cb, steps)
        cb.on_test_end(logs)
        if return_dict:
            return dict(logs)
        values = [logs.get(name) for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for x, in batches (inference mode), as a NumPy array (a list of
        arrays for a model with several outputs)."""
        verbose = resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else int(batch_size)
        data = self._prepare_data(x, None, "predict", batch_size, False, need_y=False)
        cbs = list(callbacks or []) + ([ProgbarLogger(verbose)] if verbose else [])
        cb = callbacks_module.CallbackList(cbs, model=self, params={"steps": steps or len(data), "verbose": verbose})
        self.eval()
        outputs = []
        cb.on_predict_begin()
        with no_grad():
            for step, (xs, _, _) in enumerate(data):
                if steps is not None and step >= steps:
                    break
                cb.on_predict_batch_begin(step)
                out, _, _ = self._run(xs, False)
                outputs.append(map_structure(lambda t: backend.as_numpy(t.data), out))
                cb.on_predict_batch_end(step, {"outputs": outputs[-1]})
        cb.on_predict_end()
        if not outputs:
            raise ValueError("predict: no batches")
        if isinstance(outputs[0], (list, tuple)):
            return [numpy.concatenate([o[i] for o in outputs]) for i in range(len(outputs[0]))]
        return numpy.concatenate(outputs)

    def train_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """One training step on one batch; returns the loss (and metrics) of that batch."""
        self._assert_compiled("train_on_batch")
        data = self._prepare_data(x, y, "train_on_batch", len(self._input_arrays(x, "train_on_batch")[0]), False,
                                  sample_weight)
        self.reset_metrics()
        self.train()
        try:
            xs, yb, swb = next(iter(data))
            loss, y_pred = self.train_step(xs, yb, swb)
            logs = self._update_metrics(metrics_module.Mean(), yb, y_pred, xs[0].shape[0], loss, swb)
        finally:
            self.eval()
        return self._format_logs(logs, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        self._assert_compiled("test_on_batch")
        data = self._prepare_data(x, y, "test_on_batch", len(self._input_arrays(x, "test_on_batch")[0]), False,
                                  sample_weight)
        logs = self._evaluate_batches(data, None)
        return self._format_logs(logs, return_dict)

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=len(self._input_arrays(x, "predict_on_batch")[0]), verbose=0)

    def _format_logs(self, logs, return_dict):
        if return_dict:
            return dict(logs)
        values = [logs[n] for n in self.metrics_names]
        return values[0] if len(values) == 1 else values

    # ---- summary ---------------------------------------------------------------------------
    def _summary_rows(self):
        rows = []
        for layer in self.layers:
            try:
                shape = shape_str(layer.output_shape)
            except (AttributeError, NotImplementedError, ValueError):
                shape = "?"
            params = layer.count_params() if layer.built else 0
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, params))
        return rows

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Print a table of the layers (name and type), their output shapes and parameter
        counts, then the totals (as Keras; the byte sizes count each weight's dtype)."""
        if not self.built:
            raise ValueError(
                f'Model "{self.name}" has not yet been built. Build it first by calling build(input_shape) or by '
                "calling the model on a batch of data (or give the first layer an input_shape)."
            )
        print_fn = print_fn or print
        rows = self._summary_rows()
        w_layer = max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 3
        w_shape = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 3
        w_params = max([len("Param #")] + [len(f"{r[2]:,}") for r in rows]) + 1
        if line_length is not None:
            w_layer = max(w_layer, line_length - w_shape - w_params - 1)
        width = 1 + w_layer + w_shape + w_params
        lines = [f'Model: "{self.name}"', "_" * width,
                 " " + "Layer (type)".ljust(w_layer) + "Output Shape".ljust(w_shape) + "Param #".rjust(w_params),
                 "=" * width]
        for i, (name, shape, params) in enumerate(rows):
            lines.append(" " + name.ljust(w_layer) + shape.ljust(w_shape) + f"{params:,}".rjust(w_params))
            if i < len(rows) - 1:
                lines.append("")
        lines.append("=" * width)
        trainable = sum(math.prod(w.shape) for w in self.trainable_weights)
        total = sum(math.prod(w.shape) for w in self.weights)
        t_bytes = sum(math.prod(w.shape) * w.dtype.itemsize for w in self.trainable_weights)
        all_bytes = sum(math.prod(w.shape) * w.dtype.itemsize for w in self.weights)
        lines += [f"Total params: {total:,} ({_size(all_bytes)})",
                  f"Trainable params: {trainable:,} ({_size(t_bytes)})",
                  f"Non-trainable params: {total - trainable:,} ({_size(all_bytes - t_bytes)})",
                  "_" * width]
        for line in lines:
            print_fn(line)

    def get_layer(self, name=None, index=None):
        """A layer by name or by position."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range for {len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[lay.name for lay in layers]}")

    # ---- saving (minidl.keras.saving) ------------------------------------------------------
    def save_weights(self, filepath, overwrite=True):
        """Write the weights (Keras's layouts and order) to a ``.npz`` file, atomically."""
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Read weights written by ``save_weights`` (or from a ``save``d model file) into this
        model (matched by order; shapes must agree)."""
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def get_config(self):
        raise NotImplementedError(
            f'Model "{self.name}" is a subclassed model: it cannot describe itself as a config, so save() is not '
            "available; use save_weights() and rebuild the model in code"
        )

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Write the model (architecture as JSON, weights as .npz, compile arguments) to one zip
        archive, atomically. ``keras.models.load_model`` reads it."""
        saving.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    # ---- representation --------------------------------------------------------------------
    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _size(n_bytes):
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.2f} {unit}"
    return f"{n_bytes:.2f} B"


# ---- Sequential --------------------------------------------------------------------------------
class Sequential(Model):
    """Layers applied one after the other: ``Sequential([layer, ...])`` or ``.add(layer)``.

    The input shape comes from the first layer's ``input_shape=``, a leading ``keras.Input``,
    ``build(input_shape)`` or the first data seen; until then the layers have no weights."""

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._layer_list = []
        self._declared_input_shape = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._layer_list)

    def add(self, layer):
        """Append a layer (or set the input with a ``keras.Input``)."""
        if isinstance(layer, KerasTensor):
            if layer.node is None or not isinstance(layer.node.layer, InputLayer):
                raise ValueError("Sequential.add: only a keras.Input(...) tensor can be added, not the output of a "
                                 "layer (use the functional API for graphs)")
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._layer_list:
                raise ValueError("Sequential: an Input must come before the other layers")
            self._declared_input_shape = layer._batch_input_shape
            self._input_dtype = layer.input_dtype
            self.build(self._declared_input_shape) if self._layer_list else None
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a keras layer, got {type(layer).__name__}")
        if any(existing.name == layer.name for existing in self._layer_list):
            raise ValueError(f'Sequential: all layers must have unique names; "{layer.name}" is already in the model')
        if not self._layer_list and self._declared_input_shape is None and layer._batch_input_shape is not None:
            self._declared_input_shape = layer._batch_input_shape
        self._layer_list.append(layer)
        layer._set_device(self._device)
        self.add_module(layer.name, layer)
        self.built = False
        if self._declared_input_shape is not None:
            self.build(self._declared_input_shape)

    def pop(self):
        """Remove the last layer."""
        if not self._layer_list:
            raise IndexError("Sequential.pop: there are no layers")
        layer = self._layer_list.pop()
        delattr(self, layer.name)
        if self._layer_list and self._build_input_shape is not None:
            self.built = False
            self.build(self._build_input_shape)
        return layer

    def _takes_indices(self, i=0):
        return bool(self._layer_list) and getattr(self._layer_list[0], "accepts_indices", False)

    def build(self, input_shape=None):
        if input_shape is None:
            input_shape = self._declared_input_shape
        if input_shape is None:
            raise ValueError(f'Sequential "{self.name}": build() needs an input shape')
        if not self._layer_list:
            raise ValueError(f'Sequential "{self.name}" has no layers')
        shape = normalize_shape(input_shape)
        for i, layer in enumerate(self._layer_list):
            if not layer.built:
                layer._build_from(shape)
            layer._check_input(shape)
            out = layer.compute_output_shape(shape)
            layer._output_shape = out
            if not is_shape(out) and i < len(self._layer_list) - 1:
                raise ValueError(
                    f'Sequential: layer "{layer.name}" returns several tensors ({shape_str(out)}), which only the last '
                    "layer of a Sequential may do (use the functional API)"
                )
            shape = out
        self._build_input_shape = normalize_shape(input_shape)
        self._output_shape = shape
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = normalize_shape(input_shape)
        for layer in self._layer_list:
            shape = layer.compute_output_shape(shape)
        return shape

    def _check_input(self, shape):
        if self._build_input_shape is None or not is_shape(shape):
            return
        expected = self._expected_shapes()[0]
        if len(shape) != len(expected) or any(e is not None and e != g for e, g in zip(expected[1:], shape[1:])):
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected shape={shape_str(expected)}, '
                f"found shape={shape_str(tuple(shape))}"
            )

    def call(self, inputs, training=None, mask=None):
        out, _, _ = self._forward(inputs, training, mask, False)
        return out

    def _forward(self, x, training, mask, want_logits):
        layers = self._layer_list
        for i, layer in enumerate(layers):
            if want_logits and i == len(layers) - 1:
                out, z, kind = layer._call_logits(x, training=training, mask=mask)
                return out, z, kind
            y = layer(x, training=training, mask=mask)
            mask = layer.compute_mask(x, mask)
            x = y
        return x, None, None

    def _run(self, xs, training, want_logits=False):
        inputs, training = self._prepare(xs[0], training)
        return self._forward(inputs, training, None, want_logits)

    def get_config(self):
        layers = [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self._layer_list]
        return {"name": self.name, "layers": layers,
                "build_input_shape": None if self._build_input_shape is None else list(self._build_input_shape)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        layers = [saving.layer_from_config(c, custom_objects) for c in config["layers"]]
        model = cls(layers, name=config.get("name"))
        if config.get("build_input_shape") is not None and not model.built:
            model.build(tuple(config["build_input_shape"]))
        return model


# ---- functional models -------------------------------------------------------------------------
class Functional(Model):
    """A model made of the layer calls between ``inputs`` (``keras.Input`` tensors) and
    ``outputs``: ``keras.Model(inputs, outputs)``."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name or unique_name("functional"), trainable=trainable, **kwargs)
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.inputs = [t for t in _flatten(inputs)]
        self.outputs = [t for t in _flatten(outputs)]
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model: inputs and outputs must be keras tensors (from keras.Input), got {t!r}")
        for t in self.inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(f"Model: every input must come from keras.Input, got {t!r}")
        self._nodes = self._topological_nodes()
        reached = {id(t.node) for t in self.inputs}
        used_inputs = {id(n) for n in self._all_nodes if isinstance(n.layer, InputLayer)}
        missing = used_inputs - reached
        if missing:
            raise ValueError("Model: the outputs depend on a keras.Input that is not among the model's inputs")
        seen = {}
        for node in self._nodes:
            layer = node.layer
            if layer.name in seen and seen[layer.name] is not layer:
                raise ValueError(f'Model: two different layers are named "{layer.name}"; layer names must be unique')
            if layer.name not in seen:
                seen[layer.name] = layer
                self.add_module(layer.name, layer)
        self._layer_list = list(seen.values())
        shapes = [t.shape for t in self.inputs]
        self._build_input_shape = shapes[0] if len(shapes) == 1 else shapes
        out_shapes = [t.shape for t in self.outputs]
        self._output_shape = out_shapes[0] if len(out_shapes) == 1 else out_shapes
        self.built = True

    def _topological_nodes(self):
        order, state = [], {}
        stack = [(t.node, False) for t in reversed(self.outputs)]
        while stack:
            node, expanded = stack.pop()
            key = id(node)
            if expanded:
                if state.get(key) != "done":
                    state[key] = "done"
                    order.append(node)
                continue
            if state.get(key) == "done":
                continue
            if state.get(key) == "open":
                continue
            state[key] = "open"
            stack.append((node, True))
            for t in reversed(node.input_tensors):
                if state.get(id(t.node)) != "done":
                    stack.append((t.node, False))
        self._all_nodes = order
        return [n for n in order if not isinstance(n.layer, InputLayer)]

    @property
    def layers(self):
        return list(self._layer_list)

    def _input_names(self):
        return [t.node.layer.name for t in self.inputs]

    def _takes_indices(self, i=0):
        t = self.inputs[i]
        if t.dtype.startswith(("int", "uint")):
            return True
        return any(getattr(n.layer, "accepts_indices", False) and any(a is t for a in n.input_tensors)
                   for n in self._nodes)

    def _check_input(self, shape):
        got = [shape] if is_shape(shape) else list(shape)
        exp = self._expected_shapes()
        for i, (e, g) in enumerate(zip(exp, got)):
            if len(g) != len(e) or any(d is not None and d != s for d, s in zip(e[1:], g[1:])):
                raise ValueError(f'Input {i} of layer "{self.name}" is incompatible with the layer: expected shape='
                                 f"{shape_str(e)}, found shape={shape_str(tuple(g))}")

    def call(self, inputs, training=None, mask=None):
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        out, _, _ = self._execute(xs, training, False)
        return out

    def _run(self, xs, training, want_logits=False):
        inputs, training = self._prepare(xs[0] if len(xs) == 1 else list(xs), training)
        xs = inputs if isinstance(inputs, list) else [inputs]
        return self._execute(xs, training, want_logits)

    def _execute(self, xs, training, want_logits):
        if len(xs) != len(self.inputs):
            raise ValueError(f'Model "{self.name}" expects {len(self.inputs)} input(s), got {len(xs)}')
        values, masks = {}, {}
        for t, x in zip(self.inputs, xs):
            if self._takes_indices(self.inputs.index(t)) and x.dtype.kind == "f":
                x = Tensor._make(x.data.astype("int64"), False)
            values[id(t)] = x
            masks[id(t)] = None
        single_out = len(self.outputs) == 1
        logits = kind = None
        for node in self._nodes:
            def resolve(v):
                return values[id(v)] if isinstance(v, KerasTensor) else v

            args = map_structure(resolve, node.args)
            kwargs = map_structure(resolve, node.kwargs)
            first = node.args[0]
            mask = masks.get(id(first)) if isinstance(first, KerasTensor) else None
            is_last = single_out and node.outputs is self.outputs[0] and len(node.args) == 1 and not node.kwargs
            if want_logits and is_last:
                out, logits, kind = node.layer._call_logits(args[0], training=training, mask=mask)
            else:
                out = node.layer(*args, training=training, mask=mask, **kwargs)
            outs = node.outputs if isinstance(node.outputs, list) else [node.outputs]
            got = out if isinstance(out, (list, tuple)) and isinstance(node.outputs, list) else [out]
            out_mask = node.layer.compute_mask(args[0], mask) if is_shape(node.outputs[0].shape
                                                                           if isinstance(node.outputs, list)
                                                                           else node.outputs.shape) else None
            for kt, v in zip(outs, got):
                values[id(kt)] = v
                masks[id(kt)] = out_mask if len(outs) == 1 else None
        result = map_structure(lambda t: values[id(t)], self._outputs_struct)
        return result, logits, kind

    def get_config(self):
        layer_configs, seen = [], set()
        for node in self._all_nodes:
            layer = node.layer
            if id(layer) not in seen:
                seen.add(id(layer))
                layer_configs.append({"class_name": type(layer).__name__, "config": layer.get_config()})
        node_index = {}
        counts = {}
        for node in self._all_nodes:
            node_index[id(node)] = counts.get(node.layer.name, 0)
            counts[node.layer.name] = node_index[id(node)] + 1

        def ref(t):
            if isinstance(t, KerasTensor):
                return {"__keras_tensor__": [t.node.layer.name, node_index[id(t.node)], t.index]}
            if isinstance(t, (numpy.ndarray, Tensor)):
                raise ValueError(f'Model "{self.name}": a layer call has an array argument, which cannot be saved')
            return t

        nodes = [{"layer": n.layer.name, "args": map_structure(ref, list(n.args)),
                  "kwargs": map_structure(ref, n.kwargs)} for n in self._nodes]
        return {
            "name": self.name,
            "layers": layer_configs,
            "nodes": nodes,
            "inputs": map_structure(ref, self._inputs_struct),
            "outputs": map_structure(ref, self._outputs_struct),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        layers = {}
        produced = {}
        for c in config["layers"]:
            layer = saving.layer_from_config(c, custom_objects)
            layers[layer.name] = layer
            if isinstance(layer, InputLayer):
                produced[(layer.name, 0)] = layer.output

        def resolve(v):
            if isinstance(v, dict) and "__keras_tensor__" in v:
                name, node_i, tensor_i = v["__keras_tensor__"]
                out = produced[(name, node_i)]
                return out[tensor_i] if isinstance(out, list) else out
            if isinstance(v, dict):
                return {k: resolve(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return type(v)(resolve(x) for x in v)
            return v

        counts = {}
        for n in config["nodes"]:
            layer = layers[n["layer"]]
            args = resolve(n["args"])
            kwargs = resolve(n["kwargs"])
            out = layer(*args, **kwargs)
            i = counts.get(layer.name, 0)
            counts[layer.name] = i + 1
            produced[(layer.name, i)] = out
        inputs = resolve(config["inputs"])
        outputs = resolve(config["outputs"])
        return cls(inputs, outputs, name=config.get("name"))

    def _summary_rows(self):
        rows = []
        for t in self.inputs:
            layer = t.node.layer
            rows.append((f"{layer.name} (InputLayer)", shape_str(layer._batch_input_shape), 0))
        return rows + super()._summary_rows()


# Loading and cloning live in minidl.keras.saving; keras.models is their public address.
clone_model = saving.clone_model
load_model = saving.load_model
model_from_config = saving.model_from_config
save_model = saving.save_model
