"""Saving and loading tensors as ``.npz`` files (never pickle).

``save(state_dict, path)`` writes a mapping of names to Tensors (or arrays); ``load(path)``
reads it back as an ordered mapping of names to CPU tensors. Arrays from the GPU are copied
to host memory first, so a file saved on a GPU machine loads on a CPU-only one.

The file is NumPy's ``.npz`` layout: a zip archive with one ``<name>.npy`` member per array, in
the mapping's order. ``save`` is atomic (``minidl._files.atomic_write``). ``load`` trusts nothing
in the file: pickled (object) arrays are refused, every member's declared size and every ``.npy``
header's shape x itemsize are checked against a limit (``max_bytes=``, else
``$MINIDL_MAX_LOAD_BYTES``, else 4 GiB) and against each other before anything is allocated, and
a truncated or corrupt file raises ``FileFormatError`` naming the file and what is wrong.

``cast_exactly`` is the one place where a loaded array meets the dtype of its destination: a
value that the destination dtype cannot hold (1e300 into float32, 0.5 or NaN into an integer) is
an error, never an ``inf`` or a wrapped integer.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections import OrderedDict

import numpy
from numpy.lib import format as npy_format

from . import backend
from ._files import CORRUPT_FILE_ERRORS, FileFormatError, atomic_write, check_size, max_load_bytes
from .tensor import Tensor

__all__ = ["FileFormatError", "cast_exactly", "load", "read_npz", "save", "write_npz"]

_ORDER_KEY = "__minidl_order__"
_COMMENT = b"minidl npz, members: "  # the archive's comment: lets a reader notice a member gone missing
_LOADABLE_KINDS = "biufc"  # bool, signed, unsigned, float, complex
_CHUNK = 16 << 20


# ---- .npz writing ----------------------------------------------------------------------------------
def write_npz(f, arrays):
    """Write ``{name: numpy array}`` to the binary file object ``f`` as an ``.npz`` archive (members
    ``<name>.npy`` in the mapping's order, stored uncompressed, no pickles). The archive's
    comment records the number of members."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        z.comment = _COMMENT + str(len(arrays)).encode()
        for name, array in arrays.items():
            with z.open(name + ".npy", "w", force_zip64=True) as out:
                npy_format.write_array(out, numpy.asanyarray(array), allow_pickle=False)


def save(obj, path):
    """Write a mapping ``name -> Tensor | array | number`` to ``path`` (a ``.npz`` file), atomically:
    a crash during the save leaves the previous file as it was."""
    if not hasattr(obj, "items"):
        raise TypeError(f"save: expected a mapping of names to tensors (a state_dict), got {type(obj).__name__}")
    arrays = OrderedDict()
    for name, value in obj.items():
        if not isinstance(name, str) or name in ("", _ORDER_KEY) or "\x00" in name:
            raise ValueError(f"save: keys must be non-empty strings without NUL (and not {_ORDER_KEY!r}), got {name!r}")
        if isinstance(value, Tensor):
            value = value.array
        array = backend.as_numpy(value) if hasattr(value, "shape") else numpy.asarray(value)
        if array.dtype.kind not in _LOADABLE_KINDS:
            raise TypeError(f"save: value for {name!r} has dtype {array.dtype}, not a tensor dtype (bool, int, "
                            "float, complex)")
        arrays[name] = array
    arrays[_ORDER_KEY] = numpy.array(list(arrays.keys()), dtype=str)
    with atomic_write(path) as f:  # keeps the exact file name (numpy.savez would append .npz)
        write_npz(f, arrays)


# ---- .npz reading ----------------------------------------------------------------------------------
def _read_header(f, name, member):
    version = npy_format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = npy_format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = npy_format.read_array_header_2_0(f)
    else:
        raise FileFormatError(name, f"member {member!r} has .npy version {version}, expected 1.0 or 2.0")
    if dtype.hasobject or (dtype.kind not in _LOADABLE_KINDS and dtype.kind != "U") or dtype.fields:
        raise FileFormatError(name, f"member {member!r} has dtype {dtype}: only numeric arrays are loaded "
                                    "(never pickled objects)")
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise FileFormatError(name, f"member {member!r} declares an invalid shape {shape}")
    return shape, fortran, dtype


def _read_member(z, info, name, limit):
    """One ``.npy`` member as an array, its header checked before its data is allocated."""
    member = info.filename
    with z.open(info) as f:
        shape, fortran, dtype = _read_header(f, name, member)
        nbytes = math.prod(shape) * dtype.itemsize
        check_size(name, f"member {member!r} of shape {shape} and dtype {dtype}", nbytes, limit)
        available = info.file_size - f.tell()
        if nbytes != available:
            raise FileFormatError(name, f"member {member!r} declares shape {shape} of {dtype} ({nbytes:,} bytes) "
                                        f"but holds {available:,} bytes of data")
        flat = numpy.empty(math.prod(shape), dtype=dtype)
        view = memoryview(flat.view(numpy.uint8)) if nbytes else memoryview(b"")
        done = 0
        while done < nbytes:
            got = f.readinto(view[done:done + _CHUNK])
            if not got:
                raise FileFormatError(name, f"member {member!r} is truncated ({done:,} of {nbytes:,} bytes)")
            done += got
        if f.read(1):
            raise FileFormatError(name, f"member {member!r} has data after its array")
    array = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return array


def _members(z, name, limit):
    infos = z.infolist()
    if z.comment.startswith(_COMMENT[:6]):
        count = z.comment[len(_COMMENT):]
        if not z.comment.startswith(_COMMENT) or not count.isdigit() or int(count) != len(infos):
            raise FileFormatError(name, f"the archive lists {len(infos)} members, but its comment says "
                                        f"{z.comment!r} (the central directory is damaged)")
    seen = set()
    for info in infos:
        if not info.filename.endswith(".npy") or info.is_dir():
            raise FileFormatError(name, f"member {info.filename!r} is not a .npy array")
        if info.filename in seen:
            raise FileFormatError(name, f"member {info.filename!r} appears twice")
        seen.add(info.filename)
    check_size(name, "the archive's members (declared sizes)", sum(i.file_size for i in infos), limit)
    return infos


def read_npz(source, name=None, max_bytes=None):
    """``{name: numpy array}`` of an ``.npz`` archive in file order. ``source`` is a path or a binary
    file object (``name`` then says what to call it in errors). Nothing is unpickled; sizes are
    checked against ``max_load_bytes(max_bytes)`` before allocating; any malformation is a
    FileFormatError naming the file."""
    limit = max_load_bytes(max_bytes)
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source) if name is None else name
        with open(source, "rb") as f:  # a missing file stays a FileNotFoundError
            return read_npz(f, name, max_bytes=limit)
    name = "<stream>" if name is None else name
    try:
        with zipfile.ZipFile(source) as z:
            arrays = OrderedDict()
            for info in _members(z, name, limit):
                arrays[info.filename[:-4]] = _read_member(z, info, name, limit)
            return arrays
    except FileFormatError:
        raise
    except zipfile.BadZipFile as exc:
        raise FileFormatError(name, f"not a readable .npz (zip) archive: {exc}") from exc
    except CORRUPT_FILE_ERRORS as exc:
        raise FileFormatError(name, f"corrupt .npz archive ({type(exc).__name__}: {exc})") from exc


