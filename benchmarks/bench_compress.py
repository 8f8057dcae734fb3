"""Compressing the seed CNN trained on MNIST: size on disk, test accuracy and inference time of
each variant, beside PyTorch's dynamic int8 quantization of the same weights.

    python benchmarks/bench_compress.py            # full MNIST, 1 epoch of training (minutes)
    python benchmarks/bench_compress.py --fast     # 6000 training and 1000 test images, 2 epochs (minutes)
    python benchmarks/bench_compress.py --train 20000 --epochs 2 --test 5000

Variants: float32; pruned 50/80/90 % (global magnitude pruning of every conv and linear weight, a
short fine-tune, then made permanent); int8 (minidl.compress.quantize, dynamic, conv and linear);
int8 of the linear layers only (what torch.ao's quantize_dynamic covers); int8 static (calibrated
on training batches); int8 + pruned 80 %; low rank (the 1600x128 layer at rank 16, fine-tuned); a
student CNN of a quarter of the channels trained by distillation from the float model (and the
same student trained on the labels alone). PyTorch rows: the same float weights in torch.nn, and
``torch.ao.quantization.quantize_dynamic(model, {nn.Linear})``. Then the same for a Transformer
classifier reading the 28 rows of an image as 28 tokens (one encoder layer, 4 heads of 16 dims):
float, 2 of its 4 heads pruned (the smallest by norm) and fine-tuned, 50 % pruned, int8 (its Linear
layers; the attention's in_proj and out_proj stay float, as in PyTorch), low rank, and PyTorch's
dynamic int8 (``--no-transformer`` to skip).

Size: the safetensors file of the state_dict (for torch, ``torch.save`` of the state_dict), and
that file deflated with zlib (the zeros of a pruned model only pay off in a compressed or sparse
format). Time: the median of 5 forwards of one batch of 256 test images (``--threads`` BLAS
threads, 1 by default for steady figures on a shared machine). minidl's int8 layers are slower
than its float ones: NumPy has no int8 matrix product, so the integer product runs in NumPy's
generic int32 loop, while float32 goes to BLAS; the int8 figure here is about size and accuracy.
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import sys
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def _threads(n):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))


def load_mnist(n_train, n_test):
    import numpy as np

    from minidl.datasets import mnist

    root = os.environ.get("MINIDL_DATA")
    (xtr, ytr), (xte, yte) = mnist.load_data(root=os.path.join(root, "mnist") if root else None)

    def prep(x):
        return (x.astype(np.float32) / 255.0)[:, None]  # (N, 1, 28, 28) in [0, 1]

    return prep(xtr[:n_train]), ytr[:n_train].astype(np.int64), prep(xte[:n_test]), yte[:n_test].astype(np.int64)


def row(name, model, data, report, extra=""):
    xte, yte, xt = data
    size = report.saved_size(model)
    acc = report.accuracy(model, xte, yte)
    ms = 1000 * report.inference_time(model, xt)
    total, nonzero = report.count_parameters(model)
    return (name, size["bytes"], size["deflated"], nonzero, acc, ms, extra)


def pruned_rows(model, args, data, xtr, ytr, report, prune):
    out, kept = [], {}
    for level in (0.5, 0.8, 0.9):
        m = copy.deepcopy(model)
        prune.global_unstructured(report.prunable(m), level)
        report.train(m, xtr, ytr, lr=3e-4, steps=args.finetune_steps, seed=args.seed)
        report.remove_all(m)
        kept[level] = m
        out.append(row(f"pruned {int(level * 100)} %", m, data, report, f"+{args.finetune_steps} steps fine-tune"))
    return out, kept


def torch_rows(model, data):
    try:
        import torch
        import torch.ao.quantization as tq
    except ImportError:
        print("torch is not installed: no PyTorch rows")
        return []
    import warnings


    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                             torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                             torch.nn.Linear(1600, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    tm.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq8 = tq.quantize_dynamic(tm, {torch.nn.Linear}, dtype=torch.qint8)
    return [measure_torch("torch float32", tm, data), measure_torch("torch int8 dynamic (Linear)", tq8, data)]


def measure_torch(name, m, data):
    import numpy as np
    import torch

    xte, yte, xt = data
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    raw = buf.getvalue()
    with torch.no_grad():
        logits = torch.cat([m(torch.from_numpy(xte[i:i + 256])) for i in range(0, len(xte), 256)])
        acc = float((logits.argmax(1).numpy() == yte).mean())
        batch = torch.from_numpy(xt)
        m(batch)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            m(batch)
            times.append(time.perf_counter() - start)
    packed = any(not isinstance(v, torch.Tensor) or v.is_quantized for v in m.state_dict().values())
    nonzero = None if packed else sum(int((v != 0).sum()) for v in m.state_dict().values())
    return (name, len(raw), len(zlib.compress(raw, 6)), nonzero, acc, 1000 * float(np.median(times)), "")


def distilled_rows(model, args, xtr, ytr, data, report):
    from minidl.compress.distill import distillation_loss

    rows = []
    for name, alpha in (("student, distilled", 0.7), ("student, labels only", 0.0)):
        import minidl

        minidl.manual_seed(args.seed)
        student = report.seed_cnn(widths=(8, 16), hidden=32)

        def loss_fn(m, xb, yb, alpha=alpha):
            with minidl.no_grad():
                t = model(xb)
            return distillation_loss(m(xb), t, yb, T=4.0, alpha=alpha)

        report.train(student, xtr, ytr, epochs=args.epochs, lr=2e-3, seed=args.seed, loss_fn=loss_fn)
        rows.append(row(name, student, data, report, f"T=4, alpha={alpha}, channels 8/16, hidden 32"))
    return rows


def transformer_rows(args, xtr, ytr, data, report):
    import minidl
    from minidl import nn
    from minidl.compress import lowrank, prune, quantize

    class RowTransformer(nn.Module):
        """(N, 1, 28, 28) images as 28 tokens of 28 pixels -> Linear 64 + positions -> encoder layer ->
        mean over tokens -> Linear 10."""

        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(28, 64)
            self.pos = nn.PositionalEncoding(64, max_len=28, batch_first=True)
            self.encoder = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True)
            self.head = nn.Linear(64, 10)

        def forward(self, x):
            h = self.pos(self.embed(x.reshape(x.shape[0], 28, 28)))  # (N, 28 tokens, 64)
            return self.head(self.encoder(h).mean(dim=1))  # (N, 10)

    minidl.manual_seed(args.seed)
    model = RowTransformer()
    report.train(model, xtr, ytr, epochs=args.epochs, lr=2e-3, seed=args.seed)
    rows = [row("T: float32", model, data, report, "Transformer on rows, 1 layer, 4 heads")]
    heads = copy.deepcopy(model)
    smallest = [int(h) for h in prune.head_norms(heads.encoder.self_attn).argsort()[:2]]
    prune.prune_heads(heads.encoder.self_attn, smallest)
    report.train(heads, xtr, ytr, lr=3e-4, steps=args.finetune_steps, seed=args.seed)
    rows.append(row("T: 2 of 4 heads pruned", report.remove_all(heads), data, report, f"heads {smallest}, fine-tuned"))
    half = copy.deepcopy(model)
    prune.global_unstructured(report.prunable(half), 0.5)
    report.train(half, xtr, ytr, lr=3e-4, steps=args.finetune_steps, seed=args.seed)
    rows.append(row("T: pruned 50 %", report.remove_all(half), data, report, "fine-tuned"))
    rows.append(row("T: int8", quantize.quantize_dynamic(model), data, report, "Linear layers"))
    low, _ = lowrank.factorize_linear(copy.deepcopy(model), rank=8, min_features=32)
    report.train(low, xtr, ytr, lr=3e-4, steps=args.finetune_steps, seed=args.seed)
    rows.append(row("T: low rank (r=8)", low, data, report, "linear1, linear2, fine-tuned"))
    return rows + torch_transformer_rows(model, data)


def torch_transformer_rows(model, data):
    try:
        import torch
        import torch.ao.quantization as tq
    except ImportError:
        return []
    import warnings

    class Torch(torch.nn.Module):
        def __init__(self, pe):
            super().__init__()
            self.embed = torch.nn.Linear(28, 64)
            self.register_buffer("pe", torch.tensor(pe), persistent=False)
            self.encoder = torch.nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True)
            self.head = torch.nn.Linear(64, 10)

        def forward(self, x):
            h = self.embed(x.reshape(x.shape[0], 28, 28)) + self.pe
            return self.head(self.encoder(h).mean(dim=1))

    torch.backends.mha.set_fastpath_enabled(False)  # its checks read linear1.weight, a method once quantized
    tm = Torch(model.pos.pe.numpy()[:28])
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    tm.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq8 = tq.quantize_dynamic(tm, {torch.nn.Linear}, dtype=torch.qint8)
    return [measure_torch("T: torch float32", tm, data), measure_torch("T: torch int8 dynamic (Linear)", tq8, data)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true", help="6000 training and 1000 test images")
    parser.add_argument("--train", type=int, default=None, help="training images (default 60000, --fast 6000)")
    parser.add_argument("--test", type=int, default=None, help="test images (default 10000, --fast 1000)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 1, --fast 2)")
    parser.add_argument("--finetune-steps", type=int, default=None, help="fine-tune steps after pruning/low rank")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-transformer", action="store_true", help="only the CNN")
    args = parser.parse_args(argv)
    _threads(args.threads)
    fast = args.fast or os.environ.get("MINIDL_FAST") == "1"
    n_train = args.train or (6000 if fast else 60000)
    n_test = args.test or (1000 if fast else 10000)
    args.finetune_steps = args.finetune_steps or (30 if fast else 200)
    args.epochs = args.epochs or (2 if fast else 1)

    import minidl
    from minidl.compress import lowrank, prune, quantize, report

    start = time.perf_counter()
    minidl.manual_seed(args.seed)
    xtr, ytr, xte, yte = load_mnist(n_train, n_test)
    data = (xte, yte, xte[:256])
    model = report.seed_cnn()
    report.train(model, xtr, ytr, epochs=args.epochs, seed=args.seed)
    rows = [row("float32", model, data, report, f"trained {args.epochs} epoch(s) on {n_train}")]
    pruned, kept = pruned_rows(model, args, data, xtr, ytr, report, prune)
    rows += pruned
    rows.append(row("int8", quantize.quantize_dynamic(model), data, report, "dynamic, conv + linear"))
    rows.append(row("int8 (Linear only)", quantize.quantize_dynamic(model, {minidl.nn.Linear}), data, report,
                    "dynamic, as torch.ao below"))
    calib = [xtr[i:i + 256] for i in range(0, 1024, 256)]
    rows.append(row("int8 static", quantize.quantize_static(model, calib), data, report, "calibrated on 1024"))
    rows.append(row("int8 + pruned 80 %", quantize.quantize_dynamic(kept[0.8]), data, report, ""))
    lr_model, replaced = lowrank.factorize_linear(copy.deepcopy(model), rank=16, min_features=64)
    report.train(lr_model, xtr, ytr, lr=3e-4, steps=args.finetune_steps, seed=args.seed)
    rows.append(row("low rank (fc 1600x128 at r=16)", lr_model, data, report,
                    f"{replaced[0][0]} factorized, +{args.finetune_steps} steps"))
    rows += distilled_rows(model, args, xtr, ytr, data, report)
    rows += torch_rows(model, data)
    print_table(rows, rows[0][1:3])
    if not args.no_transformer:
        print()
        t_rows = transformer_rows(args, xtr, ytr, data, report)
        print_table(t_rows, t_rows[0][1:3])
    print(f"\n{n_train} training / {n_test} test images, {args.threads} BLAS thread(s), "
          f"{time.perf_counter() - start:.0f} s in all")


def print_table(rows, base):
    head = f"{'variant':<30} {'file KB':>8} {'x':>5} {'deflated KB':>11} {'x':>5} {'nonzero':>8} {'accuracy':>8} " \
           f"{'ms/256':>7}  notes"
    print(head)
    print("-" * len(head))
    size0, deflated0 = base
    for name, size, deflated, nonzero, acc, ms, extra in rows:
        nz = "-" if nonzero is None else str(nonzero)
        print(f"{name:<30} {size / 1024:>8.1f} {size0 / size:>5.2f} {deflated / 1024:>11.1f} "
              f"{deflated0 / deflated:>5.2f} {nz:>8} {acc:>8.4f} {ms:>7.1f}  {extra}")


if __name__ == "__main__":
    main()
