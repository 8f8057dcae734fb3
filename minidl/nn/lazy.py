"""Lazy layers: ``LazyLinear``, ``LazyConv1d``, ``LazyConv2d``, whose input size is read from
the first input they see, as in PyTorch.

    model = nn.Sequential(nn.LazyConv2d(8, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))
    opt = optim.SGD(model.parameters(), lr=0.1)     # the parameters exist, still empty
    model(x)                                        # now weight (10, 8·26·26) is made and initialised

Until the first forward, ``weight`` and ``bias`` are empty Parameters (``has_uninitialized_params()``
is True). The first forward gives them their shapes, in place (the same Parameter objects, so an
optimizer built before keeps them), initialises them as the eager layer does, and turns the
module into that layer (a LazyLinear becomes a Linear). A state_dict loaded before the first forward
gives the layer the checkpoint's shapes, as in PyTorch.
"""

from __future__ import annotations

from ..creation import empty
from .layers import Conv1d, Conv2d, Linear, _float_dtype, _pair, _single
from .module import Module, Parameter

__all__ = ["LazyConv1d", "LazyConv2d", "LazyLinear"]


class _LazyMixin:
    """Empty parameters until the first input says how large they are."""

    cls_to_become = None

    def _start_lazy(self, bias, device, dtype):
        Module.__init__(self)
        self._lazy_device, self._lazy_dtype = device, _float_dtype(dtype)
        self.weight = Parameter(empty(0, dtype=self._lazy_dtype, device=device))
        if bias:
            self.bias = Parameter(empty(0, dtype=self._lazy_dtype, device=device))
        else:
            self.register_parameter("bias", None)

    def has_uninitialized_params(self):
        return type(self) is not self.cls_to_become

    def _materialize(self, weight_shape, bias_shape):
        for p, shape in ((self.weight, weight_shape), (self.bias, bias_shape)):
            if p is not None:
                p.array = empty(*shape, dtype=self._lazy_dtype, device=self._lazy_device).array
                p._version[0] += 1
        self.__class__ = self.cls_to_become
        del self._lazy_device, self._lazy_dtype
        self.reset_parameters()

    def _materialize_from_state(self, state_dict, prefix):
        """Before a state_dict loads into a layer that has seen no input, give it the checkpoint's shapes."""
        weight = state_dict.get(prefix + "weight")
        if self.has_uninitialized_params() and weight is not None and len(getattr(weight, "shape", ())) >= 2:
            self._set_input_size(tuple(weight.shape))

    def _check_input(self, x, dims, name):
        if x.ndim not in dims:
            raise ValueError(f"{name}: expected a {' or '.join(f'{d}-d' for d in dims)} input to infer its size "
                             f"from, got shape {tuple(x.shape)}")


class LazyLinear(_LazyMixin, Linear):
    """A ``Linear`` whose ``in_features`` is the last dim of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        self._start_lazy(bias, device, dtype)
        self.in_features, self.out_features = 0, out_features

    def forward(self, x):
        self._check_input(x, range(1, 64), "LazyLinear")
        self._set_input_size((self.out_features, x.shape[-1]))
        return self(x)

    def _set_input_size(self, weight_shape):
        self.in_features = weight_shape[1]
        self._materialize((self.out_features, self.in_features), (self.out_features,))


class _LazyConv(_LazyMixin):
    _dims = 2

    def _start_conv(self, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, device,
                    dtype):
        if padding_mode != "zeros":
            raise NotImplementedError(f"{type(self).__name__}: padding_mode={padding_mode!r} is not supported")
        self._start_lazy(bias, device, dtype)
        to_tuple = _pair if self._dims == 2 else (lambda v: (_single(v),))
        self.in_channels, self.out_channels, self.groups = 0, out_channels, groups
        self.kernel_size, self.stride, self.dilation = to_tuple(kernel_size), to_tuple(stride), to_tuple(dilation)
        self.padding = padding if isinstance(padding, str) else to_tuple(padding)

    def forward(self, x):
        name = type(self).__name__
        self._check_input(x, (self._dims + 1, self._dims + 2), name)
        c = x.shape[-self._dims - 1]
        if c % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{name}: in_channels ({c}) and out_channels ({self.out_channels}) must be divisible "
                             f"by groups ({self.groups})")
        self._set_input_size((self.out_channels, c // self.groups))
        return self(x)

    def _set_input_size(self, weight_shape):
        self.in_channels = weight_shape[1] * self.groups
        self._materialize((self.out_channels, weight_shape[1]) + self.kernel_size, (self.out_channels,))


class LazyConv1d(_LazyConv, Conv1d):
    """A ``Conv1d`` whose ``in_channels`` is read from its first input (N, C, L) or (C, L)."""

    cls_to_become, _dims = Conv1d, 1

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        self._start_conv(out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, device,
                         dtype)


class LazyConv2d(_LazyConv, Conv2d):
    """A ``Conv2d`` whose ``in_channels`` is read from its first input (N, C, H, W) or (C, H, W)."""

    cls_to_become, _dims = Conv2d, 2

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        self._start_conv(out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, device,
                         dtype)
