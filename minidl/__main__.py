"""Command line of minidl.

    python -m minidl train cnn --dataset mnist --epochs 10      # the seed CNN on MNIST
    python -m minidl train lstm --dataset sentiment              # the seed LSTM on review sentences
    python -m minidl train transformer --dataset digits --epochs 3 --out runs/tf-digits
    python -m minidl demo                                        # all three seed models, offline

``train`` builds one of the three seed models with ``minidl.keras``, trains it with a progress bar,
prints the test accuracy and writes into ``--out`` the model (``model.keras``, which
``keras.models.load_model`` reads; its weights alone in ``model.weights.npz``; its architecture in
``model.json``), the run's settings, accuracy and per-epoch history (``run.json``) and a
training-curve figure (``curves.png``).
Image datasets feed the recurrent and transformer models one image row per step (28 steps of 28
pixels for MNIST), without the Embedding (see ``build_model`` for the 8-pixel rows of the digits).
``MINIDL_FAST=1`` (or ``demo --fast``) makes the demo a few-second smoke run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from minidl import lm_cli
from minidl.classroom import cli as classroom_cli

MODELS = ("cnn", "lstm", "transformer")
DATASETS = ("mnist", "fashion_mnist", "digits", "sentiment")
IMAGE_SCALE = {"mnist": 255.0, "fashion_mnist": 255.0, "digits": 16.0}
DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "digits": "8x8 digits",
                  "sentiment": "sentiment sentences"}


NARROW_ROWS = 16  # image rows narrower than this get a Dense(64) in front of the transformer
DEMO_MAXLEN = 32  # 98% of the sentiment sentences have at most 32 words (the longest has 73)


class UsageError(ValueError):
    """A combination of arguments that cannot work (reported without a traceback)."""


# ---- data --------------------------------------------------------------------------------------
def load_dataset(name, model, limit=None, num_words=1000, maxlen=100):
    """``(x_train, y_train), (x_test, y_test), num_classes`` ready for ``model``: images float32 in
    [0, 1], (N, H, W, 1) for the CNN and (N, H, W) (rows as steps) for the others; text int32."""
    import numpy

    from minidl import datasets

    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "sentiment":
        if model == "cnn":
            raise UsageError(
                "the cnn model reads images and is not applicable to the sentiment sentences (text): "
                "use lstm or transformer, or an image dataset (mnist, fashion_mnist, digits)"
            )
        (x, y), (xt, yt) = datasets.sentiment.load_data(num_words=num_words, maxlen=maxlen)
        num_classes = 10  # the seed models' Dense(10) as written; labels 0/1 use two of its outputs
    else:
        (x, y), (xt, yt) = getattr(datasets, name).load_data()
        scale = IMAGE_SCALE[name]
        x, xt = (a.astype(numpy.float32) / scale for a in (x, xt))
        if model == "cnn":
            x, xt = x[..., None], xt[..., None]  # (N, H, W, 1): channels last, as in Keras
        num_classes = 10
    y, yt = y.astype(numpy.int64), yt.astype(numpy.int64)
    if limit is not None:
        if limit < 1:
            raise UsageError(f"--limit must be a positive number of examples, got {limit}")
        x, y, xt, yt = x[:limit], y[:limit], xt[:limit], yt[:limit]
    return (x, y), (xt, yt), num_classes


# ---- the three seed models -------------------------------------------------------------------
def build_model(kind, input_shape, num_classes, num_words=1000, text=False):
    """The seed model ``kind`` for inputs of ``input_shape`` (one example, without the batch axis).

    cnn:          Conv2D 32 3x3 relu, MaxPool 2, Conv2D 64 3x3 relu, MaxPool 2, Flatten, Dense 128 relu,
                  Dense softmax (for images under 10 pixels, too small for two valid convolutions and
                  pools, the convolutions keep the size with padding='same')
    lstm:         [Embedding(num_words, 64)] LSTM(64), Dense 64 relu, Dense softmax
    transformer:  [Embedding(num_words, 64)] Transformer(8 heads, feed-forward 512, dropout 0.1),
                  Dense 64 relu, Dense softmax

    The Embedding is there for text only: images enter as rows (28 steps of 28 pixels for MNIST).
    Rows narrower than 16 pixels (the 8x8 digits) are first projected to 64 features by a Dense
    layer, since 8 attention heads over 8 features would see one feature each.
    """
    from minidl import keras

    L = keras.layers
    if kind not in MODELS:
        raise UsageError(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}")

    def head():
        return [L.Dense(64, activation="relu"), L.Dense(num_classes, activation="softmax")]

    if kind == "cnn":
        small = min(input_shape[:2]) < 10
        pad = {"padding": "same"} if small else {}
        return keras.models.Sequential([
            L.Conv2D(32, (3, 3), activation="relu", input_shape=tuple(input_shape), **pad),
            L.MaxPooling2D((2, 2)),
            L.Conv2D(64, (3, 3), activation="relu", **pad),
            L.MaxPooling2D((2, 2)),
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dense(num_classes, activation="softmax"),
        ])
    if text:
        front = [L.Embedding(num_words, 64, input_length=input_shape[0])]
    elif kind == "transformer" and input_shape[-1] < NARROW_ROWS:
        front = [L.Dense(64, input_shape=tuple(input_shape))]  # 8 heads need more than 8 features
    else:
        front = []
    shape = {} if front else {"input_shape": tuple(input_shape)}
    if kind == "lstm":
        core = L.LSTM(64, **shape)
    else:
        core = L.Transformer(num_heads=8, feed_forward_dim=512, rate=0.1, **shape)
    return keras.models.Sequential(front + [core] + head())


def compile_model(model, learning_rate=None):
    """Compile a seed model as the examples do: Adam, sparse categorical cross-entropy, accuracy."""
    from minidl import keras

    optimizer = "adam" if learning_rate is None else keras.optimizers.Adam(learning_rate=learning_rate)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def move_to(model, device):
    """Put the model's weights on ``device`` (a clear error when CuPy or a GPU is missing)."""
    if device == "cpu":
        return model
    from minidl import backend

    if not backend.cupy_available():
        raise UsageError(f"--device {device}: CuPy with a working GPU is needed (pip install minidl[gpu])")
    if hasattr(model, "to"):
        return model.to(device)
    raise UsageError(f"--device {device}: this minidl.keras model cannot be moved to a device")


