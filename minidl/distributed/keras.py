"""Data-parallel ``fit`` for ``minidl.keras`` models, in three pieces (Horovod's recipe)::

    import minidl.distributed as dist
    from minidl.distributed import keras as dist_keras

    dist.init_process_group("mpi")                        # mpiexec -n N python train.py
    x_r, y_r = dist_keras.shard(x, y)                     # this rank's share of the samples
    model.compile(optimizer=dist_keras.DistributedOptimizer(keras.optimizers.Adam(1e-3)), loss=...)
    model.fit(x_r, y_r, batch_size=B // N, shuffle=False,
              callbacks=[dist_keras.BroadcastParameters(), dist_keras.MetricAverage()])

- ``DistributedOptimizer(opt)``: the same optimizer, whose ``step`` (which ``fit`` and
  ``apply_gradients`` both call) first averages the gradients over the ranks (buckets, as
  ``DistributedDataParallel``). Its class has the name of the
  optimizer's own class and the same config, so a saved model reloads as an ordinary one.
- ``BroadcastParameters()``: at the start of ``fit``, every weight takes rank 0's values.
- ``MetricAverage()``: at each epoch's end, the logs (loss, metrics) become their mean over the
  ranks, so every rank's History and progress bar show the same numbers.
- ``shard(*arrays)``: rank r's rows r, r+p, r+2p, ... (``DistributedSampler`` without shuffling;
  padded so that every rank has ⌈n/p⌉ rows and runs as many steps). Without shuffling, batch k of
  every rank together is batch k of the whole data with a p times larger batch, so p ranks follow
  the one-process run with batch B.

Nothing in ``minidl.keras`` changes: the optimizer and the callbacks are the ones ``fit`` calls.
"""

from __future__ import annotations

import copy

import numpy

from ..keras import optimizers as keras_optimizers
from ..keras.callbacks import Callback
from .ddp import GradientReducer, broadcast_parameters
from .process_group import ReduceOp, resolve
from .sampler import DistributedSampler


class _AveragesGradients:
    """Mixed in before a Keras optimizer class: gradients averaged over the ranks before each update."""

    def build(self, params):
        super().build(params)
        self.reducer = GradientReducer(self._params, resolve(self._process_group, "DistributedOptimizer"),
                                       self._bucket_cap_mb)

    def step(self):
        if len(self.reducer.params) != len(self._params):  # apply_gradients added variables
            self.reducer = GradientReducer(self._params, self.reducer.group, self._bucket_cap_mb)
        self.reducer.reduce()  # before clipping and weight decay: they act on the averaged gradient
        super().step()


_CLASSES = {}


def DistributedOptimizer(optimizer="adam", bucket_cap_mb=25, process_group=None):  # noqa: N802 (a class to its user)
    """A copy of the Keras ``optimizer`` (an object or a name) that averages the gradients over
    the ranks of ``process_group`` (the default group) before every step. Wrap it before the
    first ``fit``: an optimizer that has already taken steps is refused."""
    opt = keras_optimizers.get(optimizer)
    if opt.built:
        raise ValueError("DistributedOptimizer: wrap the optimizer before it is built (before compile/fit)")
    base = type(opt)
    if isinstance(opt, _AveragesGradients):
        raise TypeError("DistributedOptimizer: the optimizer already averages over the ranks")
    cls = _CLASSES.get(base)
    if cls is None:
        cls = _CLASSES[base] = type(base.__name__, (_AveragesGradients, base),
                                    {"__module__": base.__module__, "__qualname__": base.__qualname__})
    wrapped = object.__new__(cls)  # the same hyper-parameters (and schedule), copied
    wrapped.__dict__.update(copy.deepcopy(opt.__dict__))
    wrapped._process_group = resolve(process_group, "DistributedOptimizer")
    wrapped._bucket_cap_mb = bucket_cap_mb
    return wrapped


class BroadcastParameters(Callback):
    """At the start of ``fit``: every weight (trainable or not) takes rank ``root_rank``'s values."""

    def __init__(self, root_rank=0, process_group=None):
        super().__init__()
        self.root_rank, self.process_group = root_rank, process_group

    def on_train_begin(self, logs=None):
        weights = list(self.model.weights)
        if not weights:
            raise RuntimeError("BroadcastParameters: the model has no weights yet; build it (keras.Input, or "
                               "model.build(input_shape)) before fit so that rank 0's weights can be broadcast")
        try:
            broadcast_parameters(weights, resolve(self.process_group, "BroadcastParameters"), self.root_rank)
        except RuntimeError as exc:
            raise RuntimeError(f"BroadcastParameters: {exc}") from None


class MetricAverage(Callback):
    """At each epoch's end, every number in the logs becomes its mean over the ranks (in place, so
    the callbacks after this one, the History and the progress bar see the means)."""

    def __init__(self, process_group=None):
        super().__init__()
        self.process_group = process_group

    def on_epoch_end(self, epoch, logs=None):
        if not logs:
            return
        group = resolve(self.process_group, "MetricAverage")
        keys = sorted(k for k, v in logs.items() if isinstance(v, (int, float, numpy.number)))
        values = numpy.array([float(logs[k]) for k in keys], dtype=numpy.float64)
        group.allreduce(values, ReduceOp.SUM)
        for k, v in zip(keys, values / group.size):
            logs[k] = float(v)


def shard(*arrays, num_replicas=None, rank=None):
    """This rank's rows of each array: rows ``rank, rank + p, ...`` of the padded order (see the
    module's docstring); one array back for one array given, else a tuple."""
    if not arrays:
        raise TypeError("shard: give at least one array")
    n = len(arrays[0])
    for i, a in enumerate(arrays):
        if len(a) != n:
            raise ValueError(f"shard: array {i} has {len(a)} rows, array 0 has {n}")
    sampler = DistributedSampler(range(n), num_replicas=num_replicas, rank=rank, shuffle=False)
    index = numpy.fromiter(iter(sampler), dtype=numpy.int64, count=len(sampler))
    out = tuple(numpy.asarray(a)[index] for a in arrays)
    return out[0] if len(out) == 1 else out
