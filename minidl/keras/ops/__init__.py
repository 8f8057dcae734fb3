"""``keras.ops``: the backend-agnostic tensor functions of Keras 3 on minidl Tensors (see
``keras.ops.core`` for the conventions; ``keras.ops.nn`` holds the neural-network functions)."""

from . import nn
from .core import *  # noqa: F403 - the public functions are keras.ops's namespace
from .core import abs, all, any, max, min, round, slice, sum  # noqa: F401, A004 - Keras's names
from .nn import *  # noqa: F403
