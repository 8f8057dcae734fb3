"""Data-parallel training on 1 and 2 ranks (MPI): samples per second and the share of each step
spent in communication, plus the message costs α and β of the machine.

    python benchmarks/bench_distributed.py                  # the seed CNN, global batch 64
    python benchmarks/bench_distributed.py --model mlp --batch 128 --ranks 1 2 4
    python benchmarks/bench_distributed.py --fast           # fewer sizes and steps

Each setting runs in fresh processes with one BLAS thread per rank (``minidl.distributed.measure``:
``mpiexec -n p`` for p > 1, a plain process for p = 1), on random inputs of MNIST's shape, with
the global batch shared equally by the ranks. A step is timed in parts: compute (forward,
backward, update), waiting at a barrier for the slower rank, and ``reduce_gradients()`` (of it,
the time inside ``MPI_Allreduce``). The ranks share this machine's cores: two ranks on two cores
that other processes also use do not make training faster; the table says what they cost.
Needs the extra ``minidl[distributed]`` for p > 1.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from minidl.distributed import measure, mpi_available, mpiexec_path, ring_cost  # noqa: E402


def _table(results):
    head = (f"{'ranks':>5} {'batch/rank':>10} {'step ms':>8} {'samples/s':>10} {'compute ms':>10} {'wait ms':>8} "
            f"{'reduce ms':>9} {'allreduce ms':>12} {'comm share':>10}")
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['world_size']:>5} {r['batch'] // r['world_size']:>10} {r['step_s'] * 1e3:>8.1f} "
              f"{r['samples_per_s']:>10.1f} {r['compute_s'] * 1e3:>10.1f} {r['wait_s'] * 1e3:>8.1f} "
              f"{r['comm_s'] * 1e3:>9.2f} {r['allreduce_s'] * 1e3:>12.2f} {r['comm_share']:>10.1%}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    ap.add_argument("--batch", type=int, default=64, help="global batch, shared by the ranks")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--fast", action="store_true")
    args = ap.parse_args(argv)
    if max(args.ranks) > 1 and not (mpi_available() and mpiexec_path()):
        print("mpi4py or mpiexec missing (pip install 'minidl[distributed]'): only 1 rank is measured")
        args.ranks = [1]
    print(f"model {args.model}, global batch {args.batch}, one BLAS thread per rank, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    results, cost = [], None
    for p in args.ranks:
        out = measure.run(p, fast=args.fast, model=args.model, batch=args.batch,
                          what=("exchange", "train") if p == 2 else ("train",))
        results.append(out["train"])
        cost = out.get("exchange", cost)
    print()
    _table(results)
    if cost is not None:
        n = results[0]["parameters"] * 4  # float32 gradient bytes
        alpha, beta = cost["alpha_s"], cost["beta_s_per_byte"]
        print(f"\nmessage cost (2 ranks, one ring step): alpha = {alpha * 1e6:.1f} us, "
              f"beta = {beta * 1e9:.3f} ns/byte ({1 / beta / 1e9 if beta else float('inf'):.2f} GB/s)")
        print(f"model of one all-reduce of the {n / 1e6:.2f} MB gradient: "
              + ", ".join(f"p={p}: {ring_cost(n, p, alpha, beta) * 1e3:.2f} ms" for p in (2, 4, 8, 16)))
    base = results[0]["samples_per_s"]
    print("\nspeed-up over 1 rank: " + ", ".join(f"{r['world_size']} ranks {r['samples_per_s'] / base:.2f}x"
                                               for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
