"""minidl.nn: modules with PyTorch's names, parameter names, shapes and initialisation."""

from . import functional, init, utils
from .attention import MultiheadAttention, PositionalEncoding, TransformerEncoder, TransformerEncoderLayer
from .containers import Identity, ModuleDict, ModuleList, Sequential
from .dropout import Dropout1d, Dropout2d, Dropout3d
from .gpt import GPT, GPTConfig
from .layers import (
    ELU,
    GELU,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
    Unflatten,
)
from .lazy import LazyConv1d, LazyConv2d, LazyLinear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, Parameter
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .transformer import Transformer, TransformerDecoder, TransformerDecoderLayer
