"""Data for ``fit`` / ``evaluate`` / ``predict``: arrays (or an iterable of batches such as a
minidl ``DataLoader``) turned into batches of Tensors on the model's device.

Arrays are checked against the model (number of inputs, dtypes, shapes, same number of samples
in x, y and sample_weight) before the first batch. On a GPU the whole data set is copied there
once when it fits in a quarter of the free memory, so batches are cut on the device.
"""

from __future__ import annotations

import math

import numpy

from .. import backend
from ..tensor import Tensor
from .compile_utils import flatten_targets


def to_array(x, what):
    """``x`` (Tensor, NumPy or CuPy array, nested lists) as an array; ``what`` names the caller."""
    if isinstance(x, Tensor):
        return x.array
    if hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, numpy.ndarray):
        return x  # a CuPy array
    try:
        return numpy.asarray(x)
    except Exception as exc:
        raise TypeError(f"{what}: cannot use a {type(x).__name__} as an array ({exc})") from exc


def is_batch_iterable(x):
    """A DataLoader, generator or other iterable of batches (not an array or a list of arrays)."""
    if x is None or isinstance(x, (numpy.ndarray, Tensor, list, tuple, dict)) or hasattr(x, "shape"):
        return False
    return hasattr(x, "__iter__")


class ArrayBatches:
    """Arrays cut into batches of ``(xs, y, sample_weight)``, on the model's device."""

    def __init__(self, xs, y, batch_size, shuffle, device, sample_weight=None):
        self.xs, self.y, self.sw = xs, y, sample_weight
        self.n = len(xs[0])
        self.batch_size, self.shuffle = batch_size, shuffle
        self.device = device
        if device.type == "cuda" and self._fits_on_device():
            self.xs = [backend.to_device(a, device) for a in self.xs]
            self.y = _map_targets(lambda a: backend.to_device(a, device), y)
            self.sw = None if sample_weight is None else backend.to_device(sample_weight, device)

    def _fits_on_device(self):
        total = sum(a.nbytes for a in self.xs) + sum(a.nbytes for a in _target_leaves(self.y))
        try:
            free = backend.require_cuda(self.device).cuda.Device(self.device.index).mem_info[0]
        except Exception:
            return False
        return total < free / 4

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        order = backend.rng_for(backend.CPU).permutation(self.n) if self.shuffle else None
        for start in range(0, self.n, self.batch_size):
            if order is None:
                idx = slice(start, start + self.batch_size)
            else:
                idx = order[start : start + self.batch_size]
                xp = backend.get_array_module(self.xs[0])
                idx = xp.asarray(idx)
            xs = [self._tensor(a[idx]) for a in self.xs]
            y = _map_targets(lambda a, idx=idx: self._tensor(a[idx]), self.y)
            sw = None if self.sw is None else self.sw[idx]
            yield xs, y, sw

    def _tensor(self, a):
        return Tensor._make(backend.to_device(numpy.ascontiguousarray(a) if isinstance(a, numpy.ndarray) else a,
                                              self.device), False)


def _map_targets(fn, y):
    """``fn`` on the target array, or on each array of a list of targets (None stays None)."""
    if y is None:
        return None
    if isinstance(y, list):
        return [None if a is None else fn(a) for a in y]
    return fn(y)


def _target_leaves(y):
    return [] if y is None else [a for a in (y if isinstance(y, list) else [y]) if a is not None]


class IterableBatches:
    """An iterable of (x, y) or (x, y, sample_weight) batches (e.g. a minidl DataLoader), each
    converted like arrays are."""

    def __init__(self, source, model, device, what, need_y=True):
        self.source, self.model, self.device, self.what, self.need_y = source, model, device, what, need_y

    def __len__(self):
        return len(self.source) if hasattr(self.source, "__len__") else None

    def __iter__(self):
        for item in self.source:
            if isinstance(item, (list, tuple)) and len(item) in (2, 3) and not self._is_multi_input(item):
                x, y = item[0], item[1]
                sw = item[2] if len(item) == 3 else None
            else:
                if self.need_y:
                    raise ValueError(f"{self.what}: each batch must be a pair (x, y), got a {type(item).__name__}")
                x, y, sw = item, None, None
            xs = self.model._input_arrays(x, self.what)
            xs = [Tensor._make(backend.to_device(a, self.device), False) for a in xs]
            if y is not None:
                ys = [None if a is None else Tensor._make(backend.to_device(a, self.device), False)
                      for a in self.model._target_list(y, self.what)]
                y = ys[0] if len(ys) == 1 else ys
            yield xs, y, None if sw is None else to_array(sw, self.what)

    def _is_multi_input(self, item):
        return not self.need_y and len(self.model._input_names()) == len(item)


