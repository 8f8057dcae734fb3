"""The parts of Keras's ``Layer`` API that sit around the weights and the call (a mixin of
``Layer``, kept apart so that ``base.py`` stays about building and calling):

* ``trainable_variables`` / ``non_trainable_variables`` / ``variables``: Keras 3 names of the weights;
* ``add_loss(value)`` during ``call``: a term added to the training loss; ``losses`` lists the
  terms of the last forward pass (every sub-layer's) and the weight penalties;
* ``add_metric(value, name)`` (tf.keras 2): a value averaged over the epoch and logged by ``fit``;
* ``input`` / ``output``: the symbolic tensors of the layer's first call in a functional graph;
* layers kept in Python lists, tuples or dicts of a layer or subclassed model are registered as
  sub-layers (so their weights are trained and saved), also when appended after assignment.
"""

from __future__ import annotations

import functools

_DEPTH = [0]  # how many layer calls are running: the outermost one starts a fresh forward pass


def _layers_in(container):
    items = container.items() if isinstance(container, dict) else enumerate(container)
    return [(str(k), v) for k, v in items if hasattr(v, "_own_weights")]


def marks_built(build):
    """A subclass's ``build``, which also marks the layer built (as Keras does), so that a layer
    built by hand is not built again by its first call."""
    if getattr(build, "_marks_built", False):
        return build

    @functools.wraps(build)
    def wrapper(self, *args, **kwargs):
        out = build(self, *args, **kwargs)
        object.__setattr__(self, "built", True)
        if self._build_input_shape is None and args:
            self._build_input_shape = args[0]
        return out

    wrapper._marks_built = True
    return wrapper


class LayerAPI:
    """Mixin of ``keras.layers.Layer`` (see the module docstring)."""

    # ---- variables -----------------------------------------------------------------------
    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        return self.non_trainable_weights

    @property
    def variables(self):
        return self.weights

    # ---- layers held in containers ---------------------------------------------------------
    def _remember_container(self, name, value):
        if name.startswith("_") or not isinstance(value, (list, tuple, dict)):
            return
        self.__dict__.setdefault("_containers", {})[name] = value
        self._sync_containers()

    def _sync_containers(self):
        containers = self.__dict__.get("_containers")
        if not containers:
            return
        known = {id(m) for m in self._modules.values()}
        for name, container in containers.items():
            for key, layer in _layers_in(container):
                if id(layer) not in known:
                    self.add_module(f"{name}_{key}", layer)
                    known.add(id(layer))

    # ---- losses and metrics added during call ----------------------------------------------
    def add_loss(self, loss):
        """Add ``loss`` (a scalar Tensor computed in ``call``) to the training objective."""
        from .symbolic import KerasTensor

        if isinstance(loss, KerasTensor) or callable(loss):
            raise NotImplementedError(
                f'Layer "{self.name}": add_loss takes a Tensor computed inside call(); symbolic losses and '
                "zero-argument callables (tf.keras 2's functional add_loss) are not supported")
        from ..variables import eager

        self.__dict__.setdefault("_call_losses", []).append(eager(loss))

    def add_metric(self, value, name=None, aggregation="mean"):
        """Log ``value`` (computed in ``call``) under ``name``, averaged over the epoch (tf.keras 2)."""
        if name is None:
            raise ValueError(f'Layer "{self.name}": add_metric needs a name')
        if aggregation not in ("mean", None):
            raise NotImplementedError(f"add_metric: aggregation={aggregation!r} (only 'mean' is supported)")
        self.__dict__.setdefault("_call_metrics", []).append((name, value))

    def _clear_call_losses(self):
        for m in self.modules():
            d = m.__dict__
            if d.get("_call_losses"):
                d["_call_losses"] = []
            if d.get("_call_metrics"):
                d["_call_metrics"] = []

    def _gather(self, key):
        out = []
        for m in self.modules():
            out += m.__dict__.get(key) or []
        return out

    @property
    def losses(self):
        """The ``add_loss`` terms of the last forward pass and the weight penalties (scalar Tensors)."""
        return self._gather("_call_losses") + self.regularization_losses()

    def _added_metrics(self):
        return self._gather("_call_metrics")

    def _enter_call(self):
        if _DEPTH[0] == 0:
            self._clear_call_losses()
        _DEPTH[0] += 1

    @staticmethod
    def _exit_call():
        _DEPTH[0] -= 1

    # ---- symbolic input and output ---------------------------------------------------------
    def _first_node(self, what):
        nodes = [n for n in self._inbound_nodes if n.outputs is not None]
        if not nodes:
            raise ValueError(f'Layer "{self.name}" has never been called on a keras.Input, so it has no '
                                 f"defined {what}")
        return nodes[0]

    @property
    def input(self):
        node = self._first_node("input")
        return node.args[0] if node.args else node.outputs

    @property
    def output(self):
        return self._first_node("output").outputs
