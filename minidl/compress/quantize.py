"""int8 quantization of Linear and Conv2d layers, for inference: the weights are stored as int8,
the products are integer products summed in int32, and only the result goes back to float.

Weights, per output channel c, symmetric (zero maps to zero, so a pruned weight stays 0):

    s_w[c] = max |W[c]| / 127          q_w = clip(round(W / s_w[c]), −127, 127)    (int8)

Activations, per batch (dynamic) or from calibration (static), asymmetric over [min(x, 0), max(x, 0)]:

    s_x = (max − min) / 255        z_x = round(−128 − min / s_x)        q_x = clip(round(x / s_x) + z_x, −128, 127)

Then the layer is one integer matrix product and one float rescale per output channel:

    acc[n, c] = Σ_k (q_x[n, k] − z_x) · q_w[c, k]      (int32: |acc| ≤ 255 · 127 · K < 2³¹ for K < 66 000)
    y[n, c]   = s_x · s_w[c] · acc[n, c] + b[c]

(the same as Σ q_x q_w − z_x Σ_k q_w[c, k], the form integer kernels use). A convolution is this
product on the unfolded (im2col) integer input; its zero padding is padding with real zeros,
because the input is shifted by z_x first. Nothing here has a gradient: fine-tune the float model,
then quantize. Notebook: notebooks/10_compression.ipynb, section 2.
"""

from __future__ import annotations

import copy

from ..autograd import Function
from ..backend import get_array_module
from ..grad_mode import is_grad_enabled
from ..nn.attention import MultiheadAttention
from ..nn.layers import Conv2d, Linear
from ..nn.module import Module
from ..tensor import Tensor
from . import prune

QMAX_W = 127  # symmetric weights use −127..127, so that −W quantizes to −q_w
INT32_MAX = 2**31 - 1


# ---- the arithmetic, on arrays ------------------------------------------------------------------
def quantize_per_channel(w, axis=0):
    """(q_w int8 of w's shape, s_w float32 of shape (w.shape[axis],)): symmetric, per channel."""
    xp = get_array_module(w)
    other = tuple(d for d in range(w.ndim) if d != axis)
    amax = xp.abs(w).max(axis=other) if other else xp.abs(w)  # (C,)
    scale = xp.where(amax > 0, amax / QMAX_W, 1.0).astype(xp.float32)  # an all-zero channel keeps scale 1
    shape = [1] * w.ndim
    shape[axis] = -1
    q = xp.clip(xp.rint(w / scale.reshape(shape)), -QMAX_W, QMAX_W).astype(xp.int8)
    return q, scale


