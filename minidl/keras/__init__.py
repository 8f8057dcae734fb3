"""minidl.keras: a Keras-style facade over minidl, so that classic ``tf.keras`` code runs with
``from minidl import keras``:

    model = keras.models.Sequential([
        keras.layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation='softmax')])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x_train, y_train, epochs=10, batch_size=32)
    predictions = model.predict(x_test)

Keras's conventions hold throughout: channels-last images (N, H, W, C), sequences
(batch, time, features), weights in Keras's layouts and initialisers, layers built lazily from
the first input shape. Underneath, every layer calls ``minidl.functional`` and every weight is
a ``minidl.nn.Parameter``, so a model is also an ``nn.Module`` (``model.parameters()``,
``model.to('cuda')``).
"""

from . import (
    activations,
    callbacks,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    random,
    regularizers,
    utils,
)
from .layers import Input
from .models import Model, Sequential, load_model
from .naming import clear_session
from .variables import Variable


class backend:  # noqa: N801 - Keras's module name, here a namespace
    """``keras.backend.clear_session()`` resets the automatic layer names."""

    clear_session = staticmethod(clear_session)


__all__ = [
    "Input",
    "Model",
    "Sequential",
    "Variable",
    "activations",
    "backend",
    "callbacks",
    "datasets",
    "clear_session",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "models",
    "ops",
    "optimizers",
    "random",
    "regularizers",
    "utils",
]
