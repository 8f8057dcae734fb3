"""Finding dataset files: an explicit folder, ``$MINIDL_DATA``, or a download cache
(``$MINIDL_CACHE`` or ``~/.cache/minidl``), where files are fetched once and verified by SHA-256."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path


class ChecksumError(ValueError):
    """A downloaded or cached file whose SHA-256 is not the published one."""


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir() -> Path:
    """Where downloads are kept: ``$MINIDL_CACHE`` or ``~/.cache/minidl``."""
    return Path(os.environ.get("MINIDL_CACHE") or Path.home() / ".cache" / "minidl")


def locate(subdir: str, filename: str, sha: str, urls, root=None, download=True) -> Path:
    """The path of ``subdir/filename``: looked up in ``root``, then ``$MINIDL_DATA``, then the
    cache; downloaded into the cache (trying each of ``urls``) when missing and ``download``.
    Files found in the cache or downloaded are checked against ``sha``."""
    for base in (root, os.environ.get("MINIDL_DATA")):
        if base:
            candidate = Path(base) / subdir / filename
            if candidate.is_file():
                return candidate
            candidate = Path(base) / filename
            if candidate.is_file():
                return candidate
    target = cache_dir() / subdir / filename
    if target.is_file():
        if sha256(target) == sha:
            return target
        target.unlink()  # a broken earlier download: fetch again
    if not download:
        raise FileNotFoundError(
            f"{subdir}/{filename} not found (looked in root={root!r}, $MINIDL_DATA and {target.parent}); "
            "pass download=True or point MINIDL_DATA at a folder that holds it"
        )
    errors = []
    for url in urls:
        try:
            return fetch(url, target, sha)
        except (OSError, ChecksumError) as exc:
            errors.append(f"{url}: {exc}")
    raise OSError(f"could not download {filename}: " + "; ".join(errors))


def fetch(url: str, target: Path, sha: str) -> Path:
    """Download ``url`` to ``target`` through a temporary file; keep it only if its SHA-256 is ``sha``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        got = sha256(tmp)
        if got != sha:
            raise ChecksumError(f"SHA-256 of the download is {got}, expected {sha}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
