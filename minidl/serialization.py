"""Saving and loading tensors as ``.npz`` files (never pickle).

``save(state_dict, path)`` writes a mapping of names to Tensors (or arrays); ``load(path)``
reads it back as an ordered mapping of names to CPU tensors. Arrays from the GPU are copied
to host memory first, so a file saved on a GPU machine loads on a CPU-only one.
"""

from __future__ import annotations

import os
import zipfile
from collections import OrderedDict

import numpy

from . import backend
from .tensor import Tensor

_ORDER_KEY = "__minidl_order__"


def save(obj, path):
    """Write a mapping ``name -> Tensor | array | number`` to ``path`` (a ``.npz`` file)."""
    if not hasattr(obj, "items"):
        raise TypeError(f"save: expected a mapping of names to tensors (a state_dict), got {type(obj).__name__}")
    arrays = OrderedDict()
    for name, value in obj.items():
        if not isinstance(name, str) or name == _ORDER_KEY:
            raise ValueError(f"save: keys must be strings (and not {_ORDER_KEY!r}), got {name!r}")
        if isinstance(value, Tensor):
            value = value.data
        array = backend.as_numpy(value) if hasattr(value, "shape") else numpy.asarray(value)
        if array.dtype == object:
            raise TypeError(f"save: value for {name!r} is not numeric (dtype object)")
        arrays[name] = array
    arrays[_ORDER_KEY] = numpy.array(list(arrays.keys()) or [""], dtype=str)
    path = os.fspath(path)
    with open(path, "wb") as f:  # keep the exact file name (numpy would append .npz)
        numpy.savez(f, **arrays)


def load(path, map_location=None):
    """Read a file written by ``save``: an ordered mapping ``name -> Tensor`` (CPU unless
    ``map_location`` names a device). Refuses pickled content; a corrupt or foreign file gets
    an error that names it."""
    path = os.fspath(path)
    try:
        with numpy.load(path, allow_pickle=False) as npz:
            if not hasattr(npz, "files"):
                raise ValueError("it holds a single array, not a named collection")
            order = list(npz[_ORDER_KEY]) if _ORDER_KEY in npz.files else list(npz.files)
            out = OrderedDict()
            for name in order:
                if name == "" and name not in npz.files:
                    continue
                array = npz[name]
                t = Tensor._make(array, False)
                out[str(name)] = t.to(map_location) if map_location is not None else t
            return out
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError) as exc:
        raise ValueError(f"load: {path} is not a readable minidl .npz file ({exc})") from exc
