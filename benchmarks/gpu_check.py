"""The GPU check: minidl's ops, training and speed on CuPy, in one run of under 5 minutes.

    PYTHONPATH=. python benchmarks/gpu_check.py              # needs CuPy and a CUDA GPU
    MINIDL_DATA=../shared/data PYTHONPATH=. python benchmarks/gpu_check.py

1. the op tests on ``cuda``: pytest over the tests that take the ``device`` or ``other_device``
   fixture, with ``MINIDL_TEST_DEVICES=cuda`` (every op compared with the CPU on the GPU);
2. the seed CNN (``python -m minidl train cnn``) for one epoch on MNIST at batch 256, on the GPU
   (skipped when ``MINIDL_DATA`` is unset);
3. the workloads of benchmarks/bench_nn.py (cnn, lstm, attention, transformer at batch 32) and
   the CNN training step at batch 256, timed on the GPU, on minidl's CPU backend and with torch on
   the same GPU; prints the ratios. Targets: the CNN step at batch 256 at least 10x faster on the
   GPU than on the CPU, and within 3x of torch on the GPU.

Without CuPy or a GPU it says which is missing and exits 0. ``--device strict --quick`` runs the
same steps on the strict host backend with tiny sizes (how the script itself is tested).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import minidl  # noqa: E402
import minidl.functional as MF  # noqa: E402
import minidl.nn as mnn  # noqa: E402
from minidl import backend  # noqa: E402

CNN_TARGETS = {"speedup_vs_cpu": 10.0, "ratio_vs_torch": 3.0}


def gpu_missing():
    """Why no GPU check can run here (a sentence), or None when CuPy sees a GPU."""
    if backend._load_cupy() is None:
        return f"CuPy is not installed ({backend._cupy_error}); {backend.GPU_INSTALL_HINT}"
    if not backend.cupy_available():
        return "CuPy is installed but sees no CUDA GPU"
    return None


def sync(device):
    if str(device).startswith("cuda"):
        minidl.cuda.synchronize()


def median_time(step, device, repeats, warmup=2):
    """Median seconds of ``step()``, waiting for the device before each clock reading."""
    for _ in range(warmup):
        step()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---- workloads (as in bench_nn.py, on a device): each returns a zero-argument step ----------
def sizes(quick):
    """batch, image side, sequence length, model width, heads, vocabulary (tiny when ``quick``)."""
    return dict(B=4, side=12, T=6, D=8, heads=2, vocab=50) if quick else dict(B=32, side=28, T=100, D=64, heads=8,
                                                                              vocab=1000)  # fmt: skip


def minidl_workload(name, device, s, batch=None):
    B = batch or s["B"]
    minidl.manual_seed(0)
    if name == "cnn":
        side = ((s["side"] - 2) // 2 - 2) // 2  # after two valid 3x3 convolutions and two 2x2 pools
        flat = 64 * side * side
        model = mnn.Sequential(
            mnn.Conv2d(1, 32, 3), mnn.ReLU(), mnn.MaxPool2d(2), mnn.Conv2d(32, 64, 3), mnn.ReLU(), mnn.MaxPool2d(2),
            mnn.Flatten(), mnn.Linear(flat, 128), mnn.ReLU(), mnn.Linear(128, 10),
        ).to(device)  # fmt: skip
        x, y = minidl.randn(B, 1, s["side"], s["side"], device=device), minidl.randint(0, 10, (B,), device=device)
        opt = minidl.optim.Adam(model.parameters(), lr=1e-3)
        return _train_step(model, opt, x, y)
    if name == "lstm":
        lstm = _LastHidden(mnn.LSTM(s["D"], s["D"], batch_first=True))
        model = mnn.Sequential(mnn.Embedding(s["vocab"], s["D"]), lstm, mnn.Linear(s["D"], s["D"]), mnn.ReLU(),
                               mnn.Linear(s["D"], 10)).to(device)  # fmt: skip
        x, y = minidl.randint(0, s["vocab"], (B, s["T"]), device=device), minidl.randint(0, 10, (B,), device=device)
        return _train_step(model, minidl.optim.Adam(model.parameters(), lr=1e-3), x, y)
    if name == "attention":
        shape = (B, s["heads"], s["T"], s["D"])
        q, k, v = (minidl.randn(*shape, device=device, requires_grad=True) for _ in range(3))
        dy = minidl.randn(*shape, device=device)
        return lambda: MF.scaled_dot_product_attention(q, k, v).backward(dy)
    if name == "transformer":
        layer = mnn.TransformerEncoderLayer(s["D"], s["heads"], dim_feedforward=8 * s["D"], dropout=0.0,
                                            batch_first=True).to(device)  # fmt: skip
        x = minidl.randn(B, s["T"], s["D"], device=device, requires_grad=True)
        dy = minidl.randn(B, s["T"], s["D"], device=device)
        return lambda: layer(x).backward(dy)
    raise ValueError(f"unknown workload {name!r}")


class _LastHidden(mnn.Module):
    """The last layer's final hidden state of a recurrent layer: (B, H)."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        _, (h, _) = self.rnn(x)
        return h[-1]


