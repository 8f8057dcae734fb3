"""minidl: a small deep-learning library written from scratch on NumPy, for learning.

    import minidl
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad          # tensor([2., 4.])
"""

from . import (  # noqa: E402
    autograd,  # noqa: E402
    backend,
    cuda,
    data,
    functional,  # noqa: E402
    kernels,  # noqa: E402  (registers the fast kernels against their reference ops)
    nn,
    optim,
)
from .autograd import detect_anomaly, enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled
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
from .functional import (  # noqa: E402
    abs,
    amax,
    amin,
    argmax,
    argmin,
    cat,
    chunk,
    clamp,
    cos,
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
from .gradcheck import gradcheck, gradgradcheck  # noqa: E402
from .serialization import FileFormatError, load, save  # noqa: E402
from .tensor import Tensor, as_tensor, from_numpy, tensor

bool = bool_  # noqa: A001 - PyTorch's name for the bool dtype
half, float, double = float16, float32, float64  # noqa: A001
long, int = int64, int32  # noqa: A001

__version__ = "0.1.0"
from . import keras  # noqa: E402  (minidl.keras, the Keras-style facade)
