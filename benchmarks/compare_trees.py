"""Time the bench_nn workloads of two source trees of minidl in one run, interleaved.

    python benchmarks/compare_trees.py /path/to/old/tree               # the old tree against this one, cnn
    python benchmarks/compare_trees.py OLD cnn transformer --repeats 30 --new /path/to/new/tree
    python benchmarks/compare_trees.py OLD --reference                 # the new tree also with MINIDL_REFERENCE=1

Each tree runs in its own worker process (its ``minidl`` imported from that tree, the workload
built by this folder's ``bench_nn.py``); the workers take turns running blocks of steps, each
block warmed first, so a slow spell of a loaded machine hits both trees alike and their thread
pools never compete. Prints the median step time of each, the ratio to the first tree, and the
peak traced array memory of 5 steps (tracemalloc, a fresh worker per tree).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TAG = "@@"  # marks the worker's answer lines on its stdout


def _import_tree(tree):
    sys.path.insert(0, tree)
    import minidl

    if not os.path.abspath(minidl.__file__).startswith(os.path.abspath(tree)):
        raise RuntimeError(f"minidl came from {minidl.__file__}, not from {tree}")
    sys.path.insert(1, HERE)
    import bench_nn  # its own `import minidl` finds the tree's package, already imported

    return bench_nn


def worker(tree, workload, memory):
    """Build the workload from ``tree``; answer each line "N" on stdin with N step times."""
    bench_nn = _import_tree(tree)
    bench_nn.minidl.manual_seed(0)
    step = bench_nn.WORKLOADS[workload][0]()
    if memory:
        import tracemalloc

        tracemalloc.start()
        for _ in range(5):
            step()
        print(TAG + json.dumps(tracemalloc.get_traced_memory()[1] / 2**20), flush=True)
        return
    clock = time.process_time if os.environ.get("COMPARE_CLOCK") == "cpu" else time.perf_counter
    print(TAG + "ready", flush=True)
    for line in sys.stdin:
        start = time.perf_counter()
        step()
        while time.perf_counter() - start < 0.2:  # warm: caches, and the other worker's idle threads stop
            step()
        times = []
        for _ in range(int(line)):
            t = clock()
            step()
            times.append(clock() - t)
        print(TAG + json.dumps(times), flush=True)


def _answer(proc):
    for line in proc.stdout:
        if line.startswith(TAG):
            return json.loads(line[len(TAG):]) if line[len(TAG):].strip() != "ready" else "ready"
    raise RuntimeError(f"worker ended without an answer: {proc.args}")


def _spawn(tree, workload, reference, memory=False):
    env = dict(os.environ, MINIDL_REFERENCE="1" if reference else "0")
    cmd = [sys.executable, __file__, "--worker", tree, workload] + (["--memory"] if memory else [])
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def compare(candidates, workload, repeats, rounds):
    """Median seconds per step of each (label, tree, reference) candidate, interleaved blocks."""
    procs = [_spawn(tree, workload, ref) for _, tree, ref in candidates]
    try:
        for p in procs:
            _answer(p)
        times = [[] for _ in procs]
        for _ in range(rounds):
            for p, out in zip(procs, times):
                p.stdin.write(f"{max(1, repeats // rounds)}\n")
                p.stdin.flush()
                out.extend(_answer(p))
    finally:
        for p in procs:
            p.stdin.close()
            p.wait()
    return [statistics.median(t) for t in times]


def peak_memory(tree, workload, reference):
    proc = _spawn(tree, workload, reference, memory=True)
    value = _answer(proc)
    proc.wait()
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", help="the tree to compare against (e.g. an older checkout)")
    parser.add_argument("workloads", nargs="*", default=["cnn"], help="bench_nn workloads (default: cnn)")
    parser.add_argument("--new", default=os.path.dirname(HERE), help="the tree to measure (default: this one)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reference", action="store_true", help="also time NEW with MINIDL_REFERENCE=1")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall-clock time (default) or the worker's CPU time (steadier on a loaded machine)")
    args = parser.parse_args()
    os.environ["COMPARE_CLOCK"] = args.clock
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    candidates = [("old", args.old, False), ("new", args.new, False)]
    if args.reference:
        candidates.append(("new, reference", args.new, True))
    print(f"old: {args.old}\nnew: {args.new}\nmedian of {args.repeats} steps in {args.rounds} interleaved blocks, "
          f"{args.threads} BLAS threads, {args.clock} clock; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs")
    for workload in args.workloads:
        medians = compare(candidates, workload, args.repeats, args.rounds)
        for (label, tree, ref), t in zip(candidates, medians):
            mem = peak_memory(tree, workload, ref)
            print(f"{workload:<12}{label:<16}{t * 1e3:9.2f} ms  {t / medians[0]:5.2f}x old   "
                  f"peak traced {mem:6.1f} MiB", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], sys.argv[3], memory="--memory" in sys.argv[4:])
    else:
        main()
