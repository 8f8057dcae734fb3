"""Reading Keras's dataset files without trusting them.

Keras ships IMDB and Reuters as ``.npz`` archives whose arrays hold Python lists (NumPy's
"object" arrays, stored as pickles) and CIFAR-10 as pickled dictionaries. ``numpy.load`` would
need ``allow_pickle=True`` for them, which runs whatever the file says. Here a pickle may only
rebuild NumPy arrays, dtypes, lists, dicts, numbers and strings (a restricted ``Unpickler``,
Python's documented way to limit what a pickle can call); anything else, or a member larger
than ``max_load_bytes``, is a ``FileFormatError`` that names the file.
"""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy
import numpy.lib.format as npy_format

from ..._files import CORRUPT_FILE_ERRORS, FileFormatError, check_size, max_load_bytes

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how a protocol-2 pickle written by Python 3 stores bytes (a pure function)
}


class _ArraysOnly(pickle.Unpickler):
    def __init__(self, stream, name, **kwargs):
        super().__init__(stream, **kwargs)
        self.name = name

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise FileFormatError(self.name, f"the pickle asks for {module}.{name}, which is not a NumPy array part")
        if name == "_reconstruct":
            return numpy.ndarray.__reduce__(numpy.zeros(1))[0]  # numpy's own _reconstruct, wherever it lives
        if name == "scalar":
            return numpy.float64(0).__reduce__()[0]
        if module == "_codecs":
            import codecs

            return codecs.encode
        return getattr(numpy, name)


def safe_unpickle(data: bytes, name: str, encoding="ASCII"):
    """The object a pickle holds, when it is made of arrays, lists, dicts, numbers and strings."""
    try:
        return _ArraysOnly(io.BytesIO(data), name, encoding=encoding).load()
    except FileFormatError:
        raise
    except (pickle.UnpicklingError, *CORRUPT_FILE_ERRORS) as exc:
        raise FileFormatError(name, f"not a readable pickle ({type(exc).__name__}: {exc})") from None


def _read_npy(stream, name):
    version = npy_format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = npy_format.read_array_header_1_0(stream)
    else:
        shape, fortran, dtype = npy_format.read_array_header_2_0(stream)
    if dtype.hasobject:
        array = safe_unpickle(stream.read(), name, encoding="latin1")
        if not isinstance(array, numpy.ndarray) or array.shape != tuple(shape):
            raise FileFormatError(name, f"the pickled array does not have the shape {tuple(shape)} of its header")
        return array
    count = int(numpy.prod(shape, dtype=numpy.int64))
    raw = stream.read(count * dtype.itemsize)
    if len(raw) != count * dtype.itemsize:
        raise FileFormatError(name, f"truncated: {len(raw)} of {count * dtype.itemsize} bytes")
    array = numpy.frombuffer(raw, dtype=dtype, count=count)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def read_npz(path, max_bytes=None) -> dict:
    """The arrays of an ``.npz`` archive by name (object arrays through the restricted unpickler)."""
    limit = max_load_bytes(max_bytes)
    name = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            check_size(name, "the archive's members", sum(m.file_size for m in members), limit)
            out = {}
            for member in members:
                key = member.filename[:-4] if member.filename.endswith(".npy") else member.filename
                out[key] = _read_npy(io.BytesIO(archive.read(member)), f"{name}:{member.filename}")
            return out
    except FileFormatError:
        raise
    except (zipfile.BadZipFile, *CORRUPT_FILE_ERRORS) as exc:
        raise FileFormatError(name, f"not a readable .npz archive ({type(exc).__name__}: {exc})") from None


def require(arrays: dict, keys, name):
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise FileFormatError(name, f"missing array(s) {', '.join(missing)} (has {', '.join(sorted(arrays))})")
    return [arrays[k] for k in keys]
