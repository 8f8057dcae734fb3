"""``keras.utils.get_file``: a file from a URL, kept in a cache folder, checked against a hash.

    path = keras.utils.get_file("imdb_word_index.json", origin=URL, file_hash="bfafd718...")

The file is ``cache_dir/cache_subdir/fname`` (``cache_dir``: minidl's download cache,
``$MINIDL_CACHE`` or ``~/.cache/minidl``; ``$MINIDL_DATA/cache_subdir/fname`` is used first when it
exists). A cached file whose hash differs is downloaded again; a download is written atomically
and kept only when its hash matches (SHA-256 or MD5, chosen by the hash's length as Keras's
``hash_algorithm='auto'``). ``untar=True`` / ``extract=True`` unpack a tar or zip archive into
the cache folder, refusing members that would land outside it (absolute paths, ``..``, links).
As in tf.keras 2, ``untar`` returns the folder ``fname`` and ``extract`` the archive's path.
"""

from __future__ import annotations

import os
import sys
import tarfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from .._files import FileFormatError, atomic_write, check_size, max_load_bytes
from ..datasets import download


def _checksum(file_hash, hash_algorithm):
    if file_hash is None:
        return None
    if hash_algorithm in ("md5", "sha256"):
        return f"{hash_algorithm}:{file_hash}"
    if hash_algorithm != "auto":
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'md5' or 'sha256', got {hash_algorithm!r}")
    return file_hash


def _fetch_unchecked(url, target):
    limit = max_load_bytes()
    if not url.startswith("file:"):
        print(f"downloading {url} -> {target}", file=sys.stderr)
    with atomic_write(target) as out, urllib.request.urlopen(url, timeout=60) as response:
        total = 0
        for block in iter(lambda: response.read(1 << 20), b""):
            total += len(block)
            check_size(url, "the download", total, limit)
            out.write(block)
    return target


def _inside(folder: Path, name: str) -> Path:
    target = (folder / name).resolve()
    if os.path.isabs(name) or not target.is_relative_to(folder.resolve()):
        raise FileFormatError(name, f"archive member would be written outside {folder}")
    return target


def extract_archive(path, folder, archive_format="auto"):
    """Unpack a tar (.tar, .tar.gz, .tgz, .tar.bz2) or zip archive into ``folder``; True when done."""
    path, folder = Path(path), Path(folder)
    kinds = ["tar", "zip"] if archive_format == "auto" else [archive_format] if archive_format else []
    if "tar" in kinds and tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            members = archive.getmembers()
            for m in members:
                _inside(folder, m.name)
                if not (m.isfile() or m.isdir()):
                    raise FileFormatError(path, f"member {m.name!r} is a link or device, which is not extracted")
            check_size(path, "the unpacked members", sum(m.size for m in members), max_load_bytes())
            archive.extractall(folder, members=members, filter="data")
        return True
    if "zip" in kinds and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            for info in infos:
                _inside(folder, info.filename)
            check_size(path, "the unpacked members", sum(i.file_size for i in infos), max_load_bytes())
            archive.extractall(folder)
        return True
    return False


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """The local path of ``origin`` (downloaded once, verified); see the module docstring."""
    if origin is None:
        raise ValueError('get_file: please specify the "origin" argument (the URL of the file)')
    if fname is None:
        fname = os.path.basename(urllib.parse.urlparse(origin).path)
        if not fname:
            raise ValueError(f"get_file: cannot infer a file name from origin={origin!r}; pass fname")
    checksum = _checksum(file_hash or md5_hash, "md5" if md5_hash and not file_hash else hash_algorithm)
    if checksum is not None:
        download.parse_checksum(checksum)  # a malformed hash fails before anything is fetched
    folder = Path(cache_subdir) if os.path.isabs(cache_subdir) else Path(cache_dir or download.cache_dir()) / \
        cache_subdir
    name = fname + ".tar.gz" if untar else fname
    local = None if (cache_dir or force_download) else download.find_local(cache_subdir, name)
    if local is not None:
        if checksum is not None:
            download.verify(local, checksum)
        fpath = local
    else:
        fpath = Path(fname) if os.path.isabs(name) else folder / name
        stale = fpath.is_file() and (force_download or (checksum is not None and not download.matches(fpath,
                                                                                                    checksum)))
        if not fpath.is_file() or stale:
            fpath.parent.mkdir(parents=True, exist_ok=True)
            download.fetch(origin, fpath, checksum) if checksum else _fetch_unchecked(origin, fpath)
    if untar:
        unpacked = fpath.parent / fname
        if not unpacked.exists():
            extract_archive(fpath, fpath.parent, "tar")
        return str(unpacked)
    if extract:
        extract_archive(fpath, fpath.parent, archive_format)
    return str(fpath)

