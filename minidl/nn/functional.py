"""``import minidl.nn.functional as F`` works as in PyTorch: the same functions as ``minidl.functional``."""

from ..functional import *  # noqa: F403
