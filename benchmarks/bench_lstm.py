"""LSTM speed: minidl against PyTorch's nn.LSTM and a Python loop over nn.LSTMCell, in one run
(float32, 2 CPU threads for both).

    python benchmarks/bench_lstm.py
    python benchmarks/bench_lstm.py --repeats 40 --composed   # also minidl's cell-by-cell path
    python benchmarks/bench_lstm.py --threads 1 --clock cpu   # CPU time: steadier on a busy machine

Workloads (T = 100 steps, batch B = 32, 64 inputs, 64 hidden units):
1. layer: LSTM(64, 64) forward + backward of output.sum() (gradients of the input and all weights)
2. train: Embedding(1000, 64) + LSTM(64, 64) + Linear 64->64 + ReLU + Linear 64->10 on the last
   hidden state, cross-entropy, backward, Adam step (when minidl has those layers)

The implementations are timed in turns (one step of each per round), so that a change in the
machine's load affects all of them alike; medians are printed, and the ratios to nn.LSTM.
Target: minidl's training step at most 3.0x nn.LSTM's, and faster than the LSTMCell loop.
On a machine shared with other work, wall-clock times of multi-threaded code mostly measure the
contention; ``--clock cpu`` (process CPU time) with ``--threads 1`` is a steadier comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def _threads_from_argv(default=2):
    """--threads must be known before NumPy is imported (its BLAS reads the environment once)."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return str(default)


THREADS = _threads_from_argv()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = THREADS

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import minidl  # noqa: E402
import minidl.nn as mnn  # noqa: E402
from minidl import functional as MF  # noqa: E402

T, B, I, H, V, C = 100, 32, 64, 64, 1000, 10


# ---- 1. the LSTM layer alone ----------------------------------------------------------------
def minidl_layer(fused=True):
    lstm = mnn.LSTM(I, H)
    lstm.fused = fused
    x = minidl.randn(T, B, I, requires_grad=True)

    def step():
        lstm.zero_grad()
        x.grad = None
        out, _ = lstm(x)
        out.sum().backward()

    return step


def torch_layer(torch, cell_loop=False):
    x = torch.randn(T, B, I, requires_grad=True)
    if not cell_loop:
        lstm = torch.nn.LSTM(I, H)

        def step():
            lstm.zero_grad()
            x.grad = None
            out, _ = lstm(x)
            out.sum().backward()

        return step
    cell = torch.nn.LSTMCell(I, H)

    def step():
        cell.zero_grad()
        x.grad = None
        h = c = torch.zeros(B, H)
        outs = []
        for t in range(T):
            h, c = cell(x[t], (h, c))
            outs.append(h)
        torch.stack(outs).sum().backward()

    return step


# ---- 2. a training step ---------------------------------------------------------------------
def have_training_parts():
    return all(hasattr(mnn, n) for n in ("Embedding", "Linear")) and hasattr(MF, "cross_entropy") and _has_adam()


def _has_adam():
    try:
        from minidl.optim import Adam  # noqa: F401
    except ImportError:
        return False
    return True


def minidl_train(fused=True):
    from minidl.optim import Adam

    class Net(mnn.Module):
        def __init__(self):
            super().__init__()
            self.emb = mnn.Embedding(V, I)
            self.lstm = mnn.LSTM(I, H)
            self.lstm.fused = fused
            self.fc1 = mnn.Linear(H, H)
            self.fc2 = mnn.Linear(H, C)

        def forward(self, tokens):  # tokens (T, B)
            _, (h, _) = self.lstm(self.emb(tokens))  # h: (1, B, H)
            return self.fc2(MF.relu(self.fc1(h[-1])))

    model = Net()
    opt = Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    tokens = minidl.tensor(rng.integers(0, V, (T, B)))
    y = minidl.tensor(rng.integers(0, C, B))

    def step():
        opt.zero_grad()
        MF.cross_entropy(model(tokens), y).backward()
        opt.step()

    return step


def torch_train(torch, cell_loop=False):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, I)
            self.lstm = nn.LSTMCell(I, H) if cell_loop else nn.LSTM(I, H)
            self.fc1 = nn.Linear(H, H)
            self.fc2 = nn.Linear(H, C)

        def forward(self, tokens):  # tokens (T, B)
            x = self.emb(tokens)
            if cell_loop:
                h = c = torch.zeros(B, H)
                for t in range(T):
                    h, c = self.lstm(x[t], (h, c))
            else:
                _, (h, _) = self.lstm(x)
                h = h[-1]
            return self.fc2(torch.relu(self.fc1(h)))

    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, V, (T, B))
    y = torch.randint(0, C, (B,))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(tokens), y).backward()
        opt.step()

    return step


# ---- timing ---------------------------------------------------------------------------------
def time_in_turns(steps, repeats, warmup=3, clock=time.perf_counter):
    """Median seconds per step of each named step function, measured round-robin."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            t = clock()
            fn()
            times[name].append(clock() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def report(title, medians, reference="torch nn.LSTM"):
    print(f"\n{title}")
    ref = medians[reference]
    for name, sec in medians.items():
        print(f"  {name:<28} {sec * 1e3:8.2f} ms   {sec / ref:5.2f}x {reference}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--composed", action="store_true", help="also time minidl's composed (cell-by-cell) path")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and for NumPy's BLAS (default 2)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall-clock time (default) or the process's CPU time")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    minidl.manual_seed(0)
    print(f"T={T}, B={B}, input {I}, hidden {H}; torch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"numpy {np.__version__} (BLAS threads {THREADS}); {args.clock} clock, {args.repeats} rounds; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

    layer = {"minidl LSTM": minidl_layer(), "torch nn.LSTM": torch_layer(torch),
             "torch LSTMCell loop": torch_layer(torch, cell_loop=True)}
    if args.composed:
        layer["minidl LSTM (composed)"] = minidl_layer(fused=False)
    report("1. LSTM layer forward + backward", time_in_turns(layer, args.repeats, clock=clock))

    if not have_training_parts():
        print("\n2. training step: skipped (minidl lacks Embedding, Linear, cross_entropy or Adam)")
        return
    train = {"minidl": minidl_train(), "torch nn.LSTM": torch_train(torch),
             "torch LSTMCell loop": torch_train(torch, cell_loop=True)}
    if args.composed:
        train["minidl (composed)"] = minidl_train(fused=False)
    medians = time_in_turns(train, args.repeats, clock=clock)
    report("2. training step (Embedding + LSTM + Linear + ReLU + Linear, cross-entropy, Adam)", medians)
    ratio = medians["minidl"] / medians["torch nn.LSTM"]
    faster = medians["minidl"] < medians["torch LSTMCell loop"]
    print(f"\ntarget: minidl <= 3.0x nn.LSTM: {'met' if ratio <= 3.0 else 'NOT met'} ({ratio:.2f}x); "
          f"faster than the LSTMCell loop: {'yes' if faster else 'NO'}")


if __name__ == "__main__":
    main()
