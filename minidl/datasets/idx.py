"""Reading the IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed).

Layout: a 4-byte magic number ``0x00 0x00 <type code> <number of dims>``, then one big-endian
uint32 per dim, then the values in row-major order. Type code 0x08 is unsigned bytes.
"""

from __future__ import annotations

import gzip
import os

import numpy

_TYPES = {
    0x08: numpy.dtype("u1"),
    0x09: numpy.dtype("i1"),
    0x0B: numpy.dtype(">i2"),
    0x0C: numpy.dtype(">i4"),
    0x0D: numpy.dtype(">f4"),
    0x0E: numpy.dtype(">f8"),
}


class IDXError(ValueError):
    """A file that is not a well-formed IDX file."""


def read_idx(path) -> numpy.ndarray:
    """The array stored in an IDX file (``.gz`` files are decompressed)."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise IDXError(f"read_idx: cannot read {path}: {exc}") from exc
    return parse_idx(raw, path)


def parse_idx(raw: bytes, name="<bytes>") -> numpy.ndarray:
    """Parse the bytes of an IDX file, checking the header against the data size."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{name}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        raise IDXError(f"{name}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{name}: truncated header ({len(raw)} bytes for {ndim} dims)")
    shape = tuple(int(v) for v in numpy.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _TYPES[code]
    expected = int(numpy.prod(shape, dtype=numpy.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise IDXError(
            f"{name}: header says shape {shape} ({expected} bytes of data) but the file has {len(raw) - header}"
        )
    data = numpy.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path, array: numpy.ndarray):
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``)."""
    array = numpy.asarray(array)
    codes = {v.newbyteorder("=") if v.itemsize > 1 else v: k for k, v in _TYPES.items()}
    key = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if key not in codes:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code")
    code = codes[key]
    body = bytes([0, 0, code, array.ndim]) + numpy.asarray(array.shape, dtype=">u4").tobytes()
    body += array.astype(_TYPES[code]).tobytes()
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(body)
