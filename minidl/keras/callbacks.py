"""Callbacks: code that ``fit`` runs at fixed points of training (Keras's hooks).

    on_train_begin(logs)        on_train_end(logs)
    on_epoch_begin(epoch, logs) on_epoch_end(epoch, logs)      logs: {'loss': ..., 'accuracy': ...,
    on_train_batch_begin(batch, logs)  on_train_batch_end(batch, logs)   'val_loss': ..., ...}
    on_test_begin/end, on_test_batch_begin/end, on_predict_begin/end, on_predict_batch_begin/end

A callback sees the model as ``self.model`` (set ``self.model.stop_training = True`` to stop
after the current epoch) and ``self.params`` (epochs, steps, verbose). Batch logs hold the
running means of the epoch so far; epoch logs the epoch's means and the validation results.
"""

from __future__ import annotations

import csv
import math
import os
import time

import numpy

from .callback_base import HOOKS, Callback, CallbackList
from .progress import ProgbarLogger


class History(Callback):
    """Records the epoch logs: ``history.history['loss']`` is one value per epoch; ``epoch`` the
    epoch numbers. ``fit`` returns it (and keeps it as ``model.history``)."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _monitor_op(monitor, mode, where):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{where}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        higher = ("acc" in monitor or monitor.endswith("auc") or "precision" in monitor or "recall" in monitor)
        mode = "max" if higher and "loss" not in monitor else "min"
    return mode


def _missing(where, monitor, logs):
    hint = " (pass validation_data or validation_split to fit for the val_ values)" if monitor.startswith(
        "val_") else ""
    return f"{where}: the monitored value {monitor!r} is not in the logs (available: " \
           f"{', '.join(sorted(logs or {})) or 'none'}){hint}"


def _better(mode, current, best, min_delta=0.0):
    if best is None:
        return True
    return current < best - min_delta if mode == "min" else current > best + min_delta


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs. ``mode`` 'auto' minimises losses and maximises accuracies.
    ``restore_best_weights``: at the end of training, put back the weights of the best epoch.
    ``baseline``: stop unless the monitored value beats it. ``start_from_epoch``: ignore the
    first epochs."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.min_delta, self.patience, self.verbose = monitor, abs(min_delta), patience, verbose
        self.mode = _monitor_op(monitor, mode, "EarlyStopping")
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            raise KeyError(_missing("EarlyStopping", self.monitor, logs))
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if _better(self.mode, current, self.best, self.min_delta):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or _better(self.mode, current, self.baseline, self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or only its weights) at the end of each epoch, or only when ``monitor``
    improved (``save_best_only``). ``filepath`` may hold fields such as
    ``'ckpt-{epoch:02d}-{val_loss:.2f}.keras'``. Every write goes to a temporary file in the
    same folder that then replaces the target in one step (``os.replace``), so an interrupted
    save leaves the previous checkpoint intact. ``save_freq=N`` (an int) saves every N training
    batches instead of every epoch (the path may also hold ``{batch}``; ``{epoch}`` is the epoch
    in progress), with the logs of that batch."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive int, got {save_freq!r}")
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _monitor_op(monitor, mode, "ModelCheckpoint")
        self.best = initial_value_threshold
        self.save_freq, self._batches, self._epoch = save_freq, 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches % self.save_freq == 0:
            self._save(self._epoch, logs or {}, batch=batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs or {})

    def _save(self, epoch, logs, batch=None):
        fields = dict(logs, epoch=epoch + 1) if batch is None else dict(logs, epoch=epoch + 1, batch=batch)
        path = self.filepath.format(**fields)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                raise KeyError(_missing("ModelCheckpoint", self.monitor, logs))
            if not _better(self.mode, current, self.best):
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to {current:.5f}, saving to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class LearningRateScheduler(Callback):
    """At the start of each epoch set the optimizer's learning rate to ``schedule(epoch, lr)``
    (or ``schedule(epoch)``); the rate used is logged as 'learning_rate'."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        try:
            lr = self.schedule(epoch, opt.learning_rate)
        except TypeError:
            lr = self.schedule(epoch)
        lr = float(lr)
        if not math.isfinite(lr):
            raise ValueError(f"LearningRateScheduler: the schedule returned {lr} for epoch {epoch}")
        opt.learning_rate = lr
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs (then wait ``cooldown`` epochs), never below ``min_lr``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode = _monitor_op(monitor, mode, "ReduceLROnPlateau")
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        current = logs.get(self.monitor)
        logs["learning_rate"] = self.model.optimizer.learning_rate
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if _better(self.mode, current, self.best, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = self.model.optimizer.learning_rate
                new = max(old * self.factor, self.min_lr)
                if new < old:
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Write one row per epoch (epoch, then the logs in sorted order) to ``filename``;
    ``append=True`` continues an existing file."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys, self._file, self._writer = None, None, None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        if exists:
            with open(self.filename, newline="") as f:
                header = f.readline().strip()
            self.keys = header.split(self.sep)[1:] if header else None
        else:
            self.keys = None
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._header_written = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.keys is None:
            self.keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys, delimiter=self.sep,
                                          extrasaction="ignore")
            if not self._header_written:
                self._writer.writeheader()
                self._header_written = True
        row = {"epoch": epoch}
        for k in self.keys:
            v = logs.get(k, "NA")
            row[k] = v if not isinstance(v, (float, numpy.floating)) else f"{float(v):.10g}"
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
        self._file, self._writer = None, None


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if name not in HOOKS:
                raise ValueError(f"LambdaCallback: unknown hook {name!r}. Valid hooks: {', '.join(sorted(HOOKS))}")
            setattr(self, name, fn)


class Timer(Callback):
    """Records the wall time of each epoch in ``epoch_times`` (seconds)."""

    def on_train_begin(self, logs=None):
        self.epoch_times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_times.append(time.perf_counter() - self._t0)


__all__ = [
    "Callback",
    "CallbackList",
    "CSVLogger",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
    "TensorBoard",
    "Timer",
]


class TensorBoard(Callback):
    """Not available: minidl writes no TensorBoard event files. Use ``CSVLogger`` (one row of
    logs per epoch) or the ``History`` that ``fit`` returns (``minidl.viz.plot_training_curves``
    draws it); ``model.summary()`` and ``keras.utils.plot_model`` show the graph."""

    def __init__(self, log_dir="logs", *args, **kwargs):
        raise NotImplementedError(
            "keras.callbacks.TensorBoard is not available in minidl (it writes no TensorBoard event files): use "
            "keras.callbacks.CSVLogger('log.csv') or the History returned by fit(), e.g. "
            "minidl.viz.plot_training_curves(history.history)")
