"""The four speed workloads, minidl against PyTorch in one run (float32, 2 CPU threads).

    python benchmarks/bench_nn.py            # all workloads
    python benchmarks/bench_nn.py cnn lstm   # some of them
    python benchmarks/bench_nn.py --repeats 30

1. cnn:         seed CNN training step (Conv 32 3x3 + ReLU, MaxPool 2, Conv 64 3x3 + ReLU, MaxPool 2,
                Flatten, Linear 1600->128 + ReLU, Linear 128->10, cross-entropy, backward, Adam), batch 32
2. lstm:        Embedding(1000, 64) + LSTM(64) over 100 steps + Linear 64->64 + ReLU + Linear 64->10,
                training step with Adam, batch 32 (torch: nn.LSTM, and a Python loop over nn.LSTMCell)
3. attention:   scaled dot-product attention forward + backward, Q, K, V of (32, 8, 100, 64)
4. transformer: one TransformerEncoderLayer (d_model 64, 8 heads, ffn 512, seq 100, batch 32)
                forward + backward

Prints the median time of each and the ratio minidl / torch; also the peak memory of the CNN step
(each framework measured in its own fresh process, as the growth of its peak resident size).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _timing import median_times, set_threads

set_threads(2)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import minidl  # noqa: E402
import minidl.nn as mnn  # noqa: E402
from minidl import functional as MF  # noqa: E402
from minidl import optim as moptim  # noqa: E402

B = 32


# ---- workloads: each returns a zero-argument step function --------------------------------
def minidl_cnn():
    model = mnn.Sequential(
        mnn.Conv2d(1, 32, 3), mnn.ReLU(), mnn.MaxPool2d(2),
        mnn.Conv2d(32, 64, 3), mnn.ReLU(), mnn.MaxPool2d(2),
        mnn.Flatten(), mnn.Linear(1600, 128), mnn.ReLU(), mnn.Linear(128, 10),
    )
    opt = moptim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.standard_normal((B, 1, 28, 28)).astype(np.float32))
    y = minidl.tensor(rng.integers(0, 10, B))

    def step():
        opt.zero_grad()
        loss = MF.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def torch_cnn(torch):
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(B, 1, 28, 28)
    y = torch.randint(0, 10, (B,))

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


class MinidlLSTMNet(mnn.Module):
    def __init__(self):
        super().__init__()
        self.emb = mnn.Embedding(1000, 64)
        self.lstm = mnn.LSTM(64, 64, batch_first=True)
        self.fc1 = mnn.Linear(64, 64)
        self.fc2 = mnn.Linear(64, 10)

    def forward(self, tokens):
        out, (h, _) = self.lstm(self.emb(tokens))
        return self.fc2(MF.relu(self.fc1(h[-1])))


def minidl_lstm():
    model = MinidlLSTMNet()
    opt = moptim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    tokens = minidl.tensor(rng.integers(0, 1000, (B, 100)))
    y = minidl.tensor(rng.integers(0, 10, B))

    def step():
        opt.zero_grad()
        MF.cross_entropy(model(tokens), y).backward()
        opt.step()

    return step


def torch_lstm(torch, cell_loop=False):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(1000, 64)
            self.lstm = nn.LSTMCell(64, 64) if cell_loop else nn.LSTM(64, 64, batch_first=True)
            self.fc1 = nn.Linear(64, 64)
            self.fc2 = nn.Linear(64, 10)

        def forward(self, tokens):
            x = self.emb(tokens)
            if cell_loop:
                h = c = torch.zeros(x.shape[0], 64)
                for t in range(x.shape[1]):
                    h, c = self.lstm(x[:, t], (h, c))
            else:
                _, (h, _) = self.lstm(x)
                h = h[-1]
            return self.fc2(torch.relu(self.fc1(h)))

    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, 1000, (B, 100))
    y = torch.randint(0, 10, (B,))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(tokens), y).backward()
        opt.step()

    return step


def minidl_attention():
    q, k, v = (minidl.randn(32, 8, 100, 64, requires_grad=True) for _ in range(3))
    dy = minidl.randn(32, 8, 100, 64)

    def step():
        for t in (q, k, v):
            t.grad = None
        MF.scaled_dot_product_attention(q, k, v).backward(dy)

    return step


def torch_attention(torch):
    q, k, v = (torch.randn(32, 8, 100, 64, requires_grad=True) for _ in range(3))
    dy = torch.randn(32, 8, 100, 64)

    def step():
        for t in (q, k, v):
            t.grad = None
        torch.nn.functional.scaled_dot_product_attention(q, k, v).backward(dy)

    return step


def minidl_transformer():
    layer = mnn.TransformerEncoderLayer(64, 8, dim_feedforward=512, dropout=0.0, batch_first=True)
    x = minidl.randn(B, 100, 64, requires_grad=True)
    dy = minidl.randn(B, 100, 64)

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x).backward(dy)

    return step


def torch_transformer(torch):
    layer = torch.nn.TransformerEncoderLayer(64, 8, dim_feedforward=512, dropout=0.0, batch_first=True)
    x = torch.randn(B, 100, 64, requires_grad=True)
    dy = torch.randn(B, 100, 64)

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x).backward(dy)

    return step


WORKLOADS = {
    "cnn": (minidl_cnn, torch_cnn, 1.5),
    "lstm": (minidl_lstm, torch_lstm, 3.0),
    "attention": (minidl_attention, torch_attention, 1.5),
    "transformer": (minidl_transformer, torch_transformer, 1.5),
}


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_child(framework):
    """Run in a child process: how far the peak resident size rises above the resident size
    before the model is built, over 5 training steps (MiB; Linux: the peak is reset through
    /proc/self/clear_refs first). For minidl also the peak of its traced array memory."""
    import tracemalloc

    if framework == "torch":
        import torch

        torch.set_num_threads(2)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident size
    base = _status_kib("VmRSS")
    tracemalloc.start()
    step = torch_cnn(torch) if framework == "torch" else minidl_cnn()
    for _ in range(5):
        step()
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps({"rss": (_status_kib("VmHWM") - base) / 1024, "traced": traced}))


def peak_memory(framework):
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", framework], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        peak_memory_child(args.memory_child)
        return
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
    minidl.manual_seed(0)
    print(f"threads: 2, batch {B}, float32, median of {args.repeats} runs in 3 alternating warmed blocks")
    print(f"{'workload':<14}{'minidl ms':>11}{'torch ms':>11}{'ratio':>8}{'target':>8}")
    for name in args.workloads:
        make_minidl, make_torch, target = WORKLOADS[name]
        if torch is None:
            (t_minidl,) = median_times([make_minidl()], args.repeats)
            print(f"{name:<14}{t_minidl * 1e3:>11.2f}{'-':>11}")
            continue
        steps = [make_minidl(), make_torch(torch)]
        if name == "lstm":
            steps.append(torch_lstm(torch, cell_loop=True))
        t_minidl, t_torch, *t_cell = median_times(steps, args.repeats)
        print(f"{name:<14}{t_minidl * 1e3:>11.2f}{t_torch * 1e3:>11.2f}{t_minidl / t_torch:>8.2f}{target:>8.1f}")
        if t_cell:
            print(f"{'  vs LSTMCell loop':<25}{t_cell[0] * 1e3:>11.2f}{t_minidl / t_cell[0]:>8.2f}{1.0:>8.1f}")
    if "cnn" in args.workloads:
        mem = peak_memory("minidl")
        line = f"CNN step, peak resident growth: minidl {mem['rss']:.1f} MiB"
        if torch is not None:
            line += f", torch {peak_memory('torch')['rss']:.1f} MiB"
        print(line + f"; minidl's peak traced array memory {mem['traced']:.1f} MiB")


if __name__ == "__main__":
    main()
