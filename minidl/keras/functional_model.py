"""The functional API: ``keras.Model(inputs, outputs)`` from the layer calls recorded between
``keras.Input`` tensors and the outputs, replayed in topological order on real data.

    inputs = keras.Input(shape=(20,))
    hidden = keras.layers.Dense(64, activation='relu')(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, activation='softmax')(hidden))
"""

from __future__ import annotations

import numpy

from ..tensor import Tensor
from . import saving
from .layers.input_layer import InputLayer
from .layers.shapes import is_shape, shape_str
from .layers.symbolic import KerasTensor, flatten, map_structure
from .naming import unique_name
from .summary import layer_rows as summary_rows
from .training import Model


class Functional(Model):
    """A model made of the layer calls between ``inputs`` (``keras.Input`` tensors) and
    ``outputs``: ``keras.Model(inputs, outputs)``."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name or unique_name("functional"), trainable=trainable, **kwargs)
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.inputs = [t for t in flatten(inputs)]
        self.outputs = [t for t in flatten(outputs)]
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
        """The InputLayers first, then the other layers in the order they are called (as Keras)."""
        inputs = [n.layer for n in self._all_nodes if isinstance(n.layer, InputLayer)]
        return list(dict.fromkeys(inputs + self._layer_list))

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    def _input_names(self):
        return [t.node.layer.name for t in self.inputs]

    def _output_names(self):
        if isinstance(self._outputs_struct, dict):
            return list(self._outputs_struct)
        return [t.name or t.node.layer.name for t in self.outputs]

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
                x = Tensor._make(x.array.astype("int64"), False)
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
        for layer in self.layers:
            if isinstance(layer, InputLayer):
                rows.append((f"{layer.name} (InputLayer)", shape_str(layer._batch_input_shape), 0))
        return rows + summary_rows([layer for layer in self.layers if not isinstance(layer, InputLayer)])
