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
import os as _os
import sys as _sys

if "numpy" not in _sys.modules:
    # OpenBLAS's idle threads spin for 2^28 cycles after each product, holding the cores that the
    # kernels' own threads (minidl/kernels/_parallel.py) are about to use; 2^20 cycles (about a
    # third of a millisecond) frees them soon, while back-to-back products still find them awake.
    # Read once, when NumPy loads its BLAS; a value already set is left as it is.
    _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
from . import backend
from . import dtypes, grad_mode, creation, autograd
from . import dispatch, functional, kernels
from . import nn, serialization
from . import optim
from . import data
from . import cuda
# isort: on
from . import backends
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
from .backends import accelerator
from .creation import (
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    arange,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    linspace,
    manual_seed,
    multinomial,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    zeros,
    zeros_like,
)
from .dispatch import is_reference_mode, reference_mode
from .dtypes import (
    bfloat16,
    bool_,
    complex64,
    complex128,
    finfo,
    float8_e4m3fn,
    float8_e5m2,
    float16,
    float32,
    float64,
    get_default_dtype,
    iinfo,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    result_type,
    set_default_dtype,
    uint8,
    uint16,
    uint32,
    uint64,
)
from .functional import (
    chunk,
    dot,
    flatten,
    permute,
    relu,
    reshape,
    split,
    squeeze,
    transpose,
    unsqueeze,
    where,
)
from .functional.indexing import meshgrid, repeat_interleave, roll, topk
from .functional.reduce import all, any
from .functional.torch_api import (
    abs,
    add,
    amax,
    amin,
    argmax,
    argmin,
    bmm,
    cat,
    clamp,
    cos,
    cosh,
    div,
    exp,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mm,
    mul,
    norm,
    pow,
    sigmoid,
    sin,
    sinh,
    softmax,
    sqrt,
    stack,
    std,
    sub,
    sum,
    tanh,
    tril,
    triu,
    var,
)
from .gradcheck import gradcheck, gradgradcheck
from .kernels._parallel import get_num_threads, set_num_threads
from .serialization import FileFormatError, load, save
from .tensor import Size, Tensor, as_tensor, from_numpy, get_default_device, set_default_device, tensor

bool = bool_  # noqa: A001 - PyTorch's name for the bool dtype
half, float, double = float16, float32, float64  # noqa: A001
long, int = int64, int32  # noqa: A001
short, cfloat, cdouble = int16, complex64, complex128
clip = clamp
concat = concatenate = cat


def is_tensor(obj) -> bool:
    """True for a minidl Tensor (``torch.is_tensor``)."""
    return isinstance(obj, Tensor)


def is_floating_point(t) -> bool:
    return t.is_floating_point()


def numel(t) -> int:
    return t.numel()

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
