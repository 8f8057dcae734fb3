"""The Keras ``Layer``: weights in Keras's layouts, built lazily from the first input shape.

A layer is an ``nn.Module`` (so ``parameters()``, ``to(device)``, ``state_dict()`` work) with
Keras's life cycle:

    layer = Dense(64)              # no weights yet
    y = layer(x)                   # first call: build(input_shape) creates the weights, then call(x)

``build(input_shape)`` creates weights with ``add_weight`` (trainable ones are Parameters,
non-trainable ones such as BatchNormalization's moving statistics are buffers);
``compute_output_shape`` gives the output shape from an input shape (with ``None`` for the
batch and for unknown sizes) so that models can be built and summarised without data.

Called on a symbolic ``KerasTensor`` (from ``keras.Input``) a layer records the call instead of
computing it; ``keras.Model(inputs, outputs)`` replays the recorded graph (the functional API).

Layers run in inference mode unless told otherwise: ``fit`` switches the model to training
mode (dropout active, batch statistics), ``evaluate``/``predict`` and direct calls do not;
``layer(x, training=True)`` overrides it per call.
"""

from __future__ import annotations

import inspect
import math

import numpy

from ... import backend
from ..._files import charge_allocation
from ...nn.module import Module
from ...tensor import Tensor
from .. import initializers, regularizers
from ..naming import to_snake_case, unique_name
from ..variables import Variable, eager
from .layer_api import LayerAPI, marks_built
from .shapes import InputSpec, is_shape, normalize_shape
from .symbolic import KerasTensor, Node, as_input_tensor, has_symbolic, map_structure

LAYER_CLASSES: dict = {}


def _accepts(fn, name):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())


