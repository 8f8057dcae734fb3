"""Finding dataset files: an explicit folder, ``$MINIDL_DATA``, or a download cache
(``$MINIDL_CACHE`` or ``~/.cache/minidl``), where files are fetched once and verified.

A checksum is written ``"sha256:<64 hex digits>"`` or ``"md5:<32 hex digits>"``; a bare hex string
is read by its length (64 digits: SHA-256, 32 digits: MD5). SHA-256 is used wherever a published
value exists; MD5 only where the dataset's authors publish nothing else.

A download streams into a temporary file in the cache folder while its digest is computed; only
a file with the right checksum is renamed into place (``minidl._files.atomic_write``), so an
interrupted or corrupt download never leaves a file under the real name. A download larger than
``max_load_bytes()`` (``$MINIDL_MAX_LOAD_BYTES``, 4 GiB by default) is stopped.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from pathlib import Path

from .._files import FileFormatError, atomic_write, check_size, max_load_bytes


class ChecksumError(FileFormatError):
    """A file whose checksum is not the published one (corrupt, truncated or another version)."""


_ALGORITHMS = {64: "sha256", 32: "md5"}
_LABELS = {"sha256": "SHA-256", "md5": "MD5"}


def parse_checksum(checksum: str) -> tuple[str, str]:
    """``(algorithm, hex digest)`` of a checksum spec: ``"sha256:..."``, ``"md5:..."`` or bare hex."""
    text = str(checksum).strip().lower()
    algorithm, _, digest = text.rpartition(":")
    if not algorithm:
        algorithm = _ALGORITHMS.get(len(digest), "")
    if algorithm not in _ALGORITHMS.values() or len(digest) != {"sha256": 64, "md5": 32}[algorithm]:
        raise ValueError(
            f"checksum {checksum!r}: expected 'sha256:<64 hex>', 'md5:<32 hex>' or bare hex of that length"
        )
    try:
        int(digest, 16)
    except ValueError:
        raise ValueError(f"checksum {checksum!r}: {digest!r} is not hexadecimal") from None
    return algorithm, digest


def file_digest(path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256(path) -> str:
    return file_digest(path, "sha256")


def matches(path, checksum: str) -> bool:
    """Whether the file's digest is the one in ``checksum``."""
    algorithm, digest = parse_checksum(checksum)
    return file_digest(path, algorithm) == digest


def verify(path, checksum: str, hint: str = "") -> Path:
    """``path`` if its digest is ``checksum``, else a ChecksumError naming both values."""
    algorithm, digest = parse_checksum(checksum)
    got = file_digest(path, algorithm)
    _compare(path, algorithm, got, digest, hint)
    return Path(path)


def _compare(path, algorithm, got, digest, hint=""):
    if got != digest:
        raise ChecksumError(
            path, f"{_LABELS[algorithm]} is {got}, expected {digest} (the file is corrupt, truncated or "
            f"another version){hint}"
        )


def cache_dir() -> Path:
    """Where downloads are kept: ``$MINIDL_CACHE`` or ``~/.cache/minidl``."""
    return Path(os.environ.get("MINIDL_CACHE") or Path.home() / ".cache" / "minidl")


def find_local(subdir: str, filename: str, root=None) -> Path | None:
    """``root/subdir/filename`` (or ``root/filename``), then the same under ``$MINIDL_DATA``."""
    for base in (root, os.environ.get("MINIDL_DATA")):
        if base:
            for candidate in (Path(base) / subdir / filename, Path(base) / filename):
                if candidate.is_file():
                    return candidate
    return None


def where_to_put(subdir: str, filenames, root=None) -> str:
    """A sentence that tells a user where the loader looks for ``filenames``."""
    places = []
    if root:
        places.append(str(Path(root) / subdir))
    env = os.environ.get("MINIDL_DATA")
    places.append(str(Path(env) / subdir) if env else f"$MINIDL_DATA/{subdir} (MINIDL_DATA is not set)")
    places.append(str(cache_dir() / subdir))
    names = ", ".join(filenames)
    return f"put {names} in one of: " + "; ".join(places)


def locate(subdir: str, filename: str, sha: str, urls, root=None, download=True, verify_local=False) -> Path:
    """The path of ``subdir/filename``: looked up in ``root``, then ``$MINIDL_DATA``, then the
    cache; downloaded into the cache (trying each of ``urls``) when missing and ``download``.

    ``sha`` is a checksum spec (see the module docstring). Files in the cache or downloaded are
    always checked; files in ``root`` or ``$MINIDL_DATA`` too when ``verify_local`` (a mismatch
    there is an error: a user's file is never silently replaced or used)."""
    local = find_local(subdir, filename, root)
    if local is not None:
        if verify_local:
            verify(local, sha, hint=f"; replace it with the original or remove it (looked up as {subdir}/{filename})")
        return local
    target = cache_dir() / subdir / filename
    if target.is_file():
        if matches(target, sha):
            return target
        target.unlink()  # a broken earlier download: fetch again
    if not download:
        raise FileNotFoundError(
            f"{subdir}/{filename} not found (looked in root={root!r}, $MINIDL_DATA and {target.parent}); "
            f"pass download=True or {where_to_put(subdir, [filename], root)}"
        )
    errors = []
    for url in urls:
        try:
            return fetch(url, target, sha)
        except (OSError, FileFormatError) as exc:  # unreachable, wrong checksum, too large
            errors.append(f"{url}: {exc}")
    raise OSError(
        f"could not download {filename}: " + "; ".join(errors or ["no download address known"])
        + f". Offline? {where_to_put(subdir, [filename], root)}"
    )


def fetch(url: str, target: Path, sha: str, max_bytes=None) -> Path:
    """Download ``url`` to ``target`` atomically; keep it only if its checksum is ``sha`` (and it is
    at most ``max_load_bytes(max_bytes)`` bytes long)."""
    algorithm, digest = parse_checksum(sha)  # a malformed spec fails before any download
    limit = max_load_bytes(max_bytes)
    target = Path(target)
    if not url.startswith("file:"):
        print(f"downloading {url} -> {target}", file=sys.stderr)
    h = hashlib.new(algorithm)
    with atomic_write(target) as out, urllib.request.urlopen(url, timeout=60) as response:
        total = 0
        for block in iter(lambda: response.read(1 << 20), b""):
            total += len(block)
            check_size(url, "the download", total, limit)
            h.update(block)
            out.write(block)
        _compare(target, algorithm, h.hexdigest(), digest, hint=f" for the download of {url}")
    return target
