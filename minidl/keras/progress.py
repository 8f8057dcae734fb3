"""Progress output of fit / evaluate / predict.

verbose=1 ('auto'): one tqdm bar per epoch with the running loss and metrics (``tqdm.auto``:
the notebook widget in Jupyter when ipywidgets is there, a text bar otherwise); at the end of
the epoch the bar shows the epoch's results, validation included.
verbose=2: one line per epoch, ``Epoch 3/10 - 4.1s - 13ms/step - loss: 0.2034 - accuracy: 0.9410 - ...``.
verbose=0: silent.
"""

from __future__ import annotations

import sys
import time

from .callback_base import Callback


def resolve_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def format_logs(logs, keys=None):
    """'loss: 0.1234 - accuracy: 0.9876' (loss first, then the rest in order)."""
    logs = logs or {}
    keys = list(keys) if keys is not None else list(logs)
    keys.sort(key=lambda k: (k.startswith("val_"), k not in ("loss", "val_loss")))
    parts = []
    for k in keys:
        v = logs[k]
        if isinstance(v, float):
            parts.append(f"{k}: {v:.4f}" if v == 0 or abs(v) >= 1e-3 else f"{k}: {v:.4e}")
        else:
            parts.append(f"{k}: {v}")
    return " - ".join(parts)


def _tqdm():
    from tqdm.auto import tqdm

    return tqdm


class ProgbarLogger(Callback):
    """The progress display that fit adds for verbose=1 or 2 (see the module docstring)."""

    def __init__(self, verbose=1, file=None):
        super().__init__()
        self.verbose = verbose
        self.file = file
        self.bar = None

    def _out(self):
        return self.file or sys.stdout

    def _open(self, total, desc):
        self.bar = _tqdm()(total=total, desc=desc, unit="step", file=self._out(), leave=True, dynamic_ncols=True,
                           mininterval=0.2)
        self._seen = 0

    def _close(self, logs):
        if self.bar is None:
            return
        if logs:
            self.bar.set_postfix_str(format_logs(logs), refresh=False)
        self.bar.close()
        self.bar = None

    # ---- fit ------------------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._t0 = time.perf_counter()
        self._steps_done = 0
        if self.verbose == 1:
            self._open(self.params.get("steps"), f"Epoch {epoch + 1}/{self.params.get('epochs')}")

    def on_train_batch_end(self, batch, logs=None):
        self._steps_done = batch + 1
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs), refresh=False)
            self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose == 1:
            self._close(logs)
        elif self.verbose == 2:
            elapsed = time.perf_counter() - self._t0
            per_step = 1000 * elapsed / max(self._steps_done, 1)
            print(f"Epoch {epoch + 1}/{self.params.get('epochs')} - {elapsed:.1f}s - {per_step:.0f}ms/step - "
                  f"{format_logs(logs)}", file=self._out(), flush=True)

    # ---- evaluate / predict (called directly, not inside fit) -----------------------------
    def on_test_begin(self, logs=None):
        if self.verbose == 1:
            self._open(self.params.get("steps"), "Evaluate")
        self._t0 = time.perf_counter()

    def on_test_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs), refresh=False)
            self.bar.update(1)

    def on_test_end(self, logs=None):
        if self.verbose == 1:
            self._close(logs)
        elif self.verbose == 2:
            print(f"Evaluate - {time.perf_counter() - self._t0:.1f}s - {format_logs(logs)}", file=self._out(),
                  flush=True)

    def on_predict_begin(self, logs=None):
        if self.verbose == 1:
            self._open(self.params.get("steps"), "Predict")

    def on_predict_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)

    def on_predict_end(self, logs=None):
        self._close(None)
