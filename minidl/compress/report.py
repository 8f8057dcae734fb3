"""What compression buys and costs, measured the same way for every variant of a model: its size on
disk (the safetensors file, and that file deflated, which is what zeros from pruning save unless a
sparse format stores them), its accuracy and its inference time; and the seed CNN in minidl.nn,
the model the benchmark and notebooks/10_compression.ipynb compress.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import zlib

from ..autograd import no_grad
from ..backend import get_array_module
from ..functional import cross_entropy
from ..nn.attention import MultiheadAttention
from ..nn.containers import Sequential
from ..nn.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from ..optim import Adam
from ..tensor import Tensor
from . import prune


def seed_cnn(in_channels=1, image_size=28, num_classes=10, widths=(32, 64), hidden=128):
    """The seed CNN of the Keras examples in minidl.nn: Conv 3x3 (widths[0]) ReLU, MaxPool 2, Conv 3x3
    (widths[1]) ReLU, MaxPool 2, Flatten, Linear (hidden) ReLU, Linear (num_classes) giving logits.
    Images under 10 pixels (the 8x8 digits) keep their size through the convolutions (padding 1)."""
    pad = 1 if image_size < 10 else 0
    size = (image_size - 2 + 2 * pad) // 2  # after conv 1 and pool 1
    size = (size - 2 + 2 * pad) // 2  # after conv 2 and pool 2
    if size < 1:
        raise ValueError(f"seed_cnn: images of {image_size} pixels are too small for two convolutions and pools")
    c1, c2 = widths
    return Sequential(
        Conv2d(in_channels, c1, 3, padding=pad), ReLU(), MaxPool2d(2),
        Conv2d(c1, c2, 3, padding=pad), ReLU(), MaxPool2d(2),
        Flatten(), Linear(c2 * size * size, hidden), ReLU(), Linear(hidden, num_classes),
    )


def count_parameters(model):
    """(all, non-zero) numbers in the parameters and buffers a forward uses (int8 ones included)."""
    total = nonzero = 0
    for name, t in model.state_dict().items():
        if name.endswith("_orig"):
            mask = model.state_dict()[name[: -len("_orig")] + "_mask"]
            t = Tensor._make(t.array * mask.array, False)
        elif name.endswith("_mask"):
            continue
        total += t.array.size
        nonzero += int((t.array != 0).sum())
    return total, nonzero


def saved_size(model, fmt="safetensors"):
    """``{"bytes": size of the file, "deflated": size of that file compressed with zlib}`` for
    ``model``'s state_dict written as safetensors (or ``fmt="npz"``). Pruned parameters are
    stored as the weight the forward uses (orig ⊙ mask), not as orig and mask."""
    state = _forward_state(model)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model." + fmt)
        if fmt == "safetensors":
            from ..safetensors import save_file

            save_file(state, path)
        elif fmt == "npz":
            from ..serialization import save

            save(state, path)
        else:
            raise ValueError(f"saved_size: fmt must be 'safetensors' or 'npz', got {fmt!r}")
        with open(path, "rb") as f:
            raw = f.read()
    return {"bytes": len(raw), "deflated": len(zlib.compress(raw, 6))}


def _forward_state(model):
    state = model.state_dict()
    out = {}
    for name, t in state.items():
        if name.endswith("_mask") and name[: -len("_mask")] + "_orig" in state:
            continue
        if name.endswith("_orig") and name[: -len("_orig")] + "_mask" in state:
            base = name[: -len("_orig")]
            out[base] = Tensor._make(t.array * state[base + "_mask"].array, False)
        else:
            out[name] = t
    return out


def _batches(n, batch_size):
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def predict(model, x, batch_size=256):
    """The logits of ``model`` on the array ``x``, in batches, in eval mode without gradients."""
    model.eval()
    with no_grad():
        out = [model(Tensor._make(x[a:b], False)).array for a, b in _batches(len(x), batch_size)]
    return get_array_module(out[0]).concatenate(out)


def accuracy(model, x, y, batch_size=256):
    """Share of the examples of ``x`` whose largest logit is at the label ``y``."""
    logits = predict(model, x, batch_size)
    return float((logits.argmax(1) == get_array_module(logits).asarray(y)).mean())


def inference_time(model, x, repeats=5):
    """Median seconds of one forward of the batch ``x`` (eval mode, no gradients), after one warm-up."""
    model.eval()
    batch = Tensor._make(x, False)
    times = []
    with no_grad():
        model(batch)
        for _ in range(repeats):
            start = time.perf_counter()
            model(batch)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def train(model, x, y, epochs=1, batch_size=64, lr=1e-3, seed=0, steps=None, loss_fn=None):
    """Adam on shuffled mini-batches of (x, y) arrays for ``epochs`` epochs (or ``steps`` steps in
    all); ``loss_fn(model, xb, yb)`` defaults to the cross-entropy of the logits. Works on pruned
    models (only orig's unpruned entries move). Returns the loss of each step."""
    rng = random.Random(seed)  # the shuffles, apart from minidl's global generator
    y = get_array_module(x).asarray(y)
    opt = Adam(model.parameters(), lr=lr)
    loss_fn = loss_fn or (lambda m, xb, yb: cross_entropy(m(xb), yb))
    losses = []
    model.train()
    for _ in range(epochs if steps is None else 10**9):
        order = list(range(len(x)))
        rng.shuffle(order)
        for a, b in _batches(len(x), batch_size):
            idx = order[a:b]
            loss = loss_fn(model, Tensor._make(x[idx], False), Tensor._make(y[idx], False))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.array))
            if steps is not None and len(losses) >= steps:
                model.eval()
                return losses
    model.eval()
    return losses


def prunable(model):
    """The (module, "weight") pairs of the Linear and Conv2d layers of ``model``, and the
    ``in_proj_weight`` of its attention layers (which then recompute their pruned ``out_proj``,
    see ``prune.follow_attention``)."""
    pairs = [(m, "weight") for m in model.modules() if isinstance(m, (Linear, Conv2d))]
    pairs += [(m, "in_proj_weight") for m in model.modules() if isinstance(m, MultiheadAttention)
              and (m._parameters.get("in_proj_weight") is not None or "in_proj_weight" in prune.pruned_names(m))]
    prune.follow_attention(model)
    return pairs


def remove_all(model):
    """Make every pruning in ``model`` permanent (``prune.remove`` on each pruned parameter)."""
    for m in model.modules():
        for name in prune.pruned_names(m):
            prune.remove(m, name)
    return model
