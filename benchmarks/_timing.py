"""Timing helpers shared by the benchmark scripts.

On a shared machine a slow spell hits whatever runs during it, so every comparison here times
its candidates in alternating blocks (each block warmed first): the candidates see the same
spells, and the thread pools of two libraries never compete. Figures are medians.
"""

from __future__ import annotations

import os
import statistics
import sys
import time


def threads_from_argv(default: int = 2) -> int:
    """``--threads N`` from the command line, needed before NumPy is imported (its BLAS reads the
    environment once)."""
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default


def set_threads(n: int = 2, force: bool = False):
    """Set the BLAS/OpenMP thread counts to ``n`` (call before NumPy or torch is imported); without
    ``force``, only where the environment does not set them already."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if force:
            os.environ[var] = str(n)
        else:
            os.environ.setdefault(var, str(n))
    # what ``import minidl`` sets when it comes before NumPy: idle BLAS threads sleep after 2^20
    # cycles instead of spinning 2^28 on the cores that minidl's kernel threads use next
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")


def median_times(fns, repeats, rounds=3, warmup=0.2, clock=time.perf_counter, with_minima=False):
    """Median seconds per call of each zero-argument function in ``fns``, timed in ``rounds``
    alternating blocks of ``repeats // rounds`` calls; each block is warmed for ``warmup``
    seconds (at least one call) first. ``clock``: ``time.perf_counter`` (wall) or
    ``time.process_time`` (this process's CPU time). With ``with_minima``: (medians, minima)."""
    times = [[] for _ in fns]
    per_block = max(1, repeats // rounds)
    for _ in range(rounds):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            while time.perf_counter() - start < warmup:
                fn()
            for _ in range(per_block):
                t = clock()
                fn()
                out.append(clock() - t)
    medians = [statistics.median(t) for t in times]
    return (medians, [min(t) for t in times]) if with_minima else medians


def median_ms(fns, repeats, rounds=3, warmup=0.1):
    """``median_times`` in milliseconds."""
    return [1e3 * t for t in median_times(fns, repeats, rounds=rounds, warmup=warmup)]


def timed(fn, repeats, warmup_calls=1):
    """Median seconds of ``repeats`` calls of ``fn`` after ``warmup_calls`` untimed ones."""
    for _ in range(warmup_calls):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_reference_mode(step):
    """``step`` run under ``minidl.reference_mode()`` (every op through its reference)."""
    import minidl

    def run():
        with minidl.reference_mode():
            step()

    return run


def load_line() -> str:
    """'load average L on N CPUs': how busy the machine was when the figures were taken."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