# ---- figures -----------------------------------------------------------------------------------
def plot_history(history, path, title):
    """Loss and accuracy per epoch (training, and test when recorded) into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    h = history.history
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key in zip(axes, ("loss", "accuracy")):
        for prefix, label, style in (("", "training", "-o"), ("val_", "test", "--s")):
            values = h.get(prefix + key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=label, markersize=4)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    from minidl._files import atomic_write

    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return Path(path)


# ---- train ---------------------------------------------------------------------------------------
def fit_and_evaluate(kind, dataset, epochs, batch_size, limit=None, device="cpu", verbose=1, seed=0,
                     validation=True, data=None, num_words=1000, maxlen=100, summary=False, early_stopping=None):
    """Build, train and evaluate one seed model; returns a dict with the model, history, test
    accuracy and timings.

    ``validation``: evaluate the test set after each epoch (for the curves; it never steers
    training). ``early_stopping=P``: instead hold out the last 10% of the training data, stop
    when its accuracy has not improved for P epochs and keep the weights of its best epoch."""
    import minidl

    (x, y), (xt, yt), num_classes = data or load_dataset(dataset, kind, limit, num_words, maxlen)
    minidl.manual_seed(seed)
    model = compile_model(build_model(kind, x.shape[1:], num_classes, num_words, text=dataset == "sentiment"))
    model = move_to(model, device)
    if summary:
        model.summary()
    timer = _epoch_timer()
    callbacks, held_out = [timer], {"validation_data": (xt, yt) if validation else None}
    if early_stopping:
        from minidl.keras.callbacks import EarlyStopping

        callbacks.append(EarlyStopping(monitor="val_accuracy", patience=early_stopping, restore_best_weights=True))
        held_out = {"validation_split": 0.1}
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, shuffle=True,
                        callbacks=callbacks, **held_out)
    train_s = time.perf_counter() - start
    loss, accuracy = model.evaluate(xt, yt, batch_size=256, verbose=0)
    per_epoch = sum(timer.seconds) / max(len(timer.seconds), 1)
    return {"model": model, "history": history, "test_loss": float(loss), "test_accuracy": float(accuracy),
            "train_seconds": train_s, "seconds_per_epoch": per_epoch, "epoch_seconds": timer.seconds,
            "n_train": len(y), "n_test": len(yt)}


def _epoch_timer():
    """A callback that records each epoch's training time (its batches, without the test pass)."""
    from minidl.keras.callbacks import Callback

    class EpochTimer(Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()
            self.seconds.append(0.0)

        def on_train_batch_end(self, batch, logs=None):
            self.seconds[-1] = time.perf_counter() - self._start

    return EpochTimer()


def train(args) -> int:
    """``python -m minidl train``: build, train and evaluate one seed model; save it and its curves
    (``train gpt``: the language model, see ``minidl.lm_cli``)."""
    if args.model == "gpt":
        return lm_cli.train_gpt(args)
    if args.dataset == "tinyshakespeare":
        raise UsageError(f"tinyshakespeare is a text corpus for the gpt, not for the {args.model}")
    if args.epochs < 1 or args.batch_size < 1:
        raise UsageError(f"--epochs and --batch-size must be positive, got {args.epochs} and {args.batch_size}")
    out = Path(args.out or f"runs/{args.model}-{args.dataset}")
    print(f"training the seed {args.model} on {DATASET_TITLES[args.dataset]} "
          f"({args.epochs} epoch(s), batch {args.batch_size}, device {args.device})")
    result = fit_and_evaluate(args.model, args.dataset, args.epochs, args.batch_size, args.limit, args.device,
                              verbose=args.verbose, seed=args.seed, summary=bool(args.verbose))
    saved = save_run(result, out, args)
    figure = plot_history(result["history"], out / "curves.png",
                          f"seed {args.model} on {DATASET_TITLES[args.dataset]}")
    print(f"test accuracy: {result['test_accuracy']:.4f} on {result['n_test']} examples "
          f"(loss {result['test_loss']:.4f}); {result['seconds_per_epoch']:.1f} s per epoch")
    print(f"saved {', '.join(str(p) for p in saved)} and the training curves {figure}")
    return 0


def save_run(result, out, args):
    """Write the model into ``out``: ``model.keras`` (for ``keras.models.load_model``), its weights
    alone (``model.weights.npz``), its architecture (``model.json``) and the run's settings,
    accuracy and per-epoch history (``run.json``). Nothing is pickled; every file is written
    atomically, so an interrupted run leaves the previous run's files whole."""
    from minidl._files import write_json

    model = result["model"]
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    model.save_weights(out / "model.weights.npz")
    config = {"class_name": type(model).__name__, "config": model.get_config()}
    write_json(out / "model.json", config)
    history = {k: [float(v) for v in vs] for k, vs in result["history"].history.items()}
    run = {"model": args.model, "dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size,
           "limit": args.limit, "seed": args.seed, "test_accuracy": result["test_accuracy"],
           "test_loss": result["test_loss"], "seconds_per_epoch": result["seconds_per_epoch"], "history": history}
    write_json(out / "run.json", run)
    return [out / "model.keras", out / "model.weights.npz", out / "model.json", out / "run.json"]


# ---- demo ----------------------------------------------------------------------------------------
def _autograd_section():
    import minidl

    print("1. reverse-mode autograd, checked numerically")
    x = minidl.tensor([0.5, -1.0, 2.0], requires_grad=True)
    (x.tanh() * x).sum().backward()
    t = x.detach().tanh()
    print("   d/dx sum(tanh(x) x) by backward:", [round(v, 5) for v in x.grad.tolist()],
          " by hand:", [round(v, 5) for v in (t + x.detach() * (1 - t * t)).tolist()])
    a = minidl.randn(4, 3, dtype=minidl.float64, requires_grad=True)
    w = minidl.randn(3, 2, dtype=minidl.float64, requires_grad=True)

    def net(a, w):
        return (a @ w).sigmoid().logsumexp(dim=1)

    ok = minidl.gradcheck(net, (a, w)) and minidl.gradgradcheck(net, (a, w))
    print(f"   gradcheck + gradgradcheck of logsumexp(sigmoid(a W)): {ok}\n")
    return ok


def _sentiment_available():
    from minidl.datasets import sentiment

    try:
        sentiment.files(download=False)
        return True
    except (OSError, ValueError):
        return False


def _plot_digit_predictions(model, x, y, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = model.predict(x[:24], verbose=0).argmax(axis=1)
    fig, axes = plt.subplots(3, 8, figsize=(8, 3.4))
    for ax, image, label, guess in zip(axes.ravel(), x[:24], y[:24], pred):
        ax.imshow(image.squeeze(), cmap="gray_r")
        right = guess == label
        ax.set_title(f"{guess}" if right else f"{guess} (is {label})", color="black" if right else "red", fontsize=9)
        ax.axis("off")
    fig.suptitle("seed CNN on held-out 8x8 digits (red: wrong)")
    fig.tight_layout()
    from minidl._files import atomic_write

    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def demo(args) -> int:
    """The three seed models, a few epochs each on data available offline, then a table."""
    fast = args.fast or os.environ.get("MINIDL_FAST", "") not in ("", "0")
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    print("minidl demo" + (" (fast mode)" if fast else "") + "\n")
    ok = _autograd_section()

    text = _sentiment_available()
    limit = 160 if fast else None
    seq_data = "sentiment" if text else "digits"
    # epochs: enough for about 97% on the digits and 77% on the sentences, in well under two minutes
    epochs = {"cnn": 10, "lstm": 6 if text else 20, "transformer": 5 if text else 12}
    plan = [(kind, "digits" if kind == "cnn" else seq_data, 1 if fast else epochs[kind], 32) for kind in MODELS]
    if not text:
        print("(the sentiment sentences are not in $MINIDL_DATA or the cache: the LSTM and the transformer read "
              "the 8x8 digits as 8 rows of 8 pixels)\n")
    rows, written = [], []
    for i, (kind, dataset, epochs, batch) in enumerate(plan, start=2):
        what = "rows of " if dataset == "digits" and kind != "cnn" else ""
        print(f"{i}. seed {kind} on {what}{DATASET_TITLES[dataset]}, {epochs} epoch(s)")
        maxlen = DEMO_MAXLEN if dataset == "sentiment" else 100
        if dataset == "sentiment":
            print(f"   (1000 most frequent words, sentences cut or padded to {maxlen} words: 98% fit)")
        data = load_dataset(dataset, kind, limit, maxlen=maxlen)
        result = fit_and_evaluate(kind, dataset, epochs, batch, verbose=2 if fast else 1, data=data,
                                  maxlen=maxlen)
        written.append(plot_history(result["history"], figures / f"demo_{kind}_{dataset}.png",
                                    f"seed {kind} on {what}{DATASET_TITLES[dataset]}"))
        if kind == "cnn":
            (_, _), (xt, yt), _ = data
            written.append(figures / "demo_cnn_digits_predictions.png")
            _plot_digit_predictions(result["model"], xt, yt, written[-1])
        rows.append((kind, f"{what}{DATASET_TITLES[dataset]}", result))
        print(f"   test accuracy {result['test_accuracy']:.3f}\n")

    print(f"{'model':<12} {'data':<28} {'train/test':>11} {'epochs':>6} {'seconds':>8} {'test accuracy':>14}")
    for kind, what, r in rows:
        epochs = len(r["history"].history["loss"])
        print(f"{kind:<12} {what:<28} {r['n_train']:>5}/{r['n_test']:<5} {epochs:>6} {r['train_seconds']:>8.1f} "
              f"{r['test_accuracy']:>14.3f}")
    print("(seconds: training, including a pass over the test set after each epoch for the curves)")
    print(f"\nfigures: {', '.join(str(p) for p in written)}")
    return 0 if ok else 1


# ---- entry point ---------------------------------------------------------------------------------
def main(argv=None) -> int:
    """Entry point of ``python -m minidl``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m minidl", description="minidl command line: train, demo")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train one seed model and save it with its training curves")
    t.add_argument("model", choices=(*MODELS, "gpt"))
    t.add_argument("--dataset", choices=(*DATASETS, "tinyshakespeare"), default=None,
                   help="default mnist (tinyshakespeare for the gpt)")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--out", default=None, help="output folder (default runs/<model>-<dataset>)")
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    t.add_argument("--limit", type=int, default=None, help="use only the first N training and N test examples")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    lm_cli.add_train_arguments(t)
    lm_cli.add_generate_parser(sub)
    d = sub.add_parser("demo", help="the three seed models on offline data, with figures")
    d.add_argument("--fast", action="store_true", help="a few-second smoke run (also MINIDL_FAST=1)")
    d.add_argument("--figures", default="runs/demo", help="where the figures go (default runs/demo/)")
    classroom_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "train" and args.dataset is None:
        args.dataset = "tinyshakespeare" if args.model == "gpt" else "mnist"
    if args.command == "classroom":
        return classroom_cli.main(args, parser)
    from minidl.datasets import ChecksumError, IDXError

    try:
        return {"train": train, "demo": demo, "generate": lm_cli.generate}[args.command](args)
    except (UsageError, lm_cli.UsageError) as exc:
        parser.exit(2, f"python -m minidl {args.command}: error: {exc}\n")
    except (OSError, ChecksumError, IDXError) as exc:  # missing, undownloadable or corrupt data files
        parser.exit(1, f"python -m minidl {args.command}: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
