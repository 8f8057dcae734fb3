"""minidl.functional (imported as ``F``): every op as a function, with PyTorch's names.

Each op's class carries its forward and backward equations in its docstring.
"""

from ..dtypes import promote_types, result_type
from .activation import (
    dropout,
    elu,
    embedding,
    erf,
    gelu,
    hardtanh,
    leaky_relu,
    log_softmax,
    one_hot,
    silu,
    softmax,
    softplus,
)
from .attention import (
    attention_weights,
    multi_head_attention_forward,
    scaled_dot_product_attention,
)
from .conv import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    fold,
    max_pool1d,
    max_pool2d,
    unfold,
)
from .elementwise import (
    abs,
    add,
    clamp,
    clip,
    cos,
    div,
    eq,
    exp,
    floor_divide,
    ge,
    gt,
    isnan,
    le,
    log,
    logical_and,
    logical_not,
    logical_or,
    lt,
    masked_fill,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow,
    relu,
    remainder,
    sigmoid,
    sign,
    sin,
    sqrt,
    sub,
    tanh,
    where,
)
from .linalg import dot, linear, matmul
from .loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from .normalization import batch_norm, layer_norm
from .recurrent import (
    cell_gates_concatenated,
    cell_gates_split,
    concat_cell_weights,
    gru_cell,
    gru_layer,
    lstm_cell,
    lstm_layer,
    rnn_layer,
    rnn_relu_cell,
    rnn_tanh_cell,
)
from .recurrent_stack import gru, lstm, rnn_relu, rnn_tanh
from .reduce import amax, amin, argmax, argmin, logsumexp, max, mean, min, std, sum, var
from .shape import (
    broadcast_to,
    cast,
    cat,
    chunk,
    clone,
    concatenate,
    expand,
    flatten,
    getitem,
    index_select,
    narrow,
    pad,
    permute,
    repeat,
    reshape,
    select,
    split,
    squeeze,
    stack,
    to_device,
    transpose,
    unsqueeze,
    view,
)
from .tensor_methods import bind_tensor_methods

bind_tensor_methods()  # a + b, a.sum(), ... call the ops above (see tensor_methods.py)