class Layer(LayerAPI, Module):
    """Base class of every Keras layer (see the module docstring for the life cycle).

    Subclasses define ``build(input_shape)`` (create weights with ``add_weight``), ``call(inputs,
    training=None, mask=None)``, ``compute_output_shape(input_shape)`` and ``get_config()``.
    Common arguments: ``name``, ``trainable``, ``dtype`` and, for the first layer of a model,
    ``input_shape`` (without the batch) or ``batch_input_shape``.
    """

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None, batch_input_shape=None,
                 input_dim=None, batch_size=None, **kwargs):
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {', '.join(sorted(kwargs))}"
            )
        super().__init__()
        object.__setattr__(self, "training", False)
        if name is not None and (not isinstance(name, str) or not name or "." in name or "/" in name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string without '.' or '/', got {name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self._dtype = numpy.dtype(dtype or "float32").name
        self._own_weights = []  # (attribute name, trainable) in creation order
        self._regularized = []  # (weight, regularizer)
        self._device = None
        self._build_input_shape = None
        self._output_shape = None
        self.input_spec = None
        self.supports_masking = False
        self._inbound_nodes = []
        if batch_input_shape is not None:
            self._batch_input_shape = normalize_shape(batch_input_shape)
        elif input_shape is not None:
            self._batch_input_shape = (batch_size,) + normalize_shape(input_shape)
        elif input_dim is not None:
            self._batch_input_shape = (batch_size, int(input_dim))
        else:
            self._batch_input_shape = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LAYER_CLASSES.setdefault(cls.__name__, cls)
        if "build" in cls.__dict__:
            cls.build = marks_built(cls.__dict__["build"])

    # ---- weights -------------------------------------------------------------------------
    def add_weight(self, name=None, shape=None, initializer="glorot_uniform", trainable=True, dtype=None,
                   regularizer=None, **kwargs):
        """Create a weight of ``shape`` filled by ``initializer`` and register it under ``name``
        ('variable', 'variable_1', ... when not given): a Parameter when ``trainable``, a buffer
        otherwise. ``self.w = self.add_weight(...)`` then refers to the same weight."""
        if isinstance(name, (tuple, list)) and shape is None:
            name, shape = None, name  # add_weight((3, 4)) as in Keras 3, where shape comes first
        if shape is None:
            raise ValueError(f'Layer "{self.name}": add_weight needs a shape')
        unsupported = {k for k, v in kwargs.items() if v is not None and k not in ("autocast", "aggregation")}
        if unsupported:
            raise TypeError(f"add_weight: unsupported argument(s) {', '.join(sorted(unsupported))}")
        if name is None:
            taken = {n for n, _ in self._own_weights}
            name = next(f"variable_{i}" if i else "variable" for i in range(len(taken) + 1)
                        if (f"variable_{i}" if i else "variable") not in taken)
        if initializer is None:
            initializer = "glorot_uniform" if trainable and len(tuple(shape)) > 1 else "zeros"
        init = initializers.get(initializer)
        shape = tuple(int(d) for d in shape)
        # a model rebuilt from a file's config may ask for no more than the file can justify
        charge_allocation(math.prod(shape) * numpy.dtype(dtype or self._dtype).itemsize,
                          f'layer "{self.name}" weight {name!r} of shape {shape}')
        t = init(shape, dtype or self._dtype, self._device)
        w = Variable(t, requires_grad=bool(trainable), name=name, path=f"{self.name}/{name}")
        if trainable:
            if not self._trainable:
                w.requires_grad = False
            self.register_parameter(name, w)
        else:
            self.register_buffer(name, w)
        self._own_weights.append((name, bool(trainable)))
        reg = regularizers.get(regularizer)
        if reg is not None:
            self._regularized.append((name, reg))
        return w

    def __setattr__(self, name, value):
        if isinstance(value, Tensor) and "_parameters" in self.__dict__:
            if any(value is w for w in self._parameters.values()) or any(value is b for b in self._buffers.values()):
                object.__setattr__(self, name, value)  # another name for a weight already registered
                return
        super().__setattr__(name, value)
        if "_parameters" in self.__dict__:
            self._remember_container(name, value)

    def _own(self, trainable):
        store = self._parameters if trainable else self._buffers
        return [store[n] for n, tr in self._own_weights if tr == trainable and store.get(n) is not None]

    def _sublayers(self):
        self._sync_containers()
        return [m for m in self._modules.values() if isinstance(m, Layer)]

    @property
    def layers(self):
        return self._sublayers()

    @property
    def weights(self):
        """All weights: this layer's trainable ones, its non-trainable ones, then each sub-layer's
        (Keras's order, the order of ``get_weights``)."""
        return [w for _, w in self._named_weights()]

    def _named_weights(self, prefix=None):
        prefix = self.name if prefix is None else prefix
        out, seen = [], set()
        for trainable in (True, False):
            for (n, tr) in self._own_weights:
                store = self._parameters if tr else self._buffers
                if tr == trainable and store.get(n) is not None and id(store[n]) not in seen:
                    seen.add(id(store[n]))
                    out.append((f"{prefix}/{n}" if prefix else n, store[n]))
        for sub in self._sublayers():
            for path, w in sub._named_weights(f"{prefix}/{sub.name}" if prefix else sub.name):
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append((path, w))
        return out

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        out = self._own(True)
        for sub in self._sublayers():
            out += sub.trainable_weights
        return out

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        out = self._own(False)
        for sub in self._sublayers():
            out += sub.non_trainable_weights
        return out

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        for m in self.modules():
            if isinstance(m, Layer):
                object.__setattr__(m, "_trainable", bool(value))
            for p in m._parameters.values():
                if p is not None:
                    p.requires_grad = bool(value)

    def get_weights(self):
        """The weights as NumPy arrays (copies), in Keras's layouts and order."""
        return [backend.as_numpy(w.array).copy() for w in self.weights]

    def set_weights(self, weights):
        """Set every weight from a list of arrays of the same shapes (e.g. ``get_weights()`` of
        a twin layer or a Keras layer's weights)."""
        named = self._named_weights()
        weights = list(weights)
        if len(weights) != len(named):
            raise ValueError(
                f'Layer "{self.name}" expects {len(named)} weight(s) '
                f"({', '.join(p for p, _ in named) or 'none'}), but set_weights received {len(weights)}"
            )
        for (path, w), value in zip(named, weights):
            array = value.array if isinstance(value, Tensor) else value
            shape = tuple(getattr(array, "shape", numpy.shape(array)))
            if shape != tuple(w.shape):
                raise ValueError(
                    f'Layer "{self.name}": weight {path} has shape {tuple(w.shape)}, but the value given has '
                    f"shape {shape}"
                )
        for (_, w), value in zip(named, weights):
            array = value.array if isinstance(value, Tensor) else numpy.asarray(backend.as_numpy(value))
            w.array[...] = backend.to_device(numpy.asarray(backend.as_numpy(array)).astype(w.dtype), w.device)
            w._version[0] += 1

    def count_params(self):
        """The number of scalars in all weights (trainable and not)."""
        if not self.built:
            raise ValueError(
                f'Layer "{self.name}" has not been built yet: call it on data or give it an input shape first'
            )
        return sum(math.prod(w.shape) for w in self.weights)

    def regularization_losses(self):
        """The penalty terms of the weights that have a regularizer (a list of scalar Tensors)."""
        out = []
        for m in self.modules():
            if isinstance(m, Layer):
                for name, reg in m._regularized:
                    w = m._parameters.get(name)
                    if w is not None and w.requires_grad:
                        out.append(reg(w))
        return out

    # ---- building ------------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch dim included, may be None)."""

    def _build_from(self, input_shape):
        if self.built:
            return
        self.build(input_shape)
        self.built = True
        if self._build_input_shape is None:
            self._build_input_shape = input_shape

    def _track(self, sublayer, attr=None):
        """Register a sub-layer created inside this one under its Keras name (so weight paths
        read ``transformer/multi_head_attention/query/kernel``), on this layer's device;
        ``attr`` also makes it reachable as ``self.<attr>`` without registering it twice."""
        sublayer._set_device(self._device)
        self.add_module(sublayer.name, sublayer)
        if attr is not None:
            object.__setattr__(self, attr, sublayer)
        return sublayer

    def _set_device(self, device):
        for m in self.modules():
            if isinstance(m, Layer):
                object.__setattr__(m, "_device", device)

    def to(self, *args, **kwargs):
        device = kwargs.get("device")
        for a in args:
            if isinstance(a, (str, backend.Device)):
                device = a
        if device is not None:
            self._set_device(backend.Device(device))
        return super().to(*args, **kwargs)

    def compute_output_shape(self, input_shape):
        """Output shape for an input shape; by default found by running the layer on zeros
        (with 1 for the batch and for unknown sizes)."""
        return self._infer_output_shape(input_shape)

    def _infer_output_shape(self, input_shape):
        from ...autograd import no_grad

        def zeros(shape):
            if is_shape(shape):
                concrete = tuple(1 if d is None else d for d in shape)
                charge_allocation(math.prod(concrete) * 8, f'layer "{self.name}" dry run on {concrete}', keep=False)
                xp = backend.array_module_for(self._device or backend.CPU)
                return Tensor._make(xp.zeros(concrete, self._dtype))
            return [zeros(s) for s in shape]

        with no_grad():
            out = self.call(zeros(input_shape), **self._call_kwargs(False, None))
        out = list(out) if isinstance(out, tuple) else out
        return map_structure(lambda t: (None,) + tuple(t.shape[1:]), out)

    def compute_mask(self, inputs, mask=None):
        """The mask of the output (for masking layers such as Embedding(mask_zero=True)); layers
        that support masking pass it on, the others drop it."""
        return mask if self.supports_masking else None

    # ---- calling -------------------------------------------------------------------------
    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define call()")

    def forward(self, *args, **kwargs):
        return self(*args, **kwargs)

    def _call_kwargs(self, training, mask):
        cls = type(self)
        cache = cls.__dict__.get("_accepts_cache")
        if cache is None:
            cache = (_accepts(cls.call, "training"), _accepts(cls.call, "mask"))
            cls._accepts_cache = cache
        kw = {}
        if cache[0]:
            kw["training"] = training
        if cache[1] and mask is not None:
            kw["mask"] = mask
        return kw

    def _prepare(self, inputs, training):
        """Inputs as Tensors on this layer's device, the resolved training flag, and the layer
        built (from the shape with the batch as None) and checked against its input spec."""
        inputs = map_structure(lambda t: as_input_tensor(t, self._device, self._dtype), inputs)
        training = self.training if training is None else bool(training)
        if not self.built:
            self._build_from(self._shape_of(inputs))
        self._check_input(self._real_shape_of(inputs))
        return inputs, training

    def __call__(self, *args, **kwargs):
        if not args and "inputs" in kwargs:
            args = (kwargs.pop("inputs"),)
        if not args:
            raise TypeError(f'Layer "{self.name}" was called without inputs')
        if has_symbolic((args, kwargs)):
            return self._symbolic_call(args, kwargs)
        training, mask = kwargs.pop("training", None), kwargs.pop("mask", None)
        self._enter_call()
        try:
            self._sync_containers()
            inputs, training = self._prepare(args[0], training)
            out = self.call(inputs, *args[1:], **kwargs, **self._call_kwargs(training, mask))
        finally:
            self._exit_call()
        for hook in list(self._forward_hooks.values()):
            result = hook(self, (inputs,), out)
            if result is not None:
                out = result
        return eager(out)

    def _call_logits(self, inputs, training=None, mask=None):
        """(output, logits, kind): like ``__call__``, and when the layer ends in a softmax or a
        sigmoid also the values before it, so that a loss can use them (see ``logits``)."""
        prepared, resolved = self._prepare(inputs, training)
        got = self.logits(prepared, training=resolved, mask=mask)
        if got is None:
            return self(prepared, training=resolved, mask=mask), None, None
        z, kind = got
        from ... import functional as F

        out = F.softmax(z, -1) if kind == "softmax" else F.sigmoid(z)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, (prepared,), out)
            if result is not None:
                out = result
        return out, z, kind

    def logits(self, inputs, training=None, mask=None):
        """(z, 'softmax' | 'sigmoid') when the output is softmax(z) over the last axis or σ(z);
        None otherwise. Losses on probabilities use z instead (log-softmax, log-sigmoid), which
        is exact and stable, as Keras does with the logits behind its softmax outputs."""
        return None

    @staticmethod
    def _real_shape_of(inputs):
        if isinstance(inputs, (list, tuple)):
            return [Layer._real_shape_of(t) for t in inputs]
        return tuple(inputs.shape)

    @staticmethod
    def _shape_of(inputs):
        if isinstance(inputs, (list, tuple)):
            return [Layer._shape_of(t) for t in inputs]
        return (None,) + tuple(inputs.shape[1:]) if inputs.ndim else ()

    def _check_input(self, shape):
        specs = self.input_spec
        if specs is None:
            return
        if isinstance(specs, InputSpec):
            if is_shape(shape):
                specs.check(self.name, shape)
            elif shape:
                specs.check(self.name, shape[0])
            return
        for i, (spec, s) in enumerate(zip(specs, shape)):
            if spec is not None:
                spec.check(self.name, s, i)

    def _symbolic_call(self, args, kwargs):
        kwargs = dict(kwargs)
        kwargs.pop("training", None)
        inputs = args[0]
        shape = map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else t, inputs)
        if not self.built:
            self._build_from(shape)
        self._check_input(shape)
        out_shape = self._symbolic_compute_output_shape(shape, args, kwargs)
        node = Node(self, args, kwargs, None)
        if is_shape(out_shape):
            outputs = KerasTensor(out_shape, self._dtype, node, 0, name=self.name)
        else:
            outputs = [KerasTensor(s, self._dtype, node, i, name=f"{self.name}_{i}") for i, s in enumerate(out_shape)]
        node.outputs = outputs
        self._inbound_nodes.append(node)
        self._output_shape = out_shape
        return outputs

    def _symbolic_compute_output_shape(self, shape, args, kwargs):
        """The output shape(s) of a symbolic call: ``compute_output_shape`` of the first input's
        shape when the layer defines it, else a dry run on zeros."""
        if type(self).compute_output_shape is not Layer.compute_output_shape:
            return self.compute_output_shape(shape)
        return self._symbolic_output_shapes(args, kwargs)

    def _symbolic_output_shapes(self, args, kwargs):
        from ...autograd import no_grad

        def zeros(t):
            if isinstance(t, KerasTensor):
                concrete = tuple(1 if d is None else d for d in t.shape)
                charge_allocation(math.prod(concrete) * 8, f'layer "{self.name}" dry run on {concrete}', keep=False)
                dtype = "int64" if t.dtype.startswith(("int", "uint")) else self._dtype
                return Tensor._make(backend.array_module_for(self._device or backend.CPU).zeros(concrete, dtype))
            return t

        with no_grad():
            out = self.call(*map_structure(zeros, args), **map_structure(zeros, kwargs))
        return map_structure(lambda t: (None,) + tuple(t.shape[1:]), list(out) if isinstance(out, tuple) else out)

    # ---- configuration -------------------------------------------------------------------
    def get_config(self):
        """The constructor arguments as a JSON-able dict (the layer is rebuilt from it)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self._dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def input_shape(self):
        if self._build_input_shape is None:
            raise AttributeError(f'Layer "{self.name}" has not been built: it has no defined input shape')
        return self._build_input_shape

    @property
    def output_shape(self):
        if self._output_shape is None:
            if self._build_input_shape is None:
                raise AttributeError(f'Layer "{self.name}" has not been built: it has no defined output shape')
            self._output_shape = self.compute_output_shape(self._build_input_shape)
        return self._output_shape

    @property
    def dtype(self):
        return self._dtype

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