def _batches_of_iterable(model, x, y, what, need_y):
    if y is not None:
        raise ValueError(f"{what}: y must be None when x is an iterable of batches (it yields (x, y))")
    if not model.built:
        first = next(iter(x))
        xb = first[0] if isinstance(first, (list, tuple)) and need_y else first
        model._ensure_built(model._input_arrays(xb, what))
    return IterableBatches(x, model, model.device, what, need_y=need_y)


def _check_targets(model, ys):
    """Each output's targets against its loss and the output's known shape (clear errors early)."""
    if model.compiled_loss is None:
        return
    shapes = model._known_output_shapes()
    if shapes is None:
        return
    for loss, t, shape in zip(model.compiled_loss.losses, ys, shapes):
        if loss is not None and t is not None and shape is not None:
            loss.check_targets(backend.as_numpy(t), shape)


def make_batches(model, x, y, what, batch_size, shuffle, sample_weight=None, need_y=True):
    """Batches of ``(xs, y, sample_weight)`` for ``model`` from arrays or an iterable of batches;
    the model is built from the first data it sees. With several outputs, y is a list."""
    if is_batch_iterable(x):
        return _batches_of_iterable(model, x, y, what, need_y)
    if x is None:
        raise ValueError(f"{what}: x is required")
    xs = model._input_arrays(x, what)
    if need_y and y is None:
        raise ValueError(f"{what}: y (the targets) is required when x is an array")
    ys = None
    if y is not None:
        ys = [None if t is None else to_array(t, what) for t in flatten_targets(y, model._output_names(), what)]
    model._check_cardinality(xs, ys, what)
    model._ensure_built(xs)
    model._check_input_arrays(xs)
    y_arr = None
    if ys is not None:
        _check_targets(model, ys)
        ys = model._target_list(ys, what)
        y_arr = ys[0] if len(ys) == 1 else ys
    sw = None if sample_weight is None else numpy.asarray(sample_weight, dtype=model._dtype)
    if sw is not None and len(sw) != len(xs[0]):
        raise ValueError(f"{what}: sample_weight has {len(sw)} entries for {len(xs[0])} samples")
    return ArrayBatches(xs, y_arr, batch_size, shuffle, model.device, sw)


def split_validation(model, x, y, sample_weight, validation_split):
    """Hold out the last ``validation_split`` of the samples (before shuffling):
    ``(x, y, sample_weight, validation_data)``."""
    if is_batch_iterable(x):
        raise ValueError("fit: validation_split needs arrays; pass validation_data with an iterable")
    xs = model._input_arrays(x, "fit")
    ys = None if y is None else [None if t is None else to_array(t, "fit")
                                 for t in flatten_targets(y, model._output_names(), "fit")]
    n = len(xs[0])
    split = int(n * (1.0 - validation_split))
    if split == 0 or split == n:
        raise ValueError(f"fit: validation_split={validation_split} leaves no training or no validation "
                         f"samples out of {n}")

    def part(arrays, sl):
        if arrays is None:
            return None
        cut = [None if a is None else a[sl] for a in arrays]
        return cut[0] if len(cut) == 1 else cut

    validation_data = (part(xs, slice(split, None)), part(ys, slice(split, None)))
    x, y = part(xs, slice(None, split)), part(ys, slice(None, split))
    if sample_weight is not None:
        sample_weight = numpy.asarray(sample_weight)[:split]
    return x, y, sample_weight, validation_data


def validation_batches(model, validation_data, batch_size):
    """Batches of ``validation_data``: ``(x_val, y_val[, sample_weight])`` or an iterable of batches."""
    what = "fit (validation_data)"
    if is_batch_iterable(validation_data):
        return make_batches(model, validation_data, None, what, batch_size, False)
    if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
        raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or an iterable of batches")
    vsw = validation_data[2] if len(validation_data) == 3 else None
    return make_batches(model, validation_data[0], validation_data[1], what, batch_size, False, vsw)
