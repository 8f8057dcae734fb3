"""Writing files atomically and reading them as untrusted input.

Every file minidl writes goes through ``atomic_write``: the bytes go to a temporary file in the
target's folder (``.<name>.tmp-<pid>-<random>``), which is flushed and fsynced and then renamed
over the target with ``os.replace``; the folder is fsynced too where the OS allows it. A reader
therefore sees either the old file or the new one, never half of one. A process killed in the
middle (SIGKILL, power loss) cannot remove its own temporary file: the next successful save of
the same target removes the temporary files whose writer is no longer running.

Every file minidl reads is hostile until checked: sizes are compared with a limit before memory
is allocated (``max_load_bytes``: the ``max_bytes`` keyword of a loader, else the environment
variable ``MINIDL_MAX_LOAD_BYTES``, else 4 GiB), and any way a file can be malformed ends in one
error type, ``FileFormatError``, whose message starts with the file's name.
"""

from __future__ import annotations

import contextlib
import contextvars
import gzip
import json
import os
import secrets
import time
import zlib

DEFAULT_MAX_LOAD_BYTES = 4 << 30
MAX_LOAD_BYTES_ENV = "MINIDL_MAX_LOAD_BYTES"
_TEMP_MARK = ".tmp-"
_NAME_ROOM = 200  # file names are at most 255 bytes on common file systems; leave room for the suffix
_ACTIVE: set[str] = set()  # temporary files this process is writing right now (threads may share a target)


class FileFormatError(ValueError):
    """A file that cannot be read as what it claims to be: truncated, corrupt, foreign, or over a
    size limit. ``path`` is the file, ``problem`` says what is wrong; the message holds both."""

    def __init__(self, path, problem):
        self.path = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
        self.problem = str(problem)
        super().__init__(f"{self.path}: {self.problem}")

    def __reduce__(self):
        return type(self), (self.path, self.problem)


#: Exceptions that parsing a malformed file can raise from the standard library and NumPy. A loader
#: catches these around its parsing step (never around opening the file) and raises FileFormatError.
CORRUPT_FILE_ERRORS = (
    ValueError, EOFError, zlib.error, KeyError, IndexError, TypeError, UnicodeDecodeError, NotImplementedError,
    RuntimeError, OverflowError, SyntaxError, RecursionError, OSError,
)


def max_load_bytes(limit=None) -> int:
    """The size limit for one loaded file: ``limit`` if given, else ``$MINIDL_MAX_LOAD_BYTES``, else 4 GiB."""
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"max_bytes must be a non-negative int, got {limit!r}")
        return limit
    text = os.environ.get(MAX_LOAD_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_LOAD_BYTES
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{MAX_LOAD_BYTES_ENV} must be a non-negative number of bytes, got {text!r}")
    return value


def check_size(path, what, nbytes, limit, error=None):
    """FileFormatError (or its subclass ``error``) unless ``nbytes``, what the file asks to
    allocate, is within ``limit``."""
    if nbytes > limit:
        raise (error or FileFormatError)(
            path, f"{what} needs {nbytes:,} bytes, over the limit of {limit:,} bytes (raise it with max_bytes= "
            f"or ${MAX_LOAD_BYTES_ENV} if the file is trusted)"
        )


_BUDGET = contextvars.ContextVar("minidl_allocation_budget", default=None)


@contextlib.contextmanager
def allocation_budget(path, limit, what, temporary_limit=None):
    """While building something that a file describes (a model from its config), every lasting
    allocation the description asks for (a weight) is charged, before it is made, against ``limit``
    bytes, and every temporary one (a dry run's input) must fit in ``temporary_limit`` (default
    ``max_load_bytes()``): a config that declares enormous layers fails fast with FileFormatError
    naming ``path``, in bounded memory."""
    state = {"path": path, "limit": int(limit), "left": int(limit), "what": what,
             "temporary": max_load_bytes() if temporary_limit is None else int(temporary_limit)}
    token = _BUDGET.set(state)
    try:
        yield state
    finally:
        _BUDGET.reset(token)


def charge_allocation(nbytes, what, keep=True):
    """Charge an allocation of ``nbytes`` (``what`` describes it) against the active
    ``allocation_budget``, if any; ``keep=False`` for a temporary (a dry run's zeros): it must fit,
    but is not subtracted. Outside a budget this does nothing."""
    state = _BUDGET.get()
    if state is None:
        return
    nbytes = int(nbytes)
    if not keep:
        check_size(state["path"], what, nbytes, state["temporary"])
        return
    if nbytes > state["left"]:
        used = state["limit"] - state["left"]
        raise FileFormatError(
            state["path"], f"{state['what']}: {what} needs {nbytes:,} bytes, but only {state['left']:,} of the "
            f"{state['limit']:,} allowed are left ({used:,} used so far)"
        )
    state["left"] -= nbytes


# ---- writing ---------------------------------------------------------------------------------------
def _temp_prefix(name: str) -> str:
    return "." + name[:_NAME_ROOM] + _TEMP_MARK


def _create_temp(folder: str, name: str):
    prefix = _temp_prefix(name)
    for _ in range(100):
        tmp = os.path.join(folder, f"{prefix}{os.getpid()}-{secrets.token_hex(4)}")
        try:  # 0o666 so that the umask decides the saved file's mode, as for open()
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file for {name} in {folder}")


def _fsync_dir(folder: str):
    """Make the rename itself durable (POSIX); where folders cannot be opened (Windows), skip."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _writer_gone(entry) -> bool:
    """Whether the process that created temporary file ``entry`` can no longer finish it."""
    if entry.path in _ACTIVE:
        return False
    pid = entry.name.rsplit(_TEMP_MARK, 1)[-1].split("-", 1)[0]
    if not pid.isdigit():
        return False  # not one of ours
    if int(pid) == os.getpid():
        return True
    if os.name != "posix":  # os.kill would terminate the process there; judge by age instead
        try:
            return time.time() - entry.stat().st_mtime > 3600
        except OSError:
            return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def remove_stale_temps(path) -> list[str]:
    """Remove the temporary files of ``path`` left by writers that died (killed mid-save); return them."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    prefix = _temp_prefix(name)
    removed = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return removed
    for entry in entries:
        if _writer_gone(entry):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(entry.path)
    return removed


def temp_files(path) -> list[str]:
    """The temporary files of ``path`` that exist now (finished or not)."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    prefix = _temp_prefix(name)
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.startswith(prefix))


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None, newline=None):
    """``with atomic_write(path) as f: ...`` writes ``path`` all at once or not at all.

    ``f`` is a temporary file in ``path``'s folder (``mode`` ``"wb"`` or ``"w"``, text with
    ``encoding``, UTF-8 by default). When the block ends without an error the file is flushed,
    fsynced and renamed over ``path`` (``os.replace``), the folder is fsynced, and temporary
    files of ``path`` left by killed writers are removed; on any error (KeyboardInterrupt too)
    the temporary file is removed and ``path`` is untouched. Missing folders are created. When
    ``path`` is a symbolic link, the file it points to is replaced."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    target = os.fspath(path)
    if os.path.islink(target):
        target = os.path.realpath(target)
    target = os.path.abspath(target)
    folder, name = os.path.split(target)
    if not name:
        raise ValueError(f"atomic_write: {path!r} names a folder, not a file")
    os.makedirs(folder, exist_ok=True)
    fd, tmp = _create_temp(folder, name)
    _ACTIVE.add(tmp)
    try:
        text = {"encoding": encoding or "utf-8", "newline": newline} if mode == "w" else {}
        with os.fdopen(fd, mode, **text) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        _ACTIVE.discard(tmp)
    _fsync_dir(folder)
    remove_stale_temps(target)


