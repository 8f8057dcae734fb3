"""Saving and loading tensors and checkpoints (``minidl.save`` / ``minidl.load``), never with pickle.

    minidl.save(model.state_dict(), "model.npz")                  # the state_dict layout
    minidl.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "ckpt.pt")
    ckpt = minidl.load("ckpt.pt", map_location="cpu")               # the tree layout

Both layouts are NumPy's ``.npz``: a zip archive of ``.npy`` members, stored uncompressed,
written atomically (``minidl._files.atomic_write``: a crash leaves the previous file whole), and
readable by ``numpy.load(path, allow_pickle=False)`` too.

- **state_dict layout** (a mapping of names to Tensors or arrays): one ``<name>.npy`` member per
  array, and ``__minidl_order__.npy`` with the names in the mapping's order. ``load`` returns an
  ordered mapping ``name -> Tensor``.
- **tree layout** (anything else: nested dicts, lists, tuples of Tensors, arrays, numbers,
  strings, None): one member per array object, named ``0.npy``, ``1.npy``, ..., and
  ``__minidl_tree__.npy``, a 1-d ``uint8`` array holding UTF-8 JSON
  ``{"format": "minidl.tree", "version": 1, "root": NODE}``. A NODE is an object with one tag:
  ``{"tensor": "0", "requires_grad": false, "device": "cpu"}``, ``{"ndarray": "1"}``,
  ``{"scalar": "2"}`` (a NumPy scalar), ``{"int": "5"}``, ``{"float": "0.1"}`` (``repr``, so
  ``inf`` and ``nan`` survive), ``{"complex": ["1.0", "2.0"]}``, ``{"bool": true}``,
  ``{"str": "..."}``, ``{"none": null}``, ``{"list": [NODE, ...]}``, ``{"tuple": [NODE, ...]}``,
  ``{"dict": [[KEY NODE, VALUE NODE], ...], "ordered": true}`` (keys may be ints, as in an
  optimizer's state). A Tensor saved twice is stored once and loads as one object.

``load`` trusts nothing in the file: pickled (object) arrays are refused, every member's declared
size and every ``.npy`` header's shape x itemsize are checked against a limit (``max_bytes=``, else
``$MINIDL_MAX_LOAD_BYTES``, else 4 GiB) and against each other before anything is allocated; the
JSON structure may nest at most ``MAX_TREE_DEPTH`` levels, every node is checked for its tag and
type, every member it names must exist and every member must be named; anything else raises
``FileFormatError`` naming the file and what is wrong.

``cast_exactly`` is the one place where a loaded array meets the dtype of its destination: a
value that the destination dtype cannot hold (1e300 into float32, 0.5 or NaN into an integer) is
an error, never an ``inf`` or a wrapped integer.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections import OrderedDict
from collections.abc import Mapping

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


def _is_array_like(value):
    """A Tensor, a NumPy array or scalar, or a device array (CuPy's)."""
    return isinstance(value, (Tensor, numpy.ndarray, numpy.generic)) or (hasattr(value, "shape") and
                                                                         hasattr(value, "dtype"))


def _is_flat_state(obj):
    """A mapping of names to tensors and arrays only: saved in the plain ``.npz`` layout."""
    return isinstance(obj, Mapping) and all(_is_array_like(v) for v in obj.values())


def _flat_arrays(obj):
    arrays = OrderedDict()
    for name, value in obj.items():
        if not isinstance(name, str) or name in ("", _ORDER_KEY, TREE_KEY) or "\x00" in name:
            raise ValueError(f"save: keys must be non-empty strings without NUL (and not {_ORDER_KEY!r}), got {name!r}")
        arrays[name] = _host_array(value, repr(name))
    arrays[_ORDER_KEY] = numpy.array(list(arrays.keys()), dtype=str)
    return arrays


def _host_array(value, where):
    if isinstance(value, Tensor):
        value = value.array
    array = backend.as_numpy(value) if hasattr(value, "shape") else numpy.asarray(value)
    if array.dtype.kind not in _LOADABLE_KINDS:
        raise TypeError(f"save: value for {where} has dtype {array.dtype}, not a tensor dtype (bool, int, "
                        "float, complex)")
    return array


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Write ``obj`` to ``f`` (a path, written atomically: a crash during the save leaves the
    previous file as it was; or a binary file object), never with pickle.

    ``obj`` is a state_dict (a mapping of names to Tensors or arrays: the plain ``.npz`` layout),
    or any nesting of dicts, lists and tuples of Tensors, arrays, numbers, strings and None (a
    checkpoint ``{"model": ..., "optimizer": opt.state_dict(), "epoch": 3}``: the tree layout,
    see the module's docstring). ``pickle_module`` must be None: minidl does not pickle."""
    if pickle_module is not None:
        raise TypeError("save: minidl never pickles, so pickle_module must be None (the format is documented in "
                        "minidl.serialization)")
    arrays = _flat_arrays(obj) if _is_flat_state(obj) else tree_arrays(obj)
    if hasattr(f, "write"):
        write_npz(f, arrays)
        return
    with atomic_write(f) as out:  # keeps the exact file name (numpy.savez would append .npz)
        write_npz(out, arrays)


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


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, max_bytes=None, **_):
    """Read what ``save`` wrote, from a path or a binary file object.

    A state_dict file gives an ordered mapping ``name -> Tensor``; a tree file gives back its
    nesting of dicts (OrderedDicts stay ordered), lists, tuples, Tensors (with their
    ``requires_grad``), NumPy arrays, numbers, strings and None. Tensors load on the CPU unless
    ``map_location`` says otherwise: a device (``"cpu"``, ``"cuda:0"``, ``minidl.device(...)``),
    a dict from the saved device's name to a device (``{"cuda:0": "cpu"}``), or a function
    ``(tensor, saved_device_name) -> tensor``. Nothing is ever unpickled, so ``weights_only``
    (PyTorch's switch for its unpickler) changes nothing; ``mmap`` is accepted too. Arrays larger
    than ``max_bytes`` (default ``$MINIDL_MAX_LOAD_BYTES`` or 4 GiB) are refused before they are
    allocated; a corrupt or foreign file raises ``FileFormatError`` (a ``ValueError``) naming it."""
    if pickle_module is not None:
        raise TypeError("load: minidl never unpickles, so pickle_module must be None")
    name = getattr(f, "name", "<stream>") if hasattr(f, "read") else os.fspath(f)
    source = f if hasattr(f, "read") else name
    arrays = read_npz(source, name=name, max_bytes=max_bytes)
    if TREE_KEY in arrays:
        return tree_from_arrays(arrays, name, lambda t, saved: _placed(t, saved, map_location))
    out = OrderedDict()
    for key, array in _ordered(arrays, name).items():
        if array.dtype.kind not in _LOADABLE_KINDS:
            raise FileFormatError(name, f"array {key!r} has dtype {array.dtype}, not a tensor dtype")
        out[key] = _placed(Tensor._make(array, False), "cpu", map_location)
    return out


def _placed(t, saved, map_location):
    """``t`` (on the CPU) where ``map_location`` puts a tensor saved on device ``saved``."""
    if map_location is None:
        return t
    if callable(map_location) and not isinstance(map_location, (str, backend.Device)):
        moved = map_location(t, saved)
        return t if moved is None else moved
    if isinstance(map_location, Mapping):
        target = map_location.get(saved)
        return t if target is None else t.to(target)
    return t.to(map_location)


# ---- the tree layout: nested checkpoints ---------------------------------------------------------
TREE_KEY = "__minidl_tree__"
TREE_FORMAT, TREE_VERSION = "minidl.tree", 1
MAX_TREE_DEPTH = 100
_TENSOR_KINDS = ("tensor", "ndarray", "scalar")


def _tree_node(value, arrays, seen, where, depth):
    """The JSON node of ``value``; its arrays are appended to ``arrays`` (one member per object)."""
    if depth > MAX_TREE_DEPTH:
        raise ValueError(f"save: the object is nested more than {MAX_TREE_DEPTH} levels deep at {where}")
    if value is None or isinstance(value, bool):
        return {"none": None} if value is None else {"bool": bool(value)}
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, complex):
        return {"complex": [repr(value.real), repr(value.imag)]}
    if isinstance(value, str):
        return {"str": value}
    if _is_array_like(value):
        return _tensor_node(value, arrays, seen, where)
    if isinstance(value, Mapping):
        items = [[_tree_node(k, arrays, seen, f"{where} (a key)", depth + 1),
                  _tree_node(v, arrays, seen, f"{where}[{k!r}]", depth + 1)] for k, v in value.items()]
        return {"dict": items, "ordered": isinstance(value, OrderedDict)}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {kind: [_tree_node(v, arrays, seen, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]}
    raise TypeError(f"save: cannot store a {type(value).__name__} at {where}: only Tensors, arrays, numbers, "
                    "strings, None and dicts, lists and tuples of them are saved (never pickled objects)")


def _tensor_node(value, arrays, seen, where):
    key = id(value)
    if key not in seen:  # one member per object: a tensor saved twice comes back as one object
        seen[key] = (str(len(seen)), value)
        arrays[seen[key][0]] = _host_array(value, where)
    member = seen[key][0]
    if isinstance(value, Tensor):
        return {"tensor": member, "requires_grad": bool(value.requires_grad), "device": str(value.device)}
    return {"scalar" if isinstance(value, numpy.generic) else "ndarray": member}


def tree_arrays(obj):
    """The members of a tree file for ``obj``: its arrays ``"0"``, ``"1"``, ... and ``TREE_KEY``,
    the structure as UTF-8 JSON in a 1-d uint8 array."""
    arrays, seen = OrderedDict(), {}
    root = _tree_node(obj, arrays, seen, "the object", 0)
    text = json.dumps({"format": TREE_FORMAT, "version": TREE_VERSION, "root": root}, ensure_ascii=False)
    arrays[TREE_KEY] = numpy.frombuffer(text.encode("utf-8"), dtype=numpy.uint8)
    return arrays


class _TreeReader:
    """Rebuilds the object of a tree file; every malformation is a FileFormatError naming the file."""

    def __init__(self, arrays, name, place):
        self.arrays, self.name, self.place = arrays, name, place
        self.made, self.used = {}, set()

    def fail(self, problem):
        raise FileFormatError(self.name, problem)

    def node(self, node, depth):
        if depth > MAX_TREE_DEPTH:
            self.fail(f"the structure is nested more than {MAX_TREE_DEPTH} levels deep")
        if not isinstance(node, dict) or not node:
            self.fail(f"a node of the structure is {type(node).__name__}, not a tagged object")
        kind = next(iter(node))
        value = node[kind]
        try:
            if kind in _TENSOR_KINDS:
                return self.array(kind, value, node)
            if kind in ("list", "tuple"):
                items = [self.node(v, depth + 1) for v in self.sequence(value, kind)]
                return items if kind == "list" else tuple(items)
            if kind == "dict":
                return self.mapping(node, depth)
            return self.leaf(kind, value)
        except (TypeError, ValueError, OverflowError) as exc:
            if isinstance(exc, FileFormatError):
                raise
            self.fail(f"a {kind!r} node holds {str(value)[:40]!r}: {exc}")

    def sequence(self, value, kind):
        if not isinstance(value, list):
            self.fail(f"a {kind!r} node holds a {type(value).__name__}, not a list")
        return value

    def mapping(self, node, depth):
        out = OrderedDict() if node.get("ordered") is True else {}
        for pair in self.sequence(node["dict"], "dict"):
            if not isinstance(pair, list) or len(pair) != 2:
                self.fail("a 'dict' entry is not a [key, value] pair")
            key = self.node(pair[0], depth + 1)
            out[key] = self.node(pair[1], depth + 1)  # an unhashable key raises TypeError: reported above
        return out

    def leaf(self, kind, value):
        if kind == "none" and value is None:
            return None
        if kind == "bool" and isinstance(value, bool):
            return value
        if kind == "int" and isinstance(value, str) and len(value) <= 4300:
            return int(value)
        if kind == "float" and isinstance(value, str) and len(value) <= 40:
            return float(value)
        if kind == "complex" and isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
            return complex(float(value[0][:40]), float(value[1][:40]))
        if kind == "str" and isinstance(value, str):
            return value
        self.fail(f"unknown or malformed node {kind!r}")

    def array(self, kind, member, node):
        if not isinstance(member, str) or member not in self.arrays or member == TREE_KEY:
            self.fail(f"a {kind!r} node names member {str(member)[:40]!r}, which the archive does not hold")
        if self.arrays[member].dtype.kind not in _LOADABLE_KINDS:
            self.fail(f"array {member!r} has dtype {self.arrays[member].dtype}, not a tensor dtype")
        if (kind, member) in self.made:
            return self.made[kind, member]
        self.used.add(member)
        array = self.arrays[member]
        if kind == "scalar":
            made = array[()] if array.ndim == 0 else self.fail(f"scalar member {member!r} is not 0-d")
        elif kind == "ndarray":
            made = array
        else:
            made = self.place(Tensor._make(array, node.get("requires_grad") is True), str(node.get("device", "cpu")))
        self.made[kind, member] = made
        return made


def tree_from_arrays(arrays, name, place):
    """The object of a tree file from its members; ``place(tensor, saved_device)`` puts each Tensor."""
    header = arrays.pop(TREE_KEY)
    if header.dtype != numpy.uint8 or header.ndim != 1:
        raise FileFormatError(name, f"{TREE_KEY} is not UTF-8 text (dtype {header.dtype}, shape {header.shape})")
    try:
        doc = json.loads(header.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FileFormatError(name, f"{TREE_KEY} is not valid JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != TREE_FORMAT or "root" not in doc:
        raise FileFormatError(name, f"{TREE_KEY} does not describe a {TREE_FORMAT} structure")
    if doc.get("version") != TREE_VERSION:
        raise FileFormatError(name, f"{TREE_FORMAT} version {doc.get('version')!r}; this minidl reads version "
                                    f"{TREE_VERSION}")
    reader = _TreeReader(arrays, name, place)
    obj = reader.node(doc["root"], 0)
    unused = sorted(set(arrays) - reader.used)
    if unused:
        raise FileFormatError(name, f"members {unused[:5]} are not part of the structure")
    return obj


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