def _train_step(model, opt, x, y):
    def step():
        opt.zero_grad()
        MF.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def torch_workload(torch, name, device, s, batch=None):
    B, nn = batch or s["B"], torch.nn
    torch.manual_seed(0)
    if name == "cnn":
        side = ((s["side"] - 2) // 2 - 2) // 2
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Linear(128, 10),
        ).to(device)  # fmt: skip
        x, y = torch.randn(B, 1, s["side"], s["side"], device=device), torch.randint(0, 10, (B,), device=device)
    elif name == "lstm":

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb, self.lstm = nn.Embedding(s["vocab"], s["D"]), nn.LSTM(s["D"], s["D"], batch_first=True)
                self.head = nn.Sequential(nn.Linear(s["D"], s["D"]), nn.ReLU(), nn.Linear(s["D"], 10))

            def forward(self, tokens):
                return self.head(self.lstm(self.emb(tokens))[1][0][-1])

        model = Net().to(device)
        x, y = torch.randint(0, s["vocab"], (B, s["T"]), device=device), torch.randint(0, 10, (B,), device=device)
    elif name == "attention":
        q, k, v = (torch.randn(B, s["heads"], s["T"], s["D"], device=device, requires_grad=True) for _ in range(3))
        dy = torch.randn_like(q)
        return lambda: nn.functional.scaled_dot_product_attention(q, k, v).backward(dy)
    elif name == "transformer":
        layer = nn.TransformerEncoderLayer(s["D"], s["heads"], 8 * s["D"], dropout=0.0, batch_first=True).to(device)
        x = torch.randn(B, s["T"], s["D"], device=device, requires_grad=True)
        dy = torch.randn_like(x)
        return lambda: layer(x).backward(dy)
    else:
        raise ValueError(f"unknown workload {name!r}")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