def _ordered(arrays, path):
    """The arrays in the order saved in ``_ORDER_KEY`` (checked against the members), else file order."""
    if _ORDER_KEY not in arrays:
        return arrays
    order = arrays.pop(_ORDER_KEY)
    if order.dtype.kind != "U" or order.ndim != 1:
        raise FileFormatError(path, f"{_ORDER_KEY} is not a list of names")
    names = [str(n) for n in order if str(n) or "" in arrays]  # older files wrote [""] for an empty mapping
    if sorted(names) != sorted(arrays) or len(set(names)) != len(names):
        raise FileFormatError(path, f"the saved order of names does not match the arrays ({len(names)} names, "
                                    f"{len(arrays)} arrays)")
    return OrderedDict((n, arrays[n]) for n in names)


def load(path, map_location=None, max_bytes=None):
    """Read a file written by ``save``: an ordered mapping ``name -> Tensor`` (CPU unless
    ``map_location`` names a device). Refuses pickled content and arrays larger than
    ``max_bytes`` (default ``$MINIDL_MAX_LOAD_BYTES`` or 4 GiB); a corrupt or foreign file
    raises ``FileFormatError`` (a ``ValueError``) that names it."""
    path = os.fspath(path)
    arrays = _ordered(read_npz(path, max_bytes=max_bytes), path)
    out = OrderedDict()
    for key, array in arrays.items():
        if array.dtype.kind not in _LOADABLE_KINDS:
            raise FileFormatError(path, f"array {key!r} has dtype {array.dtype}, not a tensor dtype")
        t = Tensor._make(array, False)
        out[key] = t.to(map_location) if map_location is not None else t
    return out


# ---- dtypes ----------------------------------------------------------------------------------------
def _unrepresentable(xp, array, out, target):
    """Mask of the elements of ``array`` (real) that ``out = array.astype(target)`` does not hold."""
    source = array.dtype
    if target.kind == "b":
        return (array != 0) & (array != 1)
    if target.kind in "iu":  # fractions, NaN, infinities and out-of-range values do not come back
        return out.astype(source) != array
    return ~xp.isfinite(out) & xp.isfinite(array) if source.kind in "fc" else ~xp.isfinite(out)


def cast_exactly(array, dtype, what="cast"):
    """``array`` as ``dtype``; ValueError when some value cannot be represented there (overflow to
    infinity, a fraction or NaN into an integer type, an integer out of range, a nonzero
    imaginary part). Rounding to the nearest representable value (0.1 into float32) is fine."""
    dtype = numpy.dtype(dtype)
    if array.dtype == dtype:
        return array
    xp = backend.get_array_module(array)
    real = array.real if array.dtype.kind == "c" and dtype.kind != "c" else array
    with numpy.errstate(over="ignore", invalid="ignore"):
        out = real.astype(dtype)
        bad = _unrepresentable(xp, real, out, dtype)
        if real is not array:
            bad = bad | (array.imag != 0)
    if bool(bad.any()):
        index = tuple(int(i) for i in xp.argwhere(bad)[0]) if array.ndim else ()
        value = array[index].item()
        raise ValueError(f"{what}: {value!r} at index {index} ({int(bad.sum())} value(s) in all) cannot be "
                         f"represented as {dtype} (the data is {array.dtype})")
    return out
