"""Reading the IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed).

Layout: a 4-byte magic number ``0x00 0x00 <type code> <number of dims>``, then one big-endian
uint32 per dim, then the values in row-major order. Type code 0x08 is unsigned bytes.

The reader trusts nothing: the header's shape x itemsize is checked against a limit
(``max_bytes=``, else ``$MINIDL_MAX_LOAD_BYTES``, else 4 GiB) and, for an uncompressed file,
against the file's size before the array is allocated; the data is read in bounded blocks, so a
small gzip file that claims or expands to gigabytes fails fast. Every malformation (bad magic,
short header, truncated or trailing data, corrupt gzip stream) is an ``IDXError`` naming the file.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib

import numpy

from .._files import FileFormatError, atomic_write, check_size, max_load_bytes

_TYPES = {
    0x08: numpy.dtype("u1"),
    0x09: numpy.dtype("i1"),
    0x0B: numpy.dtype(">i2"),
    0x0C: numpy.dtype(">i4"),
    0x0D: numpy.dtype(">f4"),
    0x0E: numpy.dtype(">f8"),
}
_BLOCK = 1 << 20  # a read of n bytes allocates n first, so blocks stay small


class IDXError(FileFormatError):
    """A file that is not a well-formed IDX file (a ``FileFormatError``, so a ``ValueError``)."""


def _read_exactly(stream, n, name, what):
    data = stream.read(n)
    if len(data) != n:
        raise IDXError(name, f"truncated {what} ({len(data)} of {n} bytes)")
    return data


def _read_header(stream, name):
    magic = stream.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise IDXError(name, f"not an IDX file (bad magic number {magic.hex() or 'empty'})")
    code, ndim = magic[2], magic[3]
    if code not in _TYPES:
        raise IDXError(name, f"unknown IDX type code 0x{code:02x}")
    dims = _read_exactly(stream, 4 * ndim, name, f"header ({ndim} dims)")
    shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(ndim))
    return _TYPES[code], shape, 4 + 4 * ndim


def _read_stream(stream, name, limit, file_size=None):
    """The array of an IDX stream; ``file_size`` (uncompressed files) is checked against the header."""
    dtype, shape, header = _read_header(stream, name)
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: a huge header cannot overflow
    if file_size is not None and file_size - header != nbytes:
        raise IDXError(name, f"header says shape {shape} ({nbytes} bytes of data) but the file has "
                             f"{file_size - header}")
    check_size(name, f"an IDX array of shape {shape}", nbytes, limit, IDXError)
    data = bytearray()  # grows with what the file really holds, so a lying gzip header allocates nothing
    while len(data) < nbytes:
        block = stream.read(min(_BLOCK, nbytes - len(data)))
        if not block:
            raise IDXError(name, f"header says shape {shape} ({nbytes} bytes of data) but the file has {len(data)}")
        data += block
    if stream.read(1):  # for gzip this also reads to the end of the stream and checks its CRC
        raise IDXError(name, f"header says shape {shape} ({nbytes} bytes of data) but the file has more")
    array = numpy.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path, max_bytes=None) -> numpy.ndarray:
    """The array stored in an IDX file (``.gz`` files are decompressed), at most
    ``max_load_bytes(max_bytes)`` bytes of it."""
    limit = max_load_bytes(max_bytes)
    path = os.fspath(path)
    with open(path, "rb") as raw:  # a missing file stays a FileNotFoundError
        if not path.endswith(".gz"):
            return _read_stream(raw, path, limit, file_size=os.fstat(raw.fileno()).st_size)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_stream(stream, path, limit)
        except FileFormatError:
            raise
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXError(path, f"cannot read the gzip data ({type(exc).__name__}: {exc})") from exc


def parse_idx(raw: bytes, name="<bytes>", max_bytes=None) -> numpy.ndarray:
    """Parse the bytes of an IDX file, checking the header against the data size."""
    return _read_stream(io.BytesIO(raw), name, max_load_bytes(max_bytes), file_size=len(raw))


def write_idx(path, array: numpy.ndarray):
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``), atomically."""
    array = numpy.asarray(array)
    codes = {v.newbyteorder("=") if v.itemsize > 1 else v: k for k, v in _TYPES.items()}
    key = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if key not in codes:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code")
    if array.ndim > 255 or any(d >= 1 << 32 for d in array.shape):
        raise ValueError(f"write_idx: shape {array.shape} does not fit an IDX header (<= 255 dims below 2**32)")
    code = codes[key]
    body = bytes([0, 0, code, array.ndim]) + numpy.asarray(array.shape, dtype=">u4").tobytes()
    body += array.astype(_TYPES[code]).tobytes()
    with atomic_write(path) as f:
        if os.fspath(path).endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=6) as g:
                g.write(body)
        else:
            f.write(body)