# ---- the three parts ---------------------------------------------------------------------------
def run_op_tests(device, timeout):
    """pytest over the device-parametrized tests, on ``device`` only; returns its exit code."""
    env = dict(os.environ, MINIDL_TEST_DEVICES=device, HYPOTHESIS_PROFILE=os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "tests"), "-q", "--maxfail=20", "-p", "no:cacheprovider"]
    cmd += ["-k", device]  # the tests parametrized by the device fixtures (their ids name it)
    print("$ MINIDL_TEST_DEVICES=" + device, " ".join(cmd[1:]), flush=True)
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, timeout=timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        print(f"op tests: stopped after {timeout} s")
        return 124
    lines = done.stdout.strip().splitlines()
    failures = [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    print("\n".join(failures[:20] + lines[-1:]) or done.stderr[-2000:])
    return done.returncode


def train_seed_cnn(device, data_dir, limit=None):
    """One epoch of the seed CNN on MNIST at batch 256 on ``device``; returns the result dict."""
    from minidl.__main__ import build_model, compile_model, load_dataset

    os.environ["MINIDL_DATA"] = str(data_dir)
    (x, y), (xt, yt), num_classes = load_dataset("mnist", "cnn", limit)
    minidl.manual_seed(0)
    model = compile_model(build_model("cnn", x.shape[1:], num_classes)).to(device)
    model.fit(x[:512], y[:512], batch_size=256, epochs=1, verbose=0)  # warm-up: kernels compiled, pools filled
    sync(device)
    start = time.perf_counter()
    model.fit(x, y, batch_size=256, epochs=1, verbose=0, shuffle=True)
    sync(device)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(xt, yt, batch_size=256, verbose=0)
    print(f"seed CNN, 1 epoch of MNIST ({len(y)} images) at batch 256 on {device}: {seconds:.1f} s, "
          f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")  # fmt: skip
    return {"seconds": seconds, "test_loss": float(loss), "test_accuracy": float(accuracy)}


def time_workloads(device, quick, repeats, torch=None, torch_device=None):
    """Rows (name, minidl on device, minidl on cpu, torch on its device) in seconds."""
    s = sizes(quick)
    cases = [(name, None) for name in ("cnn", "lstm", "attention", "transformer")] + [("cnn", 16 if quick else 256)]
    rows = []
    for name, batch in cases:
        label = name if batch is None else f"{name} b{batch}"
        t_dev = median_time(minidl_workload(name, device, s, batch), device, repeats)
        t_cpu = median_time(minidl_workload(name, "cpu", s, batch), "cpu", max(2, repeats // 4), warmup=1)
        t_torch = None
        if torch is not None:
            step = torch_workload(torch, name, torch_device, s, batch)
            t_torch = median_time(step, "cpu", repeats) if torch_device == "cpu" else _torch_time(torch, step, repeats)
        rows.append((label, t_dev, t_cpu, t_torch))
        torch_ms = "-" if t_torch is None else f"{t_torch * 1e3:.2f}"
        ratio = "-" if t_torch is None else f"{t_dev / t_torch:.2f}"
        print(f"{label:<14}{t_dev * 1e3:>11.2f}{t_cpu * 1e3:>11.2f}{t_cpu / t_dev:>9.1f}{torch_ms:>11}{ratio:>9}",
              flush=True)  # fmt: skip
    return rows


def _torch_time(torch, step, repeats):
    for _ in range(2):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def verdict(rows):
    """Lines saying whether the CNN step at the large batch meets the targets."""
    label, t_dev, t_cpu, t_torch = rows[-1]
    target = CNN_TARGETS["speedup_vs_cpu"]
    lines = [f"{label}: {t_cpu / t_dev:.1f}x faster than the CPU backend (target >= {target:.0f}x)"]
    if t_torch is not None:
        lines.append(f"{label}: {t_dev / t_torch:.2f}x torch's time on the same device "
                     f"(target <= {CNN_TARGETS['ratio_vs_torch']:.0f}x)")  # fmt: skip
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), or strict to try the script on the host")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for testing the script)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip", nargs="*", default=[], choices=["tests", "mnist", "bench", "torch"])
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.device.startswith("cuda"):
        missing = gpu_missing()
        if missing:
            print(f"gpu_check: no GPU check here: {missing}.")
            return 0
        print(f"gpu_check: {minidl.cuda.device_count()} CUDA device(s); CuPy {backend._load_cupy().__version__}")
    elif args.device == "strict":
        from minidl.testing import use_strict_device

        use_strict_device()
    status = 0
    if "tests" not in args.skip:
        status = run_op_tests(args.device.split(":")[0], timeout=150)
    if "mnist" not in args.skip:
        data = os.environ.get("MINIDL_DATA")
        if data and Path(data, "mnist").is_dir():
            train_seed_cnn(args.device, data, limit=512 if args.quick else None)
        else:
            print("seed CNN on MNIST: skipped (MINIDL_DATA does not point at the datasets folder)")
    if "bench" not in args.skip:
        torch, torch_device = None, "cuda" if args.device.startswith("cuda") else "cpu"
        if "torch" not in args.skip:
            try:
                import torch

                if torch_device == "cuda" and not torch.cuda.is_available():
                    print("torch: installed without a usable CUDA device; no torch column")
                    torch = None
            except ImportError:
                print("torch: not installed; no torch column")
        print(f"\n{'workload':<14}{args.device + ' ms':>11}{'cpu ms':>11}{'speedup':>9}{'torch ms':>11}{'/torch':>9}")
        rows = time_workloads(args.device, args.quick, args.repeats, torch, torch_device)
        print("\n".join(verdict(rows)))
    print(f"gpu_check: done in {time.perf_counter() - start:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
