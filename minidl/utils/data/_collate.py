"""``default_collate``: how the DataLoader merges a list of samples into one batch."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy

from ... import backend
from ... import functional as F
from ...dtypes import get_default_dtype, int64
from ...tensor import Tensor

__all__ = ["default_collate", "default_convert"]


def _stack_arrays(arrays, what):
    first = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != first:
            raise ValueError(
                f"default_collate: cannot stack {what} of different shapes {tuple(first)} (sample 0) and "
                f"{tuple(a.shape)} (sample {i}); pad them to one shape or pass a collate_fn"
            )
    return backend.get_array_module(arrays[0]).stack(arrays)


def _kinds(batch):
    return sorted({type(b).__name__ for b in batch})


def _collate_tensors(batch):
    elem = batch[0]
    if not all(isinstance(b, Tensor) for b in batch):
        raise TypeError(f"default_collate: a batch mixes Tensors with {_kinds(batch)}")
    if any(b.device != elem.device for b in batch):
        raise ValueError("default_collate: samples are on different devices")
    if any(b.requires_grad for b in batch):
        _stack_arrays([b.array for b in batch], "Tensors")  # the shape check and its message
        return F.stack(list(batch))
    return Tensor._make(_stack_arrays([b.array for b in batch], "Tensors"), False)


def _collate_arrays(batch):
    if not all(isinstance(b, numpy.ndarray) for b in batch):
        raise TypeError(f"default_collate: a batch mixes arrays with {_kinds(batch)}")
    if batch[0].dtype.kind in "OUSV":
        raise TypeError(f"default_collate: arrays of dtype {batch[0].dtype} cannot become a Tensor")
    return Tensor._make(_stack_arrays(batch, "arrays"), False)


def _collate_numbers(batch):
    if not all(isinstance(b, (numbers.Number, numpy.generic)) for b in batch):
        raise TypeError(f"default_collate: a batch mixes numbers with {_kinds(batch)}")
    if all(isinstance(b, numpy.generic) for b in batch):
        values = numpy.asarray(batch)
    elif all(isinstance(b, (bool, numpy.bool_)) for b in batch):
        values = numpy.asarray(batch, dtype=bool)
    elif all(isinstance(b, numbers.Integral) for b in batch):
        values = numpy.asarray(batch, dtype=int64)
    elif all(isinstance(b, numbers.Real) for b in batch):
        values = numpy.asarray(batch, dtype=get_default_dtype())
    else:
        raise TypeError(f"default_collate: cannot make a Tensor from numbers of types {_kinds(batch)}")
    if values.dtype.kind not in "biuf":
        raise TypeError(f"default_collate: numbers of dtype {values.dtype} cannot become a Tensor")
    return Tensor._make(values, False)


def _collate_mappings(batch):
    elem = batch[0]
    keys = list(elem.keys())
    for i, b in enumerate(batch):
        if not isinstance(b, Mapping) or set(b.keys()) != set(keys):
            got = sorted(b.keys()) if isinstance(b, Mapping) else type(b).__name__
            raise ValueError(f"default_collate: sample {i} has keys {got}, sample 0 has {sorted(keys)}")
    out = {k: default_collate([b[k] for b in batch]) for k in keys}
    try:
        return type(elem)(out)
    except TypeError:
        return out


def _collate_sequences(batch):
    elem = batch[0]
    for i, b in enumerate(batch):
        if not isinstance(b, (tuple, list)) or len(b) != len(elem):
            size = len(b) if isinstance(b, (tuple, list)) else type(b).__name__
            raise ValueError(f"default_collate: sample {i} has {size} fields, sample 0 has {len(elem)}")
    fields = [default_collate(list(samples)) for samples in zip(*batch)]
    if hasattr(elem, "_fields"):  # a namedtuple
        return type(elem)(*fields)
    return tuple(fields) if isinstance(elem, tuple) else fields


def default_collate(batch):
    """Merge a list of samples into one batch, recursively:

    - Tensors and NumPy arrays of one shape → a Tensor with a new first dim (dtype kept);
    - numbers → a 1-d Tensor: bools → bool, ints → int64, floats → the default float dtype
      (float32); NumPy scalars keep their dtype;
    - strings → a list of strings;
    - dicts → a dict of collated values; tuples and lists → a tuple/list of collated fields.
    """
    if not isinstance(batch, Sequence) or len(batch) == 0:
        raise ValueError("default_collate: expected a non-empty list of samples")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _collate_tensors(batch)
    if isinstance(elem, numpy.ndarray):
        return _collate_arrays(batch)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, (numbers.Number, numpy.generic)):
        return _collate_numbers(batch)
    if isinstance(elem, Mapping):
        return _collate_mappings(batch)
    if isinstance(elem, (tuple, list)):
        return _collate_sequences(batch)
    raise TypeError(
        f"default_collate: samples must be Tensors, NumPy arrays, numbers, strings, dicts, tuples or lists; "
        f"got {type(elem).__name__}"
    )


def default_convert(data):
    """What the DataLoader yields per sample when batching is off (``batch_size=None``): NumPy
    arrays become Tensors (inside dicts, tuples and lists too); everything else is kept."""
    if isinstance(data, numpy.ndarray) and data.dtype.kind in "biufc":
        return Tensor._make(data, False)
    if isinstance(data, Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(out)
        except TypeError:
            return out
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(v) for v in data))
    if isinstance(data, (tuple, list)):
        return type(data)(default_convert(v) for v in data)
    return data
