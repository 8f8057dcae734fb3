"""``minidl.data``: the older name of ``minidl.utils.data`` (datasets, samplers, the DataLoader).

    from minidl.data import DataLoader, TensorDataset      # the same objects as
    from minidl.utils.data import DataLoader, TensorDataset
"""

from .utils.data import *  # noqa: F403
from .utils.data import __all__  # noqa: F401
