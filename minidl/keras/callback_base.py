"""The ``Callback`` base class (one empty method per hook) and ``CallbackList``, which calls a
hook on every callback in order. The callbacks themselves are in ``keras.callbacks``; the
progress bar (``keras.progress``) builds on this module too."""

from __future__ import annotations


class Callback:
    """Base class: override the hooks you need."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)  # tf.keras's older names of the training-batch hooks

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class CallbackList:
    """Calls every hook on each callback in order."""

    def __init__(self, callbacks=None, model=None, params=None):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be keras.callbacks.Callback objects, got {type(cb).__name__}")
            if model is not None:
                cb.set_model(model)
            cb.set_params(dict(params or {}))

    def append(self, callback):
        self.callbacks.append(callback)

    def __getattr__(self, name):
        if name not in HOOKS:
            raise AttributeError(name)

        indexed = "epoch" in name or "batch" in name  # (epoch or batch, logs), else (logs)

        def dispatch(*args):
            if len(args) < (2 if indexed else 1):
                args = args + ({},)  # Keras always hands the hooks a logs dict
            elif args[-1] is None:
                args = args[:-1] + ({},)
            for cb in self.callbacks:
                getattr(cb, name)(*args)

        return dispatch