def write_bytes(path, data: bytes):
    """Write ``data`` to ``path`` atomically (see ``atomic_write``)."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text(path, text: str, encoding="utf-8"):
    """Write ``text`` to ``path`` atomically (see ``atomic_write``)."""
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)


def write_json(path, obj, indent=2):
    """Write ``obj`` as JSON to ``path`` atomically (a diverged loss is written as NaN, which
    Python's ``json`` reads back)."""
    write_text(path, json.dumps(obj, indent=indent) + "\n")


# ---- reading ---------------------------------------------------------------------------------------
def read_limited(stream, path, limit, what="the file") -> bytes:
    """All bytes of ``stream``, or FileFormatError once more than ``limit`` bytes have come
    (so a small compressed file cannot expand without bound)."""
    chunks, total = [], 0
    while True:
        chunk = stream.read(min(1 << 20, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            check_size(path, what, total, limit)
        chunks.append(chunk)


def read_bytes(path, max_bytes=None, gz=None) -> bytes:
    """The bytes of ``path`` (decompressed when ``gz``, default: the name ends in ``.gz``), at most
    ``max_load_bytes(max_bytes)`` of them; a corrupt gzip stream is a FileFormatError."""
    limit = max_load_bytes(max_bytes)
    path = os.fspath(path)
    gz = path.endswith(".gz") if gz is None else gz
    with open(path, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        if not gz:
            check_size(path, "reading the file", size, limit)
            return raw.read()
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                return read_limited(f, path, limit, "the decompressed data")
        except FileFormatError:
            raise
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise FileFormatError(path, f"not a valid gzip file ({type(exc).__name__}: {exc})") from exc


def decode_text(data: bytes, path, encoding="utf-8") -> str:
    """``data`` decoded, or FileFormatError naming the file and the offset of the first bad byte."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FileFormatError(path, f"not {encoding} text (byte {exc.start}: {exc.reason})") from exc


def read_text(path, max_bytes=None, encoding="utf-8") -> str:
    """The text of ``path`` (size-limited, decoding errors as FileFormatError)."""
    return decode_text(read_bytes(path, max_bytes), path, encoding)


def parse_json(text, path, what="JSON"):
    """``json.loads(text)``, with malformed or absurdly nested JSON as FileFormatError naming ``path``."""
    try:
        if isinstance(text, bytes):
            text = decode_text(text, path)
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(path, f"not valid {what} (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except RecursionError as exc:
        raise FileFormatError(path, f"{what} nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise FileFormatError(path, f"not valid {what} ({exc})") from exc


def read_json(path, max_bytes=None, what="JSON"):
    """The JSON document in ``path`` (size-limited)."""
    return parse_json(read_bytes(path, max_bytes, gz=False), path, what)