def activation_qparams(lo, hi):
    """(s_x, z_x) of the asymmetric int8 grid over [min(lo, 0), max(hi, 0)] (0 is exact on it)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zero_point = int(min(max(round(-128 - lo / scale), -128), 127))
    return scale, zero_point


def quantize_activation(x, scale, zero_point):
    """q_x = clip(round(x / s_x) + z_x, −128, 127) as int8."""
    xp = get_array_module(x)
    return xp.clip(xp.rint(x / scale) + zero_point, -128, 127).astype(xp.int8)


def int8_matmul(qa, qb, zero_point=0):
    """Σ_k (qa[..., i, k] − zero_point) · qb[..., k, j], exactly, in int32: qa, qb int8 arrays."""
    xp = get_array_module(qa)
    if qa.dtype != xp.int8 or qb.dtype != xp.int8:
        raise TypeError(f"int8_matmul: expected int8 arrays, got {qa.dtype} and {qb.dtype}")
    K = qa.shape[-1]
    if K != qb.shape[-2]:
        raise ValueError(f"int8_matmul: shapes {qa.shape} and {qb.shape} do not fit (inner sizes {K} and "
                         f"{qb.shape[-2]})")
    if 255 * 127 * K > INT32_MAX:
        raise ValueError(f"int8_matmul: an inner size of {K} could overflow the int32 accumulator")
    centred = qa.astype(xp.int32) - xp.int32(zero_point)  # (..., i, k) in −255..255
    return xp.matmul(centred, qb.astype(xp.int32))  # (..., i, j) int32


def _conv_padding(padding, kernel, dilation):
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":  # PyTorch's: the extra element after
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in padding)


def int8_conv2d(qx, zero_point, qw, stride, padding, dilation, groups):
    """acc[n, o, oh, ow] = Σ_{c,i,j} (q_x − z_x)[n, c, oh·sh + i·dh, ow·sw + j·dw] · q_w[o, c, i, j] in int32.
    qx: (N, C, H, W) int8, qw: (OC, C/g, KH, KW) int8 -> (N, OC, OH, OW) int32."""
    xp = get_array_module(qx)
    N, C, _, _ = qx.shape
    OC, Cg, KH, KW = qw.shape
    (dh, dw), (sh, sw) = dilation, stride
    centred = qx.astype(xp.int32) - xp.int32(zero_point)  # shifted first: padding with 0 is a real zero
    pads = _conv_padding(padding, (KH, KW), dilation)
    centred = xp.pad(centred, ((0, 0), (0, 0)) + pads)
    windows = xp.lib.stride_tricks.sliding_window_view(centred, ((KH - 1) * dh + 1, (KW - 1) * dw + 1), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]  # (N, C, OH, OW, KH, KW)
    OH, OW = windows.shape[2:4]
    cols = windows.transpose(0, 1, 4, 5, 2, 3).reshape(N, groups, Cg * KH * KW, OH * OW)  # (N, g, C/g·KH·KW, L)
    w = qw.reshape(groups, OC // groups, Cg * KH * KW).astype(xp.int32)  # (g, OC/g, C/g·KH·KW)
    if 255 * 127 * Cg * KH * KW > INT32_MAX:
        raise ValueError(f"int8_conv2d: an inner size of {Cg * KH * KW} could overflow the int32 accumulator")
    acc = xp.matmul(w, cols)  # (N, g, OC/g, L) int32
    return acc.reshape(N, OC, OH, OW)


# ---- the layers ------------------------------------------------------------------------------------
class _Int8Forward(Function):
    """y = s_x · s_w · acc + b (see the module docstring); inference only."""

    def forward(ctx, x, anchor, layer):
        ctx.layer_name = type(layer).__name__
        return layer._int8_forward(x)

    def backward(ctx, dy):
        raise RuntimeError(f"{ctx.layer_name}: an int8 layer is for inference only and has no gradient; "
                           "train or fine-tune the float model, then quantize it")


class _QuantizedBase(Module):
    def _init_qparams(self, weight, bias):
        q, scale = quantize_per_channel(weight.array, axis=0)
        self.register_buffer("weight_int8", Tensor._make(q, False))
        self.register_buffer("weight_scale", Tensor._make(scale, False))
        xp = get_array_module(q)
        b = None if bias is None else Tensor._make(bias.array.astype(xp.float32), False)
        self.register_buffer("bias", b)
        # s_x = 0 means "from each batch" (dynamic); calibrate() fixes both
        self.register_buffer("input_scale", Tensor._make(xp.zeros((), xp.float32), False))
        self.register_buffer("input_zero_point", Tensor._make(xp.zeros((), xp.int32), False))

    @property
    def static(self):
        return float(self.input_scale.array) > 0

    def _input_qparams(self, x):
        if self.static:
            return float(self.input_scale.array), int(self.input_zero_point.array)
        return activation_qparams(x.min(), x.max()) if x.size else (1.0, 0)

    def dequantized_weight(self):
        """s_w[c] · q_w[c]: the float weight the int8 one stands for (for measuring the error)."""
        shape = (-1,) + (1,) * (self.weight_int8.ndim - 1)
        return Tensor._make(self.weight_int8.array.astype("float32") * self.weight_scale.array.reshape(shape), False)

    def _rescale(self, acc, s_x, channel_axis):
        shape = [1] * acc.ndim
        shape[channel_axis] = -1
        y = acc.astype("float32") * (self.weight_scale.array * s_x).reshape(shape)
        if self.bias is not None:
            y = y + self.bias.array.reshape(shape)
        return y

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__}: expected a Tensor, got {type(x).__name__}")
        self._check_input(tuple(x.shape))
        anchor = None
        if is_grad_enabled():  # so that a backward through this layer meets the error, not silence
            anchor = Tensor._make(get_array_module(x.array).zeros((), "float32"), True)
        return _Int8Forward.apply(x, anchor, self)


class QuantizedLinear(_QuantizedBase):
    """y = s_x · s_w · Σ_k (q_x − z_x) q_w + b, an int8 ``nn.Linear`` (see the module docstring).
    Buffers: weight_int8 (out, in) int8, weight_scale (out,), bias (out,) or None,
    input_scale and input_zero_point (0 until calibrated: dynamic). x: (*, in) -> (*, out) float32."""

    def __init__(self, in_features, out_features, weight, bias):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._init_qparams(weight, bias)

    @classmethod
    def from_float(cls, m):
        return cls(m.in_features, m.out_features, _weight_of(m), m.bias)

    def _check_input(self, shape):
        if not shape or shape[-1] != self.in_features:
            raise ValueError(f"QuantizedLinear: input of shape {shape} does not fit {self.in_features} input features")

    def _int8_forward(self, x):
        s_x, z_x = self._input_qparams(x)
        qx = quantize_activation(x.reshape(-1, self.in_features), s_x, z_x)  # (N·, in) int8
        acc = int8_matmul(qx, self.weight_int8.array.T, z_x)  # (N·, in) @ (in, out) -> (N·, out) int32
        y = self._rescale(acc, s_x, 1)
        return y.reshape(tuple(x.shape[:-1]) + (self.out_features,))

    def extra_repr(self):
        mode = "static" if self.static else "dynamic"
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 {mode}"


class QuantizedConv2d(_QuantizedBase):
    """An int8 ``nn.Conv2d``: the integer product of the unfolded int8 input and the int8 filters,
    summed in int32, rescaled by s_x · s_w[o]. Buffers as QuantizedLinear's, weight_int8 of shape
    (C_out, C_in/groups, KH, KW). x: (N, C_in, H, W) -> (N, C_out, OH, OW) float32."""

    def __init__(self, conv, weight, bias):
        super().__init__()
        for a in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups"):
            setattr(self, a, getattr(conv, a))
        self._init_qparams(weight, bias)

    @classmethod
    def from_float(cls, m):
        return cls(m, _weight_of(m), m.bias)

    def _check_input(self, shape):
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(f"QuantizedConv2d: expected input (N, {self.in_channels}, H, W), got {shape}")

    def _int8_forward(self, x):
        s_x, z_x = self._input_qparams(x)
        qx = quantize_activation(x, s_x, z_x)  # (N, C, H, W) int8
        acc = int8_conv2d(qx, z_x, self.weight_int8.array, self.stride, self.padding, self.dilation, self.groups)
        return self._rescale(acc, s_x, 1)

    def extra_repr(self):
        mode = "static" if self.static else "dynamic"
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, int8 {mode}")


def _weight_of(m):
    if "weight" in prune.pruned_names(m):
        prune.recompute(m, "weight")  # the weight the next forward would use: orig ⊙ mask
    return m.weight


QUANTIZED = {Linear: QuantizedLinear, Conv2d: QuantizedConv2d}


# ---- whole models ------------------------------------------------------------------------------------
def quantize_dynamic(model, qconfig_spec=None, inplace=False):
    """A copy of ``model`` (or ``model`` itself with ``inplace``) whose ``nn.Linear`` and
    ``nn.Conv2d`` layers, of the types in ``qconfig_spec`` (a set; default both), are int8
    (``QuantizedLinear`` / ``QuantizedConv2d``, activation scales from each batch), like
    ``torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)``.
    A pruned layer is quantized with its pruned weight (its zeros stay zeros). The ``out_proj`` of
    a ``MultiheadAttention`` stays float, as in PyTorch: the attention reads its weight directly."""
    spec = set(QUANTIZED) if qconfig_spec is None else set(qconfig_spec)
    unknown = [t.__name__ if isinstance(t, type) else repr(t) for t in spec if t not in QUANTIZED]
    if unknown:
        raise ValueError(f"quantize_dynamic: can quantize {[t.__name__ for t in QUANTIZED]}, not {unknown}")
    if not isinstance(model, Module):
        raise TypeError(f"quantize_dynamic: expected a minidl.nn.Module, got {type(model).__name__}")
    model = model if inplace else copy.deepcopy(prune.detach_pruned(model))
    if type(model) in spec:
        return QUANTIZED[type(model)].from_float(model)
    for parent in list(model.modules()):
        if isinstance(parent, MultiheadAttention):
            continue  # its forward reads out_proj.weight as a float matrix (PyTorch leaves it too)
        for name, child in list(parent._modules.items()):
            if child is not None and type(child) in spec:
                parent._modules[name] = QUANTIZED[type(child)].from_float(child)
    return model


def quantized_layers(model):
    """The (name, layer) pairs of the int8 layers in ``model``."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _QuantizedBase)]


