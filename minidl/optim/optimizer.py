"""Optimizer: the base class every update rule (SGD, Adam, ...) builds on.

An optimizer holds ``param_groups``, a list of dicts, each with its ``"params"`` (Tensors) and
its hyper-parameters (``"lr"``, ``"momentum"``, ...; the constructor's values fill in what a
group leaves out), and ``state``, a dict from parameter to that parameter's running buffers
(momentum, moment estimates, step count). ``step()`` applies the rule to every parameter that
has a gradient; a subclass writes the rule for one parameter in ``_update(theta, grad, state,
group)``, one line per equation of the algorithm box in its docstring, and checks its
hyper-parameters in ``_validate_group`` (``hyperparameters.py``, PyTorch's messages).

Updates work on the arrays (``p.array``) directly, with the array module of each parameter
(NumPy, CuPy or the strict test arrays), so the optimizer never builds a graph and its state
lives where the parameter lives; the in-place helpers of ``inplace.py`` keep a step free of
temporaries the size of the model. Each update bumps the parameter's version counter, so that
a graph that saved the old value notices the change in backward.

Files: this one (groups, the step loop, ``state_dict``), ``hyperparameters.py``, ``inplace.py``,
and one per family of rules: ``sgd.py``, ``adam.py`` (Adam, AdamW), ``rmsprop.py``, ``adagrad.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .. import backend
from ..autograd import enable_grad, no_grad
from ..tensor import Tensor


class _Required:
    """Marker for a hyper-parameter that has no default and must be given."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: holds parameter groups and per-parameter state; ``step()`` updates parameters.

    ``params`` is an iterable of Tensors, or of dicts ``{"params": [...], "lr": ...}`` that set
    hyper-parameters per group. ``defaults`` gives the value of every hyper-parameter a group
    does not set.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}
        self.param_groups: list[dict] = []
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or dicts, but got a Tensor; "
                "pass [tensor] or model.parameters()"
            )
        if isinstance(params, Mapping):
            params = [params]
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(param_groups[0], Mapping):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ---- groups ----------------------------------------------------------------------
    def add_param_group(self, param_group: dict):
        """Add a group of parameters (with its own hyper-parameters) to be optimized."""
        name = type(self).__name__
        if not isinstance(param_group, Mapping):
            raise TypeError(f"{name}.add_param_group: expected a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        if "params" not in group:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' entry")
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameters must be an ordered collection (list or tuple), not a set")
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} of the group is a {type(p).__name__}, not a Tensor")
            if not p.is_leaf:
                raise ValueError(f"{name}: parameter {i} of the group is not a leaf tensor (it has a grad_fn)")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter appears more than once in the group")
        group["params"] = params

        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required hyper-parameter {key!r}")
            group.setdefault(key, default)
        self._validate_group(group)

        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _validate_group(self, group: dict):
        """Check a group's hyper-parameters (subclasses raise ValueError with a clear message)."""

    # ---- gradients -------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True):
        """Forget the gradients: set each ``p.grad`` to None (default) or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad = p.grad.detach()
                    p.grad.array[...] = 0
                    p.grad._version[0] += 1

    # ---- the update ------------------------------------------------------------------
    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss and
        returns it (it runs with gradients enabled, before the update)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = p.grad.array
                    if grad.shape != p.array.shape:
                        raise RuntimeError(
                            f"{type(self).__name__}.step: gradient of shape {tuple(grad.shape)} does not "
                            f"match its parameter of shape {tuple(p.array.shape)}"
                        )
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {}
                    elif state:
                        _follow_parameter(state, p.array)
                    self._update(p.array, grad, state, group)
                    p._version[0] += 1
        return loss

    def _update(self, theta, grad, state: dict, group: dict):
        """Update the parameter array ``theta`` in place from its gradient array ``grad`` (never
        written to), with this parameter's ``state`` and its group's hyper-parameters."""
        raise NotImplementedError

    # ---- saving and loading ----------------------------------------------------------
    def state_dict(self) -> dict:
        """A snapshot of the optimizer: ``{"state": {index: {...}}, "param_groups": [...]}``.

        Parameters are named by their position across all groups (0, 1, ...), as in PyTorch.
        State arrays are copies, on their parameter's device.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if s and id(p) in index:
                state[index[id(p)]] = {k: _copy_value(v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict):
        """Restore hyper-parameters and state saved by ``state_dict()``.

        The groups must match this optimizer's in number and sizes; each state array must have
        its parameter's shape. Arrays are copied onto the parameter's device (floating arrays
        take the parameter's dtype).
        """
        name = type(self).__name__
        if not isinstance(state_dict, Mapping) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the loaded state dict has {len(saved_groups)} parameter group(s), "
                f"but the optimizer has {len(self.param_groups)}"
            )
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {i} has {len(saved['params'])} parameter(s) in the "
                    f"loaded state dict, but {len(group['params'])} in the optimizer"
                )
        id_map = {}
        for saved, group in zip(saved_groups, self.param_groups):
            for idx, p in zip(saved["params"], group["params"]):
                id_map[idx] = p

        new_state = {}
        for idx, s in state_dict["state"].items():
            if idx not in id_map:
                raise ValueError(f"{name}.load_state_dict: state for parameter {idx!r}, which no group lists")
            p = id_map[idx]
            new_state[p] = {key: _load_value(value, p, key, idx, name) for key, value in s.items()}

        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            g = {k: v for k, v in saved.items() if k != "params"}
            g["params"] = group["params"]
            new_groups.append(g)
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _follow_parameter(state: dict, x):
    """Move state arrays to the parameter's device and dtype after the parameter moved
    (``model.to("cuda")``, ``model.double()`` replace ``p.array``)."""
    for key, v in state.items():
        if hasattr(v, "dtype") and (type(v) is not type(x) or v.dtype != x.dtype):
            v = backend.to_device(v, backend.device_of(x))
            state[key] = v.astype(x.dtype) if v.dtype.kind == "f" and x.dtype.kind == "f" else v


def _copy_value(v):
    if isinstance(v, Tensor):
        return v.array.copy()
    if hasattr(v, "shape") and hasattr(v, "copy"):
        return v.copy()
    return v


def _load_value(value, p: Tensor, key, idx, where):
    if isinstance(value, Tensor):
        value = value.array
    if key == "step":  # PyTorch saves t as a float tensor; the rules count it as an int
        value = value.item() if hasattr(value, "item") else value
        return int(value) if isinstance(value, float) and value.is_integer() else value
    if not hasattr(value, "shape"):
        return value
    if tuple(value.shape) != tuple(p.array.shape):
        raise ValueError(
            f"{where}.load_state_dict: state {key!r} of parameter {idx} has shape {tuple(value.shape)}, "
            f"but the parameter has shape {tuple(p.array.shape)}"
        )
    value = backend.to_device(value, p.device)
    if value.dtype.kind == "f" and p.array.dtype.kind == "f":
        return value.astype(p.array.dtype, copy=True)
    return value.copy()


def iter_tensors(parameters: Tensor | Iterable[Tensor]):
    """A list of Tensors from one Tensor or an iterable of them."""
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)
