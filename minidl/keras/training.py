"""The Keras ``Model``: a layer with training (``compile``, ``fit``, ``evaluate``, ``predict``),
``summary`` and saving. ``Sequential`` (``keras.sequential``) and the functional
``Model(inputs, outputs)`` (``keras.functional_model``) are its subclasses; a subclassed
``Model`` defines ``call``.

One training step (``train_step``): forward in training mode, loss (plus weight penalties),
``loss.backward()``, then the optimizer's update. Batches are moved to the model's device
(``model.to('cuda')`` or ``compile(..., device='cuda')``). The loops over batches are in
``keras.training_loop``, the data handling in ``keras.data_adapter``, saving in ``keras.saving``.
"""

from __future__ import annotations

from .. import backend
from ..autograd import no_grad
from ..tensor import Tensor
from . import optimizers, saving, summary, training_loop
from .compile_utils import LossesContainer, MetricsContainer, flatten_targets
from .data_adapter import to_array
from .layers.base import LAYER_CLASSES, Layer
from .layers.shapes import is_shape, normalize_shape, shape_str
from .layers.symbolic import has_symbolic
from .trainer import Trainer

_FUNCTIONAL_SUBCLASSES: dict = {}


def _metric_specs(metrics, container):
    """The metrics as compile() got them when that is one flat list (what saving records)."""
    if metrics is None:
        return []
    if isinstance(metrics, (list, tuple)) and len(metrics) == len(container):
        return list(metrics)
    return list(container.metrics) if len(container.output_names) == 1 else None


