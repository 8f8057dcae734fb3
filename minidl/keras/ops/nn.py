"""``keras.ops`` linear algebra and neural-network functions (also ``keras.ops.nn``)."""

from __future__ import annotations

import math

from ... import functional as F
from ..layers.symbolic import as_input_tensor
from ..variables import eager
from .core import _pair, _t


# ---- linear algebra ------------------------------------------------------------------------------
def matmul(a, b):
    return eager(F.matmul(*_pair(a, b)))


def dot(a, b):
    return eager(F.matmul(*_pair(a, b)))


def einsum(subscripts, *operands):
    """The two-operand contractions that are a (batched) matmul after a transpose, e.g.
    'bij,bjk->bik', 'ij,jk->ik', 'bhqd,bhkd->bhqk'; other patterns raise NotImplementedError."""
    if len(operands) != 2 or "->" not in subscripts or "..." in subscripts:
        raise NotImplementedError(f"ops.einsum: {subscripts!r} (two operands with explicit output only)")
    (ia, ib), out = subscripts.replace(" ", "").split("->")[0].split(","), subscripts.split("->")[1].strip()
    a, b = _pair(*operands)
    shared = [c for c in ia if c in ib and c in out]
    summed = [c for c in ia if c in ib and c not in out]
    only_a, only_b = [c for c in ia if c not in ib], [c for c in ib if c not in ia]
    if sorted(out) != sorted(shared + only_a + only_b) or len(set(ia)) != len(ia) or len(set(ib)) != len(ib):
        raise NotImplementedError(f"ops.einsum: {subscripts!r} is not a batched matrix product")
    pa = F.permute(a, tuple(ia.index(c) for c in shared + only_a + summed))
    pb = F.permute(b, tuple(ib.index(c) for c in shared + summed + only_b))
    size = {c: n for c, n in list(zip(ia, a.shape)) + list(zip(ib, b.shape))}
    batch = tuple(size[c] for c in shared)
    ma = F.reshape(pa, batch + (math.prod(size[c] for c in only_a), math.prod(size[c] for c in summed)))
    mb = F.reshape(pb, batch + (math.prod(size[c] for c in summed), math.prod(size[c] for c in only_b)))
    prod_ = F.reshape(F.matmul(ma, mb), batch + tuple(size[c] for c in only_a + only_b))
    order = shared + only_a + only_b
    return eager(F.permute(prod_, tuple(order.index(c) for c in out)))


# ---- neural-network functions --------------------------------------------------------------------
def relu(x):
    return eager(F.relu(_t(x)))


def sigmoid(x):
    return eager(F.sigmoid(_t(x)))


def softmax(x, axis=-1):
    return eager(F.softmax(_t(x), axis))


def log_softmax(x, axis=-1):
    return eager(F.log_softmax(_t(x), axis))


def gelu(x, approximate=True):
    return eager(F.gelu(_t(x), "tanh" if approximate else "none"))


def silu(x):
    return eager(F.silu(_t(x)))


swish = silu


def softplus(x):
    return eager(F.softplus(_t(x)))


def leaky_relu(x, negative_slope=0.2):
    return eager(F.leaky_relu(_t(x), negative_slope))


def elu(x, alpha=1.0):
    return eager(F.elu(_t(x), alpha))


def erf(x):
    return eager(F.erf(_t(x)))


def binary_crossentropy(target, output, from_logits=False):
    from ..losses import BinaryCrossentropy

    return eager(BinaryCrossentropy(from_logits, reduction="none").call(as_input_tensor(target), _t(output)))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    from ..losses import CategoricalCrossentropy

    return eager(CategoricalCrossentropy(from_logits, reduction="none").call(as_input_tensor(target), _t(output)))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    from ..losses import SparseCategoricalCrossentropy

    loss = SparseCategoricalCrossentropy(from_logits, reduction="none")
    return eager(loss.call(as_input_tensor(target), _t(output)))
