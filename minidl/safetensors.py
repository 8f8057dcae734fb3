"""The safetensors format: tensors stored as raw bytes behind a JSON table (never pickle).

A file is::

    N            8 bytes, little-endian unsigned: the length of the header
    header       N bytes of UTF-8 JSON: {"__metadata__": {str: str},           (optional)
                                         name: {"dtype": "F32", "shape": [2, 3],
                                                "data_offsets": [begin, end]}, ...}
    data         the tensors' bytes, little-endian, C order; data_offsets count from here

with ``end − begin = prod(shape) · itemsize`` for every tensor, and the tensors' byte spans
covering the data section exactly, one after the other (no gaps, no overlaps, nothing after).
dtypes: F64 F32 F16 I64 I32 I16 I8 U8 BOOL. BF16 has no NumPy dtype: it is refused with an
error that says so, as is every other dtype.

``save_file`` writes atomically (``minidl._files.atomic_write``). ``load_file`` and ``safe_open``
read the file as hostile input: the header length is bounded (100 MB, as the ``safetensors``
package does, and by the file's size), every entry is checked as above before a byte of tensor
data is allocated, the data size is checked against ``max_bytes`` (else ``$MINIDL_MAX_LOAD_BYTES``,
else 4 GiB), and every problem is a ``FileFormatError`` whose message starts with the file name.

``safe_open(path)`` memory-maps the file: opening reads only the header, and each tensor is
copied into memory when it is asked for (``f.get_tensor(name)``), so a checkpoint larger than
free memory can be opened and read piece by piece.

Sharded checkpoints follow the Hugging Face hub: ``save_sharded(tensors, folder, max_shard_size)``
writes ``model-00001-of-00003.safetensors``, ... (tensors in order, a new shard whenever the next
tensor would take the current one past ``max_shard_size`` bytes; a tensor bigger than that gets a
shard of its own) and ``model.safetensors.index.json``::

    {"metadata": {"total_size": <bytes of tensor data>}, "weight_map": {name: shard file name}}

A checkpoint that fits in one shard is the single file ``model.safetensors``, as the hub writes it.
``load_sharded(folder)`` reads either; the index is hostile too (shard names must be plain file
names in the folder, each shard must hold exactly the tensors the index gives it).
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
from collections import OrderedDict

import numpy

from . import backend
from ._files import FileFormatError, atomic_write, check_size, max_load_bytes, read_json, write_json
from .tensor import Tensor

__all__ = ["DTYPES", "SafeOpen", "load_file", "load_sharded", "safe_open", "save_file", "save_sharded", "serialize"]

#: safetensors dtype name -> NumPy dtype (little-endian)
DTYPES = OrderedDict([
    ("F64", numpy.dtype("<f8")), ("F32", numpy.dtype("<f4")), ("F16", numpy.dtype("<f2")),
    ("I64", numpy.dtype("<i8")), ("I32", numpy.dtype("<i4")), ("I16", numpy.dtype("<i2")),
    ("I8", numpy.dtype("i1")), ("U8", numpy.dtype("u1")), ("BOOL", numpy.dtype("?")),
])
_NAMES = {dtype: name for name, dtype in DTYPES.items()}
MAX_HEADER_BYTES = 100_000_000
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


# ---- writing ---------------------------------------------------------------------------------------
def _host_array(name, value):
    if isinstance(value, Tensor):
        value = value.array
    array = backend.as_numpy(value) if hasattr(value, "shape") else numpy.asarray(value)
    code = _NAMES.get(array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype)
    if code is None:
        raise TypeError(f"save_file: tensor {name!r} has dtype {array.dtype}, which safetensors cannot hold here "
                        f"(supported: {', '.join(DTYPES)}; bfloat16 has no NumPy dtype)")
    return code, numpy.asarray(array, dtype=DTYPES[code], order="C")  # ascontiguousarray makes 0-d 1-d


def _header(arrays, metadata):
    """The padded header bytes for ``{name: (code, array)}`` laid out in order."""
    table, offset = OrderedDict(), 0
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in metadata.items()):
            raise TypeError("save_file: metadata must be a dict of str to str")
        table["__metadata__"] = dict(metadata)
    for name, (code, array) in arrays.items():
        table[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(table, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned, as the safetensors package writes
    return struct.pack("<Q", len(text)) + text


def _prepare(tensors, metadata):
    if not hasattr(tensors, "items"):
        raise TypeError(f"save_file: expected a mapping of names to tensors, got {type(tensors).__name__}")
    arrays = OrderedDict()
    for name, value in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"save_file: tensor names must be non-empty strings other than '__metadata__', "
                             f"got {name!r}")
        arrays[name] = _host_array(name, value)
    return _header(arrays, metadata), arrays


def serialize(tensors, metadata=None) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` (``{name: Tensor | array}``, in order)."""
    head, arrays = _prepare(tensors, metadata)
    return head + b"".join(array.tobytes() for _, array in arrays.values())


