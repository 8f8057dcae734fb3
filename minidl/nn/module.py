"""Module: a container of parameters, buffers and sub-modules, with PyTorch's API.

Assigning a ``Parameter`` or a ``Module`` to an attribute registers it; ``parameters()``,
``state_dict()``, ``to(device)``, ``train()``/``eval()`` and ``zero_grad()`` then walk the tree.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple

from .. import backend
from ..autograd import no_grad
from ..dtypes import check_grad_dtype
from ..serialization import cast_exactly
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as learnable: ``requires_grad=True`` by default.

    ``Parameter(tensor)`` shares the tensor's array."""

    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ..creation import empty

            data = empty(0)
        array = data.array if isinstance(data, Tensor) else data
        if not hasattr(array, "dtype"):
            from ..tensor import tensor

            array = tensor(array).array
        if requires_grad:
            check_grad_dtype(array.dtype, "Parameter")
        p = cls._make(array, bool(requires_grad))
        return p

    def __init__(self, data=None, requires_grad=True):
        pass  # everything happens in __new__

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _as_array(value, like, key):
    """The array inside a state_dict value (minidl Tensor, NumPy array, or anything with ``numpy()``)."""
    if isinstance(value, Tensor):
        array = value.array
    elif hasattr(value, "detach") and hasattr(value, "numpy"):  # e.g. a torch tensor
        array = value.detach().cpu().numpy()
    elif hasattr(value, "shape") and hasattr(value, "dtype"):
        array = value
    else:
        raise TypeError(f"load_state_dict: value for {key!r} is a {type(value).__name__}, not an array")
    array = backend.to_device(array, like.device)
    # a value the parameter's dtype cannot hold (1e300 into float32) is an error, not an inf
    return cast_exactly(array, like.dtype, f"load_state_dict: value for {key!r}")


