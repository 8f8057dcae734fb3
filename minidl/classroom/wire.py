"""The message format between the grader and a sandboxed submission: no pickle, nothing executable.

A message is a 4-byte little-endian header length, a UTF-8 JSON header (an object) of at most
``MAX_HEADER`` bytes, then the raw bytes of the arrays the header lists under ``"blobs"`` (each
``{"dtype": "<f8", "shape": [2, 3]}``, C order, little-endian), back to back. A reader checks every
field before it trusts it: the dtype is one of ``DTYPES``, the shape a short list of non-negative
ints, shape × itemsize sums to the announced bytes, the total stays under the reader's cap, and the
reply arrives before the deadline. Anything else is a ``WireError`` (the grader turns it into a
failed check with a note).

Values inside the header: JSON null/bool/int/float/str and lists stand for themselves;
``{"t": [...]}`` is a tuple, ``{"d": {...}}`` a dict with string keys, ``{"A": i}`` the i-th blob
as a NumPy array and ``{"T": i, "g": bool}`` the i-th blob as a minidl Tensor (``g``:
requires_grad). Nothing else decodes.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

import numpy

MAX_HEADER = 1 << 20  # bytes of JSON in one message
MAX_MESSAGE = 64 << 20  # bytes of one message in all (header and arrays), unless the reader says otherwise
MAX_DEPTH = 16  # nesting of lists, tuples and dicts in a value
MAX_DIMS = 8
DTYPES = {"|b1", "|i1", "|u1", "<i2", "<i4", "<i8", "<u2", "<u4", "<u8", "<f4", "<f8"}


class WireError(ValueError):
    """A message that breaks the format, is too large or comes too late."""


def encode(value, tensor_type=None):
    """(JSON-able structure, list of arrays) for ``value``; WireError for anything not listed above."""
    blobs = []

    def enc(v, depth):
        if depth > MAX_DEPTH:
            raise WireError(f"value nested deeper than {MAX_DEPTH}")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, numpy.generic):
            return v.item()
        if tensor_type is not None and isinstance(v, tensor_type):
            blobs.append(_array(v.detach().numpy()))
            return {"T": len(blobs) - 1, "g": bool(v.requires_grad)}
        if isinstance(v, numpy.ndarray):
            blobs.append(_array(v))
            return {"A": len(blobs) - 1}
        if isinstance(v, list):
            return [enc(x, depth + 1) for x in v]
        if isinstance(v, tuple):
            return {"t": [enc(x, depth + 1) for x in v]}
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"d": {k: enc(x, depth + 1) for k, x in v.items()}}
        raise WireError(f"cannot send a value of type {type(v).__name__}")

    return enc(value, 0), blobs


def _array(a):
    a = numpy.asarray(a)
    if not a.flags.c_contiguous:
        a = a.copy(order="C")  # (ascontiguousarray would turn a 0-d array into shape (1,))
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and not numpy.little_endian):
        a = a.astype(a.dtype.newbyteorder("<"))
    if a.dtype.str not in DTYPES:
        raise WireError(f"cannot send an array of dtype {a.dtype}")
    return a


def decode(value, blobs, tensor_factory=None):
    """The value of a JSON structure from ``encode`` with its arrays; WireError when malformed."""

    def dec(v, depth):
        if depth > MAX_DEPTH:
            raise WireError(f"value nested deeper than {MAX_DEPTH}")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [dec(x, depth + 1) for x in v]
        if not isinstance(v, dict) or len(v) not in (1, 2):
            raise WireError(f"unexpected value {str(v)[:80]!r}")
        if set(v) == {"t"} and isinstance(v["t"], list):
            return tuple(dec(x, depth + 1) for x in v["t"])
        if set(v) == {"d"} and isinstance(v["d"], dict):
            return {str(k): dec(x, depth + 1) for k, x in v["d"].items()}
        if set(v) == {"A"}:
            return _blob(blobs, v["A"])
        if set(v) == {"T", "g"} and isinstance(v["g"], bool):
            a = _blob(blobs, v["T"])
            if tensor_factory is None:
                raise WireError("a Tensor where none is expected")
            return tensor_factory(a, v["g"])
        raise WireError(f"unexpected value {str(v)[:80]!r}")

    return dec(value, 0)


def _blob(blobs, i):
    if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(blobs):
        raise WireError(f"no array number {i!r} in the message")
    return blobs[i]


def write_message(fd, header: dict, arrays=()):
    """Send ``header`` (a JSON object) and ``arrays`` on file descriptor ``fd``."""
    arrays = [_array(a) for a in arrays]
    header = dict(header, blobs=[{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays])
    text = json.dumps(header, allow_nan=True).encode()
    if len(text) > MAX_HEADER:
        raise WireError(f"header of {len(text)} bytes is over the limit of {MAX_HEADER}")
    data = b"".join([struct.pack("<I", len(text)), text] + [a.tobytes() for a in arrays])
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd, n, deadline):
    parts, got = [], 0
    while got < n:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            raise TimeoutError("no complete reply before the time limit")
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def read_message(fd, deadline, max_bytes=MAX_MESSAGE):
    """(header dict, arrays) of the next message on ``fd``. TimeoutError when it is not complete by
    ``deadline`` (time.monotonic()), EOFError when the writer is gone, WireError when malformed."""
    (size,) = struct.unpack("<I", _read_exact(fd, 4, deadline))
    if size > min(MAX_HEADER, max_bytes):
        raise WireError(f"header of {size} bytes announced, over the limit of {min(MAX_HEADER, max_bytes)}")
    try:
        header = json.loads(_read_exact(fd, size, deadline).decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"header is not JSON ({exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("blobs", []), list):
        raise WireError("header is not a JSON object with a list of arrays")
    specs, total = [], size + 4
    for spec in header.get("blobs", []):
        if not isinstance(spec, dict) or spec.get("dtype") not in DTYPES or not isinstance(spec.get("shape"), list):
            raise WireError(f"bad array description {str(spec)[:80]!r}")
        shape = spec["shape"]
        if len(shape) > MAX_DIMS or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                            for s in shape):
            raise WireError(f"bad array shape {shape[:10]!r}")
        dtype = numpy.dtype(spec["dtype"])
        nbytes = int(numpy.prod(shape, dtype=object)) * dtype.itemsize
        total += nbytes
        if total > max_bytes:
            raise WireError(f"message of more than {max_bytes} bytes")
        specs.append((dtype, tuple(shape), nbytes))
    arrays = [numpy.frombuffer(_read_exact(fd, n, deadline), dtype=d).reshape(s).copy() if n else
              numpy.zeros(s, dtype=d) for d, s, n in specs]
    return header, arrays
