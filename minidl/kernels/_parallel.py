"""The threads that the CPU kernels split their independent pieces over.

NumPy runs each ufunc and each small matrix product on one core, and releases the GIL while it
runs; a kernel whose work falls into independent pieces (the score matrices of attention, the
chunks of an elementwise pass) can hand them to a few threads and use every core. The pieces are
cut by size alone, and each is computed exactly as it would be inline, so the result does not
depend on the number of threads.

``minidl.set_num_threads(n)`` sets how many (as ``torch.set_num_threads`` does; 1 runs every piece
inline); the default is ``OMP_NUM_THREADS`` when set, else the cores this process may run on, at
most 8. BLAS keeps its own threads for the large products (``OPENBLAS_NUM_THREADS``); ``import
minidl`` before NumPy also shortens the time those spin when idle (``OPENBLAS_THREAD_TIMEOUT``, in
``minidl/__init__.py``), so that they leave the cores to these threads soon after each product.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_MAX_DEFAULT = 8


def _default_threads() -> int:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_DEFAULT))


_lock = threading.Lock()
_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None
_in_worker = threading.local()


def get_num_threads() -> int:
    """How many threads the CPU kernels split their work over."""
    return _threads


def set_num_threads(n: int) -> None:
    """Let the CPU kernels split their work over ``n`` threads (``n >= 1``; 1: no extra threads)."""
    global _threads, _pool
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected an int >= 1, got {n!r}")
    with _lock:
        # the next call makes a pool of the new size; a call still running on the old pool finishes
        # there, and the old pool's idle threads exit once nothing refers to it
        _threads = n
        _pool = None


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, _threads - 1), thread_name_prefix="minidl-kernel",
                                       initializer=_mark_worker)
        return _pool


def _mark_worker():
    _in_worker.active = True


def _forget_pool_in_child():
    # a forked child has the pool object but none of its threads
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def run_pieces(fn, pieces, xp=None) -> None:
    """``fn(piece)`` for every piece, the calling thread and up to n − 1 pool threads taking the
    next piece as each finishes one; inline when there is one thread or one piece, inside a pool
    thread, or when the arrays are not NumPy's (CuPy launches its own kernels). Pieces must write
    to disjoint outputs. The first exception a piece raises is raised here, after the rest ran."""
    pieces = list(pieces)
    helpers = min(_threads, len(pieces)) - 1
    if helpers < 1 or getattr(_in_worker, "active", False) or (
            xp is not None and getattr(xp, "__name__", "numpy") != "numpy"):
        for piece in pieces:
            fn(piece)
        return
    queue, take = iter(pieces), threading.Lock()
    errors = []

    def drain():
        while True:
            with take:
                piece = next(queue, queue)
            if piece is queue:  # the iterator itself marks the end: no piece is the iterator
                return
            try:
                fn(piece)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(exc)

    pool = _get_pool()
    futures = [pool.submit(drain) for _ in range(helpers)]
    drain()
    for future in futures:
        future.result()
    if errors:
        raise errors[0]
