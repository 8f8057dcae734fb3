"""``import minidl.nn.functional as F`` works as in PyTorch: the same functions as ``minidl.functional``."""

from ..functional import *  # noqa: F403
from .dropout import dropout1d, dropout2d, dropout3d  # noqa: F401  (channel dropout lives with its modules)