class Module:
    """Base class of every layer and model. Subclasses set parameters and sub-modules as
    attributes in ``__init__`` and define ``forward``."""

    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks_with_kwargs", set())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ----------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            for d in (buffers, modules):
                d.pop(name, None)
            self.__dict__.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            for d in (params, buffers):
                d.pop(name, None)
            self.__dict__.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter {name!r} (use nn.Parameter)")
            params[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} to buffer {name!r} (expects a Tensor)")
            buffers[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to sub-module {name!r}")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter or None) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        self._check_name(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a Tensor that is state but not learnable (e.g. BatchNorm's running mean)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        self._check_name(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Register a sub-module under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self._check_name(name)
        self._modules[name] = module

    register_module = add_module

    def _check_name(self, name):
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"invalid name {name!r}: a non-empty string without '.' is required")

    # ---- calling -----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        for hook in list(self.__dict__.get("_forward_pre_hooks", {}).values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        with_kwargs = self.__dict__.get("_forward_hooks_with_kwargs", ())
        for key, hook in list(self._forward_hooks.items()):
            result = hook(self, args, kwargs, out) if key in with_kwargs else hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_hook(self, hook, *, with_kwargs=False):
        """Call ``hook(module, inputs, output)`` after every forward (e.g. to record feature
        maps), or ``hook(module, inputs, kwargs, output)`` with ``with_kwargs=True``, as PyTorch
        does; a hook that returns something other than None replaces the output. Returns a
        handle whose ``remove()`` unregisters it."""
        key = object()
        self._forward_hooks[key] = hook
        hooks = self._forward_hooks
        flagged = self.__dict__.setdefault("_forward_hooks_with_kwargs", set())
        if with_kwargs:
            flagged.add(key)

        class _Handle:
            def remove(self):
                hooks.pop(key, None)
                flagged.discard(key)

        return _Handle()

    def register_forward_pre_hook(self, hook):
        """Call ``hook(module, inputs)`` before every forward, as PyTorch does (pruning recomputes
        ``weight = weight_orig ⊙ weight_mask`` this way); a hook that returns something other than
        None replaces the inputs (a tuple, or one value that becomes a 1-tuple). Returns a handle
        whose ``remove()`` unregisters it."""
        key = object()
        hooks = self.__dict__.setdefault("_forward_pre_hooks", OrderedDict())
        hooks[key] = hook

        class _Handle:
            def remove(self):
                hooks.pop(key, None)

        return _Handle()

    # ---- walking the tree --------------------------------------------------------------
    def named_modules(self, memo=None, prefix=""):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named(self, store, prefix, recurse):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in modules:
            for name, t in getattr(m, store).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix="", recurse=True):
        yield from self._named("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        yield from self._named("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module (children first) and on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes -------------------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout active, batch norm uses batch statistics)."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all parameters (to None by default, as in PyTorch)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad = Tensor._make(backend.get_array_module(p.grad.array).zeros_like(p.grad.array), False)

    # ---- devices and dtypes ------------------------------------------------------------
    def to(self, *args, **kwargs):
        """Move parameters and buffers to a device and/or floating dtype, in place: the same
        Parameter objects keep their identity (so an optimizer built earlier still holds them)."""
        device, dtype = kwargs.get("device"), kwargs.get("dtype")
        for a in args:
            if isinstance(a, (str, backend.Device)):
                device = a
            elif a is not None:
                dtype = a
        def convert(array, floating_only=True):
            if dtype is not None and (array.dtype.kind == "f" or not floating_only):
                array = array.astype(dtype)
            if device is not None:
                array = backend.to_device(array, device)
            return array

        with no_grad():
            for m in self.modules():
                for p in m._parameters.values():
                    if p is None:
                        continue
                    p.array = convert(p.array)
                    if p.grad is not None:
                        p.grad = Tensor._make(convert(p.grad.array), False)
                for name, b in m._buffers.items():
                    if b is not None:
                        m._buffers[name] = Tensor._make(convert(b.array), False)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}")

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    # ---- state -------------------------------------------------------------------------
    def state_dict(self, prefix="", keep_vars=False):
        """An ordered mapping from dotted names (``layer.0.weight``) to parameter and
        persistent-buffer tensors (detached unless ``keep_vars``)."""
        out = OrderedDict()
        for mod_prefix, m in self.named_modules(prefix=prefix.rstrip(".")):
            base = f"{mod_prefix}." if mod_prefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    out[base + name] = p if keep_vars else p.detach()
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    out[base + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        Values may be minidl Tensors, NumPy arrays or torch tensors (so a PyTorch model's
        state_dict loads into the matching minidl module). With ``strict``, missing and
        unexpected keys are an error; a shape mismatch is always an error. Returns
        ``(missing_keys, unexpected_keys)``."""
        for name, m in self.named_modules():  # lazy layers take their shapes from the checkpoint
            if hasattr(m, "_materialize_from_state"):
                m._materialize_from_state(state_dict, name + "." if name else "")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for k, target in own.items():
            if k in state_dict:
                shape = tuple(getattr(state_dict[k], "shape", ()))
                if shape != tuple(target.shape):
                    mismatched.append(f"{k}: checkpoint {shape} vs model {tuple(target.shape)}")
        problems = []
        if mismatched:
            problems.append("size mismatch for " + "; ".join(mismatched))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: " + " | ".join(problems))
        # every value is converted (and checked) before any is assigned: a bad file changes nothing
        arrays = {k: _as_array(state_dict[k], target, k) for k, target in own.items() if k in state_dict}
        with no_grad():
            for k, array in arrays.items():
                own[k].array = array.copy()
                own[k]._version[0] += 1
        return IncompatibleKeys(missing, unexpected)

    def save(self, path):
        """Write the state_dict to ``path`` as ``.npz``, atomically (see ``minidl.save``)."""
        from ..serialization import save

        save(self.state_dict(), path)

    def load(self, path, strict=True, max_bytes=None):
        """Read a ``.npz`` state_dict from ``path`` into this module (see ``minidl.load``): names
        are matched, shapes must agree, values must fit the parameters' dtypes."""
        from ..serialization import load

        return self.load_state_dict(load(path, max_bytes=max_bytes), strict=strict)

    def save_safetensors(self, path, metadata=None):
        """Write the state_dict to ``path`` in the safetensors format, atomically (see
        ``minidl.safetensors.save_file``); the file loads in the ``safetensors`` package and PyTorch."""
        from ..safetensors import save_file

        save_file(self.state_dict(), path, metadata)

    def load_safetensors(self, path, strict=True, max_bytes=None):
        """Read a safetensors file (or a folder holding a sharded checkpoint with
        ``model.safetensors.index.json``) into this module: names matched, shapes checked."""
        import os

        from ..safetensors import load_file, load_sharded

        state = load_sharded(path, max_bytes) if os.path.isdir(path) else load_file(path, max_bytes)
        return self.load_state_dict(state, strict=strict)

    # ---- display -----------------------------------------------------------------------
    def extra_repr(self):
        """One line of settings shown in ``repr`` (override in layers)."""
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, m in self._modules.items():
            text = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {text}")
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))
