"""Atomic saving: a writer killed with SIGKILL at random moments, many times, always leaves the
previous file whole and loadable (one of the versions it saved, never older than the last one
seen), and the next completed save removes the temporary files the killed writers left. Also:
an exception inside ``atomic_write`` leaves the target as it was and no temporary file; file
modes follow the umask; symbolic links are followed; live writers' temporary files are kept."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import minidl
from minidl import _files, keras
from minidl.datasets import read_idx

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or os.name != "posix", reason="needs fork and SIGKILL")

# A server process that forks one writer per request: the writer saves versions start, start+1, ...
# of a payload in a loop until it is killed; the server reaps it and says so. Forking from a
# process that has already imported minidl keeps each round to a few milliseconds.
SERVER = textwrap.dedent("""
    import os, sys
    import numpy
    import minidl
    from minidl import keras
    from minidl._files import write_json
    from minidl.datasets import write_idx

    model = keras.Sequential([keras.Input(shape=(40,)), keras.layers.Dense(300), keras.layers.Dense(10)])

    def payload(i):
        return numpy.arange(1000 + (i * 7919) % 60000, dtype=numpy.float64) * (i + 1)

    def save(kind, path, i):
        if kind == "npz":
            minidl.save({"v": payload(i), "version": numpy.int64(i)}, path)
        elif kind == "idx":
            write_idx(path, numpy.concatenate([[float(i)], payload(i)[:4000]]))
        elif kind == "json":
            write_json(path, {"version": i, "v": payload(i)[:3000].tolist()})
        elif kind in ("keras", "weights"):
            model.set_weights([numpy.full(w.shape, i, w.dtype) for w in model.get_weights()])
            model.save(path) if kind == "keras" else model.save_weights(path)
        else:
            raise SystemExit(f"unknown kind {kind}")

    while True:
        line = sys.stdin.readline()
        if not line:
            break
        kind, path, start = line.split()
        if kind == "init":
            continue
        pid = os.fork()
        if pid == 0:
            i = int(start)
            while True:
                save(kind, path, i)
                i += 1
        print(pid, flush=True)
        os.waitpid(pid, 0)
        print("reaped", flush=True)
""")


def payload(i):
    return np.arange(1000 + (i * 7919) % 60000, dtype=np.float64) * (i + 1)


def _load_version(kind, path):
    """The version in the file at ``path``, after checking that its content is that version's."""
    if kind == "npz":
        loaded = minidl.load(path)
        version = int(loaded["version"].item())
        np.testing.assert_array_equal(loaded["v"].numpy(), payload(version))
    elif kind == "idx":
        array = read_idx(path)
        version = int(array[0])
        np.testing.assert_array_equal(array[1:], payload(version)[:4000])
    elif kind in ("keras", "weights"):
        model = keras.models.load_model(path) if kind == "keras" else _model()
        if kind == "weights":
            model.load_weights(path)
        weights = model.get_weights()
        version = int(weights[0].flat[0])
        assert all((w == version).all() for w in weights)
    else:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        version = doc["version"]
        assert doc["v"] == payload(version)[:3000].tolist()
    return version


def _model():
    return keras.Sequential([keras.Input(shape=(40,)), keras.layers.Dense(300), keras.layers.Dense(10)])


def _save_first_version(kind, path):
    if kind == "npz":
        minidl.save({"v": payload(0), "version": np.int64(0)}, path)
    elif kind == "idx":
        minidl.datasets.write_idx(path, np.concatenate([[0.0], payload(0)[:4000]]))
    elif kind == "json":
        _files.write_json(path, {"version": 0, "v": payload(0)[:3000].tolist()})
    else:
        model = _model()
        model.set_weights([np.zeros_like(w) for w in model.get_weights()])
        model.save(path) if kind == "keras" else model.save_weights(path)


@pytest.fixture(scope="module")
def server():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    yield proc
    proc.stdin.close()
    proc.wait(timeout=60)


@pytest.mark.parametrize("kind, name", [("npz", "state.npz"), ("idx", "data.idx.gz"), ("json", "run.json"),
                                        ("keras", "model.keras"), ("weights", "model.weights.npz")])
def test_sigkill_at_random_moments_leaves_the_previous_file(server, tmp_path, kind, name):
    path = tmp_path / name
    rng = random.Random(f"{kind}-kills")
    last = 0
    _save_first_version(kind, path)
    leftovers = 0
    for _ in range(40):
        server.stdin.write(f"{kind} {path} {last + 1}\n")
        server.stdin.flush()
        pid = int(server.stdout.readline())
        time.sleep(rng.uniform(0.0, 0.05))  # a random moment: before, during or between saves
        os.kill(pid, signal.SIGKILL)
        assert server.stdout.readline().strip() == "reaped"
        version = _load_version(kind, path)
        assert version >= last  # the newest completed save, never an older one
        last = version
        leftovers += len(_files.temp_files(path))
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [name]
    # the next completed save in this folder removes what the killed writers left
    _save_first_version(kind, path)
    assert _files.temp_files(path) == [] and _load_version(kind, path) == 0
    print(f"{kind}: {last} versions saved over 40 kills, {leftovers} temporary files seen after kills")


def test_an_error_inside_atomic_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "keep.bin"
    _files.write_bytes(path, b"old")
    with pytest.raises(KeyboardInterrupt):
        with _files.atomic_write(path) as f:
            f.write(b"half of the new")
            raise KeyboardInterrupt
    assert path.read_bytes() == b"old" and _files.temp_files(path) == []
    with pytest.raises(TypeError):
        minidl.save({"x": np.array(["text"])}, path)
    assert path.read_bytes() == b"old" and _files.temp_files(path) == []


def test_a_live_writers_temporary_file_is_kept(tmp_path):
    path = tmp_path / "shared.npz"
    with _files.atomic_write(path) as f:
        f.write(b"first")
        _files.write_bytes(path, b"second")  # another save of the same target meanwhile (a thread)
        assert len(_files.temp_files(path)) == 1  # ours, still being written, survives its cleanup
    assert path.read_bytes() == b"first" and _files.temp_files(path) == []
    # a dead writer's file (a process id that is not running) and one of this process are removed
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for pid in (dead.pid, os.getpid()):
        (tmp_path / f".shared.npz.tmp-{pid}-0000").write_bytes(b"partial")
    (tmp_path / ".other.npz.tmp-1-0000").write_bytes(b"another target's")
    _files.write_bytes(path, b"third")
    assert _files.temp_files(path) == [] and (tmp_path / ".other.npz.tmp-1-0000").exists()


def test_mode_follows_the_umask_and_links_are_followed(tmp_path):
    old = os.umask(0o022)
    try:
        _files.write_text(tmp_path / "a.txt", "a")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    (tmp_path / "real.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    _files.write_text(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "real.txt").read_text() == "new"
    with pytest.raises(ValueError, match="mode"):
        with _files.atomic_write(tmp_path / "b.txt", "a"):
            pass
