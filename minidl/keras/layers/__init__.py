"""Keras layers (channels-last images, (batch, time, features) sequences, Keras's weights)."""

from .attention import MultiHeadAttention, Transformer
from .base import Layer
from .convolutional import (
    AveragePooling2D,
    Conv1D,
    Conv2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling2D,
)
from .core import Activation, Dense, Dropout, Embedding, Flatten, LeakyReLU, ReLU, Reshape, Softmax
from .input_layer import Input, InputLayer
from .merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .normalization import BatchNormalization, LayerNormalization
from .recurrent import GRU, LSTM, SimpleRNN
from .shapes import InputSpec
from .symbolic import KerasTensor
from .upsampling import Conv2DTranspose, Convolution2DTranspose, UpSampling2D, ZeroPadding2D
from .utility import GaussianNoise, Identity, Lambda, Permute, RepeatVector, Rescaling, TextVectorization
from .wrappers import Bidirectional, TimeDistributed

MaxPool2D, AvgPool2D = MaxPooling2D, AveragePooling2D
Convolution2D = Conv2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D

__all__ = [
    "Add",
    "Average",
    "Concatenate",
    "Dot",
    "Maximum",
    "Minimum",
    "Multiply",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "dot",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
    "Conv2DTranspose",
    "Convolution2DTranspose",
    "UpSampling2D",
    "ZeroPadding2D",
    "GaussianNoise",
    "Identity",
    "Lambda",
    "Permute",
    "RepeatVector",
    "Rescaling",
    "TextVectorization",
    "Bidirectional",
    "TimeDistributed",
    "serialize",
    "deserialize",
    "Activation",
    "AveragePooling2D",
    "AvgPool2D",
    "BatchNormalization",
    "Conv1D",
    "Conv2D",
    "Convolution2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "InputSpec",
    "KerasTensor",
    "LSTM",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "MaxPool2D",
    "MaxPooling2D",
    "MultiHeadAttention",
    "ReLU",
    "Reshape",
    "SimpleRNN",
    "Softmax",
    "Transformer",
]


def serialize(layer):
    """``{'class_name': ..., 'config': ...}`` of a layer (what ``deserialize`` rebuilds)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config, custom_objects=None):
    """The layer described by ``serialize``'s dict (classes from the registry or ``custom_objects``)."""
    from ..saving import layer_from_config
    from ..saving_scope import scoped

    return layer_from_config(config, scoped(custom_objects))