def save_file(tensors, path, metadata=None):
    """Write ``tensors`` (``{name: Tensor | array}``) to ``path`` in the safetensors format,
    atomically; ``metadata`` is an optional ``{str: str}`` stored as ``__metadata__``."""
    head, arrays = _prepare(tensors, metadata)
    with atomic_write(path) as f:
        f.write(head)
        for _, array in arrays.values():
            f.write(array.tobytes())


# ---- reading ---------------------------------------------------------------------------------------
def _no_duplicates(pairs):
    out = OrderedDict()
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _is_count(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _entry(path, name, entry):
    """(dtype, shape, begin, end) of one header entry, checked."""
    if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
        raise FileFormatError(path, f"safetensors entry {name!r} must have exactly the keys dtype, shape, "
                                    f"data_offsets, got {entry!r:.200}")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if code == "BF16":
        raise FileFormatError(path, f"tensor {name!r} is BF16 (bfloat16), which minidl cannot represent: convert it "
                                    "to F32 first (e.g. torch: tensor.float())")
    if code not in DTYPES:
        raise FileFormatError(path, f"tensor {name!r} has dtype {code!r:.40}, not one of {', '.join(DTYPES)}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise FileFormatError(path, f"tensor {name!r} has shape {shape!r:.200}, not a list of non-negative ints")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
        raise FileFormatError(path, f"tensor {name!r} has data_offsets {offsets!r:.200}, not [begin, end]")
    begin, end = offsets
    nbytes = math.prod(shape) * DTYPES[code].itemsize
    if end - begin != nbytes:
        raise FileFormatError(path, f"tensor {name!r}: shape {tuple(shape)} x {DTYPES[code].itemsize} bytes = "
                                    f"{nbytes:,} bytes, but data_offsets [{begin}, {end}] span {end - begin:,}")
    return DTYPES[code], tuple(shape), begin, end


def _metadata(path, value):
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise FileFormatError(path, "__metadata__ must be an object of strings to strings")
    return dict(value)


def parse_header(path, head: bytes, data_size: int):
    """``(entries, metadata)`` from the header bytes: ``entries`` maps each name to
    ``(dtype, shape, begin, end)`` (in file order), checked to cover ``data_size`` bytes exactly."""
    try:
        table = json.loads(head.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FileFormatError(path, f"the safetensors header is not valid JSON ({type(exc).__name__}: {exc})") from exc
    if not isinstance(table, dict):
        raise FileFormatError(path, "the safetensors header is not a JSON object")
    metadata = _metadata(path, table.pop("__metadata__")) if "__metadata__" in table else None
    entries = {name: _entry(path, name, e) for name, e in table.items()}
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: (kv[1][2], kv[1][3])):
        if begin != position:
            what = "overlaps the tensor before it" if begin < position else f"leaves a gap at byte {position}"
            raise FileFormatError(path, f"tensor {name!r} starts at data byte {begin} and {what}")
        position = end
    if position != data_size:
        raise FileFormatError(path, f"the tensors cover {position:,} bytes of data, but the file holds {data_size:,}")
    return OrderedDict(sorted(entries.items(), key=lambda kv: kv[1][2])), metadata


def _read_table(path, f, file_size):
    """(entries, metadata, data_start) of the open file ``f``."""
    if file_size < 8:
        raise FileFormatError(path, f"too short for a safetensors file ({file_size} bytes, the header length "
                                    "alone takes 8)")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > MAX_HEADER_BYTES or n > file_size - 8:
        raise FileFormatError(path, f"the safetensors header claims {n:,} bytes, but the file has {file_size - 8:,} "
                                    f"after the length (and headers are at most {MAX_HEADER_BYTES:,})")
    head = f.read(n)
    if len(head) != n or not head.startswith(b"{"):
        raise FileFormatError(path, "the safetensors header does not start with '{'")
    entries, metadata = parse_header(path, head, file_size - 8 - n)
    return entries, metadata, 8 + n


class SafeOpen:
    """A safetensors file opened lazily (``safe_open(path)``): the header is read and checked, the
    data memory-mapped; ``get_tensor(name)`` copies one tensor into memory. Use as a context
    manager, or call ``close()``."""

    def __init__(self, path, max_bytes=None):
        self.path = os.fspath(path)
        self._limit = max_load_bytes(max_bytes)
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self._entries, self._metadata, self._start = _read_table(self.path, f, size)
            # the map is made from the same descriptor whose size was checked
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size > self._start else None
        if self._map is not None and len(self._map) != size:
            self.close()
            raise FileFormatError(self.path, "the file changed size while being opened")

    def keys(self):
        return list(self._entries)

    def metadata(self):
        return None if self._metadata is None else dict(self._metadata)

    def info(self, name):
        """``(dtype, shape)`` of tensor ``name`` without reading its data."""
        dtype, shape, _, _ = self._lookup(name)
        return dtype, shape

    def _lookup(self, name):
        if name not in self._entries:
            raise KeyError(f"{self.path}: no tensor named {name!r}")
        return self._entries[name]

    def get_array(self, name):
        """Tensor ``name`` as a NumPy array in memory (native byte order), size-checked first."""
        dtype, shape, begin, end = self._lookup(name)
        check_size(self.path, f"tensor {name!r}", end - begin, self._limit)
        if self._map is None:
            if end != begin:
                raise ValueError(f"{self.path}: file is closed")
            return numpy.zeros(shape, dtype.newbyteorder("="))
        view = numpy.frombuffer(self._map, dtype=dtype, count=math.prod(shape), offset=self._start + begin)
        array = view.astype(dtype.newbyteorder("="), copy=True).reshape(shape)
        del view  # release the buffer so that the map can be closed
        return array

    def get_tensor(self, name):
        """Tensor ``name`` as a minidl Tensor (CPU), read from the file now."""
        return Tensor._make(self.get_array(name), False)

    def close(self):
        if self._map is not None:
            self._map.close()
            self._map = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __contains__(self, name):
        return name in self._entries

    def __len__(self):
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries)

    def __getitem__(self, name):
        return self.get_tensor(name)


def safe_open(path, max_bytes=None) -> SafeOpen:
    """Open a safetensors file lazily (memory-mapped): see ``SafeOpen``."""
    return SafeOpen(path, max_bytes=max_bytes)


def load_file(path, max_bytes=None):
    """All tensors of the safetensors file ``path`` as ``OrderedDict(name -> Tensor)`` (file order),
    after checking the whole data size against ``max_bytes``."""
    limit = max_load_bytes(max_bytes)
    with safe_open(path, max_bytes=limit) as f:
        check_size(f.path, "the tensors", sum(e - b for _, _, b, e in f._entries.values()), limit)
        return OrderedDict((name, f.get_tensor(name)) for name in f.keys())


def load_metadata(path):
    """The ``__metadata__`` of a safetensors file (or None), reading only its header."""
    with safe_open(path) as f:
        return f.metadata()


# ---- sharded checkpoints ---------------------------------------------------------------------------
INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(size) -> int:
    """Bytes in ``size``: an int, or a string such as ``"5GB"`` or ``"200MiB"`` (the hub's spelling)."""
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return size
    if isinstance(size, str):
        text = size.strip().upper().replace(" ", "")
        for unit in sorted(_UNITS, key=len, reverse=True):
            if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
                value = int(float(text[: -len(unit)]) * _UNITS[unit])
                if value > 0:
                    return value
    raise ValueError(f"save_sharded: max_shard_size must be a positive number of bytes or a string like '5GB', "
                     f"got {size!r}")


def plan_shards(sizes, max_shard_size):
    """Split ``{name: nbytes}`` (in order) into lists of names, each list's total at most
    ``max_shard_size`` unless it is a single tensor bigger than that."""
    shards, current, used = [], [], 0
    for name, nbytes in sizes.items():
        if current and used + nbytes > max_shard_size:
            shards.append(current)
            current, used = [], 0
        current.append(name)
        used += nbytes
    if current or not shards:
        shards.append(current)
    return shards


def save_sharded(tensors, folder, max_shard_size="5GB", metadata=None):
    """Write ``tensors`` into ``folder`` as a Hugging Face style checkpoint (see the module's
    docstring) with shards of at most ``max_shard_size`` bytes; return the paths written, the index last."""
    limit = parse_size(max_shard_size)
    arrays = OrderedDict((name, _host_array(name, value)[1]) for name, value in tensors.items())
    shards = plan_shards(OrderedDict((n, a.nbytes) for n, a in arrays.items()), limit)
    os.makedirs(folder, exist_ok=True)
    if len(shards) == 1:
        path = os.path.join(folder, SINGLE_NAME)
        save_file(arrays, path, metadata)
        return [path]
    written, weight_map = [], OrderedDict()
    for i, names in enumerate(shards, 1):
        file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(OrderedDict((n, arrays[n]) for n in names), os.path.join(folder, file), metadata)
        weight_map.update((n, file) for n in names)
        written.append(os.path.join(folder, file))
    index = {"metadata": {"total_size": sum(a.nbytes for a in arrays.values())}, "weight_map": weight_map}
    if metadata:
        index["metadata"].update(metadata)
    write_json(os.path.join(folder, INDEX_NAME), index)
    return written + [os.path.join(folder, INDEX_NAME)]


def read_index(path, max_bytes=None):
    """``{shard file name: [tensor names]}`` from an index file, checked."""
    index = read_json(path, max_bytes=min(max_load_bytes(max_bytes), MAX_HEADER_BYTES), what="checkpoint index")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise FileFormatError(path, "a checkpoint index must be an object with a 'weight_map' object")
    shards = OrderedDict()
    for name, file in weight_map.items():
        if (not isinstance(file, str) or os.path.basename(file) != file or file in ("", ".", "..")
                or not file.endswith(".safetensors")):
            raise FileFormatError(path, f"tensor {name!r} is mapped to {file!r:.200}, not a .safetensors file "
                                        "name in the index's folder")
        shards.setdefault(file, []).append(name)
    return shards


class ShardedCheckpoint:
    """The tensors of a sharded checkpoint, opened lazily: each shard is memory-mapped
    (``safe_open``), each tensor read when asked for (``ckpt[name]`` or ``get_tensor``)."""

    def __init__(self, folder, max_bytes=None):
        folder = os.fspath(folder)
        index = os.path.join(folder, INDEX_NAME)
        if not os.path.exists(index):
            self._files, self._where = [safe_open(os.path.join(folder, SINGLE_NAME), max_bytes)], None
            self._where = dict.fromkeys(self._files[0].keys(), self._files[0])
            return
        self._files, self._where = [], OrderedDict()
        try:
            for file, names in read_index(index, max_bytes).items():
                shard = safe_open(os.path.join(folder, file), max_bytes)
                self._files.append(shard)
                if sorted(shard.keys()) != sorted(names):
                    extra, missing = set(shard.keys()) - set(names), set(names) - set(shard.keys())
                    raise FileFormatError(shard.path, f"the index gives this shard {len(names)} tensors but it holds "
                                                      f"{len(shard)} (missing: {sorted(missing)[:5]}, not in the "
                                                      f"index: {sorted(extra)[:5]})")
                self._where.update((n, shard) for n in names)
        except BaseException:
            self.close()
            raise

    def keys(self):
        return list(self._where)

    def get_tensor(self, name):
        if name not in self._where:
            raise KeyError(f"no tensor named {name!r} in the checkpoint")
        return self._where[name].get_tensor(name)

    __getitem__ = get_tensor

    def __contains__(self, name):
        return name in self._where

    def __len__(self):
        return len(self._where)

    def __iter__(self):
        return iter(self._where)

    def close(self):
        for f in self._files:
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_sharded(folder, max_bytes=None, lazy=False):
    """The tensors of the checkpoint in ``folder`` (an index and its shards, or ``model.safetensors``)
    as ``OrderedDict(name -> Tensor)``; with ``lazy=True`` a ``ShardedCheckpoint`` to read from."""
    ckpt = ShardedCheckpoint(folder, max_bytes)
    if lazy:
        return ckpt
    with ckpt:
        return OrderedDict((name, ckpt.get_tensor(name)) for name in ckpt.keys())
