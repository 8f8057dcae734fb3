"""minidl: a small deep-learning library written from scratch on NumPy, for learning.

    import minidl
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad          # tensor([2., 4.])
"""

# The layers in data-flow order (DESIGN.md, enforced by tests/test_layout.py): each imports only
# those before it. keras, datasets, viz, classroom, ... are imported on first use (__getattr__).
# (minidl.tensor and minidl.gradcheck are the functions of those modules, imported below.)
# isort: off
from . import backend
from . import dtypes, grad_mode, creation, autograd
from . import dispatch, functional, kernels
from . import nn, serialization
from . import optim
from . import data
from . import cuda
# isort: on
from .autograd import (
    detect_anomaly,
    enable_grad,
    grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .backend import Device as device
from .creation import (
    arange,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    zeros,
    zeros_like,
)
from .dispatch import is_reference_mode, reference_mode
from .dtypes import (
    bool_,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    result_type,
    set_default_dtype,
    uint8,
)
from .functional import (
    abs,
    amax,
    amin,
    argmax,
    argmin,
    cat,
    chunk,
    clamp,
    cos,
    dot,
    exp,
    flatten,
    log,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    permute,
    relu,
    reshape,
    sigmoid,
    sin,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    tanh,
    transpose,
    unsqueeze,
    var,
    where,
)
from .gradcheck import gradcheck, gradgradcheck
from .serialization import FileFormatError, load, save
from .tensor import Tensor, as_tensor, from_numpy, tensor

bool = bool_  # noqa: A001 - PyTorch's name for the bool dtype
half, float, double = float16, float32, float64  # noqa: A001
long, int = int64, int32  # noqa: A001

__version__ = "0.1.0"

# Imported on first use, so that ``import minidl`` stays the core library.
_ON_FIRST_USE = ("classroom", "datasets", "keras", "language_model", "testing", "tokenizers", "utils", "viz")


def __getattr__(name):
    """``minidl.keras`` (and the other packages in ``_ON_FIRST_USE``) without importing them
    with ``minidl``: the first access imports the package."""
    if name in _ON_FIRST_USE:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
