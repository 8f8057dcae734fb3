"""Recurrent speed: minidl's fused kernels, minidl's references (``minidl.reference_mode()``) and
PyTorch, in one run (float32, 2 CPU threads for both). This is the benchmark that decides which
kernels of minidl/kernels/recurrent.py stay.

    python benchmarks/bench_lstm.py
    python benchmarks/bench_lstm.py --repeats 10 seed lstm_layer
    python benchmarks/bench_lstm.py --threads 1 --clock cpu   # CPU time: steadier on a busy machine

Workloads (forward + backward; T = 100 steps, batch B = 32, 64 inputs, 64 hidden units):
  seed         the Embedding+LSTM seed model's training step: Embedding(1000, 64) + LSTM(64, 64,
               batch_first) + Linear 64->64 + ReLU + Linear 64->10 on the last hidden state,
               cross-entropy, backward, Adam step
  lstm_layer   nn.LSTM(64, 64) alone; gru_layer, rnn_layer likewise with nn.GRU / nn.RNN
  lstm_cell    one nn.LSTMCell(64, 64) step on a batch of 32; gru_cell, rnn_cell likewise
  tiny_layer   nn.LSTM(2, 2) over T = 2, batch 1 (where per-op overhead is everything)

For each: the median of the kernel (default mode), of the reference (the same step under
``reference_mode()``) and of PyTorch, with the ratios reference / kernel (what the kernel buys)
and kernel / torch. The three are timed in alternating blocks, each block warmed up first, so
that a change in the machine's load hits all alike; on a machine shared with other work the
figures are still noisy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from _timing import in_reference_mode, median_times, set_threads, threads_from_argv

THREADS = threads_from_argv()
set_threads(THREADS, force=True)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import minidl  # noqa: E402
import minidl.nn as mnn  # noqa: E402
from minidl import functional as MF  # noqa: E402
from minidl.optim import Adam  # noqa: E402

T, B, I, H, V, C = 100, 32, 64, 64, 1000, 10


# ---- the seed model's training step ------------------------------------------------------------
def minidl_seed():
    class Net(mnn.Module):
        def __init__(self):
            super().__init__()
            self.emb = mnn.Embedding(V, I)
            self.lstm = mnn.LSTM(I, H, batch_first=True)
            self.fc1 = mnn.Linear(H, H)
            self.fc2 = mnn.Linear(H, C)

        def forward(self, tokens):  # tokens (B, T)
            _, (h, _) = self.lstm(self.emb(tokens))  # h: (1, B, H)
            return self.fc2(MF.relu(self.fc1(h[-1])))

    model = Net()
    opt = Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    tokens, y = minidl.tensor(rng.integers(0, V, (B, T))), minidl.tensor(rng.integers(0, C, B))

    def step():
        opt.zero_grad()
        MF.cross_entropy(model(tokens), y).backward()
        opt.step()

    return step


def torch_seed(torch):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm = nn.Embedding(V, I), nn.LSTM(I, H, batch_first=True)
            self.fc1, self.fc2 = nn.Linear(H, H), nn.Linear(H, C)

        def forward(self, tokens):
            _, (h, _) = self.lstm(self.emb(tokens))
            return self.fc2(torch.relu(self.fc1(h[-1])))

    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens, y = torch.randint(0, V, (B, T)), torch.randint(0, C, (B,))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(tokens), y).backward()
        opt.step()

    return step


# ---- one layer or one cell, forward + backward of the outputs' sum ------------------------------
def _module_step(lib, cls, shape, sizes, cell):
    nn = lib.nn if lib is not minidl else mnn
    module = getattr(nn, cls)(*sizes)
    x = lib.randn(*shape, requires_grad=True)

    def step():
        module.zero_grad()
        x.grad = None
        out = module(x)
        out = out if cell and cls != "LSTMCell" else out[0]
        out.sum().backward()

    return step


def module_workload(cls, shape, sizes, cell=False):
    return (lambda: _module_step(minidl, cls, shape, sizes, cell),
            lambda torch: _module_step(torch, cls, shape, sizes, cell))


WORKLOADS = {
    "seed": (minidl_seed, torch_seed),
    "lstm_layer": module_workload("LSTM", (T, B, I), (I, H)),
    "gru_layer": module_workload("GRU", (T, B, I), (I, H)),
    "rnn_layer": module_workload("RNN", (T, B, I), (I, H)),
    "lstm_cell": module_workload("LSTMCell", (B, I), (I, H), cell=True),
    "gru_cell": module_workload("GRUCell", (B, I), (I, H), cell=True),
    "rnn_cell": module_workload("RNNCell", (B, I), (I, H), cell=True),
    "tiny_layer": module_workload("LSTM", (2, 1, 2), (2, 2)),
}


# ---- timing ---------------------------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS), help=", ".join(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and for NumPy's BLAS (default 2)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall-clock time (default) or the process's CPU time")
    args = parser.parse_args()
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    minidl.manual_seed(0)
    print(f"T={T}, B={B}, input {I}, hidden {H}; float32; torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads, numpy {np.__version__} (BLAS threads {THREADS}); {args.clock} clock, median of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    header = f"{'kernel ms':>11}{'reference ms':>14}{'torch ms':>10}{'ref/kernel':>12}{'kernel/torch':>14}"
    print(f"{'workload':<12}{header}")
    for name in args.workloads:
        make_minidl, make_torch = WORKLOADS[name]
        ours = make_minidl()
        kernel, reference, theirs = median_times([ours, in_reference_mode(ours), make_torch(torch)], args.repeats,
                                                 clock=clock)
        print(f"{name:<12}{kernel * 1e3:>11.2f}{reference * 1e3:>14.2f}{theirs * 1e3:>10.2f}"
              f"{reference / kernel:>12.2f}{kernel / theirs:>14.2f}", flush=True)


if __name__ == "__main__":
    main()