class _MinMax:
    """A forward pre-hook that records the smallest and largest input a layer sees."""

    def __init__(self):
        self.lo, self.hi = float("inf"), float("-inf")

    def __call__(self, module, inputs):
        x = inputs[0].array
        if x.size:
            self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))


def calibrate(model, batches):
    """Post-training static quantization: run ``batches`` (inputs of the model, Tensors or arrays)
    through a quantized ``model``, record each int8 layer's input range [min, max], and fix its
    s_x, z_x from it (they are then buffers in the state_dict). Returns ``model``."""
    layers = quantized_layers(model)
    if not layers:
        raise ValueError("calibrate: the model has no int8 layers; quantize it first (quantize_dynamic)")
    observers = [(m, _MinMax()) for _, m in layers]
    handles = [m.register_forward_pre_hook(obs) for m, obs in observers]
    from ..autograd import no_grad

    seen = 0
    try:
        with no_grad():
            for m, _ in observers:  # dynamic while observing
                m.input_scale.array[...] = 0
            for batch in batches:
                model(batch if isinstance(batch, Tensor) else Tensor._make(batch, False))
                seen += 1
    finally:
        for h in handles:
            h.remove()
    if not seen:
        raise ValueError("calibrate: no batches were given")
    for m, obs in observers:
        if obs.lo > obs.hi:
            raise ValueError(f"calibrate: {type(m).__name__} saw no input during calibration")
        scale, zero_point = activation_qparams(obs.lo, obs.hi)
        m.input_scale.array[...] = scale
        m.input_zero_point.array[...] = zero_point
    return model


def quantize_static(model, batches, qconfig_spec=None):
    """``calibrate(quantize_dynamic(model, qconfig_spec), batches)``: int8 with fixed activation scales."""
    return calibrate(quantize_dynamic(model, qconfig_spec), batches)
