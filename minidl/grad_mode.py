"""Grad mode: whether operations are being recorded for differentiation (``no_grad``,
``enable_grad``, ``set_grad_enabled``, ``inference_mode``), and anomaly detection (``detect_anomaly``). One flag
per thread. The Tensor checks it before an in-place update; ``Function.apply`` before recording.
"""

from __future__ import annotations

import functools
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    """True when operations are being recorded for differentiation."""
    return getattr(_state, "grad_enabled", True)


def _set_grad_enabled(mode: bool) -> bool:
    previous = is_grad_enabled()
    _state.grad_enabled = bool(mode)
    return previous


def _anomaly_enabled() -> bool:
    return getattr(_state, "anomaly", False)


class _GradMode:
    """Context manager and decorator that sets grad mode for its body."""

    mode = True
    bare_decorator = False  # ``@no_grad`` as well as ``@no_grad()``, as in PyTorch

    def __new__(cls, *args, **kwargs):
        if cls.bare_decorator and len(args) == 1 and not kwargs and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self):
        self._previous = _set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._previous)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Run a block (or a decorated function) without recording the graph: ``with no_grad(): ...``."""

    mode = False
    bare_decorator = True


class enable_grad(_GradMode):
    """Record the graph inside a block even where an outer ``no_grad`` turned it off."""

    mode = True
    bare_decorator = True


class set_grad_enabled(_GradMode):
    """``with set_grad_enabled(flag):`` records the graph when ``flag`` is true."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class inference_mode(_GradMode):
    """PyTorch's ``with torch.inference_mode():`` (or ``@inference_mode()``): like ``no_grad``, the
    block records no graph; ``inference_mode(False)`` leaves grad mode as it is. (PyTorch also
    marks the tensors made inside as "inference tensors" to skip version counting; minidl's
    tensors are all alike, so here it is ``no_grad`` under PyTorch's name.)"""

    bare_decorator = True

    def __init__(self, mode: bool = True):
        self.enabled = bool(mode)
        self.mode = False

    def __enter__(self):
        self._previous = _set_grad_enabled(False) if self.enabled else is_grad_enabled()
        self._previous_inference = is_inference_mode_enabled()
        _state.inference = self.enabled
        return self

    def __exit__(self, *exc):
        _state.inference = self._previous_inference
        return super().__exit__(*exc)

    def __call__(self, fn):
        enabled = self.enabled

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(enabled):
                return fn(*args, **kwargs)

        return wrapper


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()`` (and not inside an ``inference_mode(False)`` within it)."""
    return getattr(_state, "inference", False)


class detect_anomaly:
    """Within this block, the first NaN or inf produced by an op's forward or backward raises
    a ``FloatingPointError`` that names the op."""

    def __init__(self, mode: bool = True):
        self.mode = mode

    def __enter__(self):
        self._previous = _anomaly_enabled()
        _state.anomaly = self.mode
        return self

    def __exit__(self, *exc):
        _state.anomaly = self._previous
        return False
