"""Accuracy of the three seed models (built with minidl.keras), with wall time per epoch.

    python benchmarks/train_seed_models.py                       # every workload, default epochs
    python benchmarks/train_seed_models.py cnn-mnist --epochs 3  # a subset, fewer epochs
    python benchmarks/train_seed_models.py lstm-sentiment transformer-sentiment
    python benchmarks/train_seed_models.py lstm-rows transformer-rows --limit 20000 --epochs 5

Workloads (targets from the project's issue):
  cnn-mnist              seed CNN, 10 epochs, batch 32, full MNIST          test accuracy >= 99.0%
  lstm-sentiment         Embedding(1000, 64) + LSTM(64) + Dense 64 + Dense 10, UCI sentiment sentences,
                         num_words=1000, maxlen=100, 20% held out for the test; up to 15 epochs with
                         early stopping (patience 3, best weights kept) on the last 10% of the
                         training sentences, so the test set plays no part    accuracy >= 75%
  transformer-sentiment  Embedding(1000, 64) + Transformer(8 heads, ffn 512, 0.1) + Dense 64 + Dense 10,
                         same data and protocol                              accuracy >= 75%
  lstm-rows              the LSTM stack without the Embedding, MNIST read as 28 rows of 28 pixels
                                                                             test accuracy >= 97%
  transformer-rows       the Transformer stack without the Embedding, MNIST rows (model width 28,
                         8 heads of key_dim 4)
                                                                             test accuracy >= 97%

Data come from $MINIDL_DATA (or the download cache). BLAS runs on 2 threads unless the usual
variables say otherwise: on a machine shared with other jobs, ``OPENBLAS_NUM_THREADS=1
OMP_NUM_THREADS=1`` keeps the times steady (spinning BLAS threads of two processes on two cores
can slow both by orders of magnitude). ``--device cuda`` where CuPy and a GPU are present.
``--json FILE`` also writes the figures, with per-epoch times and test accuracies, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from minidl.__main__ import fit_and_evaluate, load_dataset  # noqa: E402

# name: (model, dataset, default epochs, batch size, target accuracy, early-stopping patience)
WORKLOADS = {
    "cnn-mnist": ("cnn", "mnist", 10, 32, 0.99, None),
    "lstm-sentiment": ("lstm", "sentiment", 15, 32, 0.75, 3),
    "transformer-sentiment": ("transformer", "sentiment", 15, 32, 0.75, 3),
    "lstm-rows": ("lstm", "mnist", 10, 32, 0.97, None),
    "transformer-rows": ("transformer", "mnist", 10, 32, 0.97, None),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", help=f"which to run, of {', '.join(WORKLOADS)} (default: all)")
    parser.add_argument("--epochs", type=int, default=None, help="override every workload's epochs")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training (and test) examples")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--seed", type=int, nargs="+", default=[0], help="one run per seed (and their mean)")
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--no-early-stopping", action="store_true",
                        help="train the sentiment models for all their epochs, without early stopping")
    parser.add_argument("--no-track", action="store_true",
                        help="skip the test-set pass after each epoch (by default val_accuracy in the epoch "
                             "lines is the test accuracy after that epoch; s/epoch never includes that pass)")
    args = parser.parse_args(argv)
    names = args.workloads or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    results = []
    for name in names:
        kind, dataset, max_epochs, batch, target, patience = WORKLOADS[name]
        max_epochs = args.epochs or max_epochs
        batch = args.batch_size or batch
        patience = None if args.no_early_stopping else patience
        stop = f", early stopping (patience {patience}) on 10% of the training data" if patience else ""
        data = load_dataset(dataset, kind, args.limit)
        for seed in args.seed:
            print(f"== {name} (seed {seed}): seed {kind} on {dataset}, {max_epochs} epoch(s) at most, batch {batch}"
                  f"{stop}", flush=True)
            results.append(run_one(name, kind, dataset, max_epochs, batch, target, patience, seed, data, args))
    print("\ns/epoch: training time of one epoch (without the test pass), median and mean over the epochs")
    print(f"{'workload':<22} {'seed':>4} {'epochs':>6} {'train':>6} {'test':>6} {'accuracy':>9} {'target':>7} "
          f"{'median':>7} {'mean':>7}")
    for row in results:
        mark = "" if row["met"] else "  (below target)"
        print(f"{row['workload']:<22} {row['seed']:>4} {row['epochs']:>6} {row['n_train']:>6} {row['n_test']:>6} "
              f"{row['test_accuracy']:>9.4f} {row['target']:>7.2f} {row['median_seconds_per_epoch']:>7.1f} "
              f"{row['seconds_per_epoch']:>7.1f}{mark}")
    if len(args.seed) > 1:
        for name in names:
            accs = [row["test_accuracy"] for row in results if row["workload"] == name]
            print(f"{name:<22} mean test accuracy over seeds {', '.join(map(str, args.seed))}: "
                  f"{statistics.mean(accs):.4f} (min {min(accs):.4f}, max {max(accs):.4f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def run_one(name, kind, dataset, max_epochs, batch, target, patience, seed, data, args):
    r = fit_and_evaluate(kind, dataset, max_epochs, batch, device=args.device, verbose=args.verbose,
                         seed=seed, validation=not args.no_track, data=data, early_stopping=patience)
    epochs = len(r["epoch_seconds"])
    row = {
        "workload": name, "seed": seed, "epochs": epochs, "batch_size": batch, "n_train": r["n_train"],
        "n_test": r["n_test"], "test_accuracy": r["test_accuracy"], "target": target,
        "met": r["test_accuracy"] >= target, "seconds_per_epoch": r["seconds_per_epoch"],
        "median_seconds_per_epoch": statistics.median(r["epoch_seconds"]), "epoch_seconds": r["epoch_seconds"],
        "early_stopping_patience": patience,
        # after each epoch: the test set, or with early stopping the held-out 10% of training
        "val_accuracy_per_epoch": r["history"].history.get("val_accuracy"),
    }
    print(f"   test accuracy {row['test_accuracy']:.4f} (target {target:.2f}) after {epochs} epoch(s), "
          f"{row['median_seconds_per_epoch']:.1f} s/epoch (median)", flush=True)
    return row


if __name__ == "__main__":
    sys.exit(main())