class Model(Trainer, Layer):
    """A layer with training: ``compile``, ``fit``, ``evaluate``, ``predict``, ``summary``,
    ``save``. ``Model(inputs, outputs)`` builds a functional model from symbolic tensors;
    subclass ``Model`` and define ``call`` for a model written as code."""

    def __new__(cls, *args, **kwargs):
        functional = LAYER_CLASSES["Functional"]  # registered by name, so this module need not import it
        inputs = args[0] if args else kwargs.get("inputs")
        outputs = args[1] if len(args) > 1 else kwargs.get("outputs")
        if not issubclass(cls, (functional, LAYER_CLASSES["Sequential"])) and has_symbolic(inputs) and \
                has_symbolic(outputs):
            if cls is Model:
                return object.__new__(functional)
            # a subclass of Model built as Subclass(inputs, outputs): a functional model with the
            # subclass's methods (its train_step, its metrics), as in Keras
            if cls not in _FUNCTIONAL_SUBCLASSES:
                _FUNCTIONAL_SUBCLASSES[cls] = type(cls.__name__, (cls, functional), {"__module__": cls.__module__})
            return object.__new__(_FUNCTIONAL_SUBCLASSES[cls])
        return object.__new__(cls)

    def __init__(self, *args, name=None, trainable=True, dtype=None, **kwargs):
        if args:
            raise TypeError(f"{type(self).__name__}: unexpected positional arguments; use Model(inputs, outputs) "
                            "for a functional model")
        super().__init__(name=name, trainable=trainable, dtype=dtype, **kwargs)
        self.optimizer = None
        self.loss = None
        self.compiled_loss = None
        self.compiled_metrics = None
        self._compile_args = None
        self._init_trackers()
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
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=None, steps_per_execution=1, jit_compile=None, device=None, **kwargs):
        """Choose the optimizer, the loss(es) and the metrics (Keras names or objects; lists or
        dicts by output name for a model with several outputs, see ``keras.compile_utils``);
        ``device`` moves the model there first. Without a loss, training minimises the
        ``add_loss`` terms (or what an overridden ``train_step`` / ``compute_loss`` computes)."""
        if kwargs:
            raise TypeError(f"compile: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        if weighted_metrics is not None:
            raise NotImplementedError("compile: weighted_metrics is not supported (metrics take sample_weight)")
        if device is not None:
            self.to(device)
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        names = self._output_names()
        self.compiled_loss = None if loss is None else LossesContainer(loss, loss_weights, names)
        self.compiled_metrics = MetricsContainer(metrics, names, None if loss is None else self.compiled_loss.losses)
        self._init_trackers()
        if self.compiled_loss is not None:
            self.compiled_loss.tracker = self._loss_tracker
        self._compile_args = {"optimizer": optimizer, "loss": loss, "loss_weights": loss_weights,
                              "metrics": _metric_specs(metrics, self.compiled_metrics)}
        taken = self.metrics_names
        if len(set(taken)) != len(taken):
            raise ValueError(f"compile: metric names must be unique, got {taken}")

    def _output_names(self):
        return ["output"]

    def _assert_compiled(self, what):
        if self._compile_args is None:
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
        if isinstance(x, dict):
            names = self._input_names()
            missing = [n for n in names if n not in x]
            if missing or len(x) != n_inputs:
                raise ValueError(f"{what}: the model's inputs are {names}; the dict has keys {sorted(x)}")
            x = [x[n] for n in names]
        if n_inputs > 1:
            if not isinstance(x, (list, tuple)) or len(x) != n_inputs:
                raise ValueError(f"{what}: the model has {n_inputs} inputs, pass a list of {n_inputs} arrays")
            xs = [to_array(a, what) for a in x]
        else:
            if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
                x = x[0]
            xs = [to_array(x, what)]
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

    def _target_list(self, y, what):
        """Targets (an array, a list or a dict by output name) as one array per output (None
        where an output has no targets), each in the layout its loss wants."""
        names = self._output_names()
        ys = flatten_targets(y, names, what)
        losses = self.compiled_loss.losses if self.compiled_loss is not None else [None] * len(names)
        out = []
        for loss, t in zip(losses, ys):
            if t is None:
                out.append(None)
                continue
            a = to_array(t, what)
            out.append(loss.prepare_targets(a, self._dtype) if loss is not None else a.astype(self._dtype, copy=False)
                       if a.dtype.kind == "f" else a)
        return out

    def _check_cardinality(self, xs, y, what):
        ys = [] if y is None else [t for t in (y if isinstance(y, list) else [y]) if t is not None]
        sizes = [len(a) for a in xs] + [len(t) for t in ys]
        if len(set(sizes)) > 1:
            raise ValueError(
                f"{what}: data cardinality is ambiguous: x sizes: {', '.join(str(len(a)) for a in xs)}, y sizes: "
                f"{', '.join(str(len(t)) for t in ys) or '-'}. Make sure all arrays contain the same number of "
                "samples."
            )
        if sizes[0] == 0:
            raise ValueError(f"{what}: no samples (the arrays are empty)")

    def _ensure_built(self, xs):
        if not self.built and type(self).call is Model.call:
            self.built = True  # a model trained by its own train_step alone (e.g. a VAE of two models)
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

    def _known_output_shapes(self):
        """One shape per output (None where unknown), or None."""
        try:
            shape = self.output_shape
        except (AttributeError, NotImplementedError, ValueError):
            return None
        if is_shape(shape):
            return [shape]
        if isinstance(shape, dict):
            shape = [shape.get(n) for n in self._output_names()]
        shapes = [s if is_shape(s) else None for s in shape]
        return shapes if len(shapes) == len(self._output_names()) else None

    def _known_output_shape(self):
        try:
            shape = self.output_shape
        except (AttributeError, NotImplementedError, ValueError):
            return None
        return shape if is_shape(shape) else None

    # ---- one step (the steps themselves are in keras.trainer) ----------------------------
    def _trainable_parameters(self):
        return list(self.parameters())

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

    # ---- fit / evaluate / predict (minidl.keras.training_loop) --------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs (from ``initial_epoch``) on x, y in batches of
        ``batch_size`` (32), shuffled each epoch; returns a ``History``.

        ``validation_split``: the fraction of samples at the end of x, y (taken before
        shuffling) held out and evaluated after each epoch; ``validation_data=(x_val, y_val)``
        instead gives them explicitly. x may also be an iterable of (x, y) batches."""
        return training_loop.fit(
            self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
            validation_split=validation_split, validation_data=validation_data, shuffle=shuffle,
            class_weight=class_weight, sample_weight=sample_weight, validation_batch_size=validation_batch_size,
            initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
            validation_freq=validation_freq)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics on x, y: the loss alone when there are no metrics, else
        [loss, metric, ...] (``return_dict=True``: a dict by name)."""
        return training_loop.evaluate(self, x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for x, in batches (inference mode), as a NumPy array (a list of
        arrays for a model with several outputs)."""
        return training_loop.predict(self, x, batch_size, verbose, steps, callbacks)

    def train_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """One training step on one batch; returns the loss (and metrics) of that batch."""
        return training_loop.train_on_batch(self, x, y, sample_weight, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """The loss (and metrics) of one batch, without training."""
        return training_loop.test_on_batch(self, x, y, sample_weight, return_dict)

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=len(self._input_arrays(x, "predict_on_batch")[0]), verbose=0)

    # ---- summary ---------------------------------------------------------------------------
    def _summary_rows(self):
        return summary.layer_rows(self.layers)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Print a table of the layers (name and type), their output shapes and parameter
        counts, then the totals (as Keras; the byte sizes count each weight's dtype)."""
        summary.print_summary(self, line_length=line_length, print_fn=print_fn)

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

    def to_json(self, **kwargs):
        """The architecture as a JSON string (``keras.models.model_from_json`` rebuilds it)."""
        import json

        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()}, **kwargs)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """``keras.Model.from_config(model.get_config())`` for a functional model."""
        functional = LAYER_CLASSES["Functional"]
        if cls is Model and isinstance(config, dict) and "nodes" in config:
            return functional.from_config(config, custom_objects)
        return cls(**config)

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Write the model (architecture as JSON, weights as .npz, compile arguments) to one zip
        archive, atomically. ``keras.models.load_model`` reads it."""
        saving.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    # ---- representation --------------------------------------------------------------------
    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
