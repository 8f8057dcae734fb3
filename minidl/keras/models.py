"""``keras.models``: ``Sequential``, the functional ``Model(inputs, outputs)`` and subclassed
``Model``, with Keras's training API, and loading.

    model = keras.models.Sequential([keras.layers.Dense(64, activation='relu', input_shape=(20,)),
                                     keras.layers.Dense(10, activation='softmax')])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    history = model.fit(x, y, epochs=5, batch_size=32, validation_split=0.1)
    model.evaluate(x_test, y_test)          # [loss, accuracy]
    model.predict(x_test)                   # NumPy array
    model.save('model.keras'); keras.models.load_model('model.keras')

Where the code is: ``keras.training`` (``Model``: compile, steps, the API), ``keras.training_loop``
(fit / evaluate / predict), ``keras.data_adapter`` (arrays and iterables to batches),
``keras.sequential``, ``keras.functional_model``, ``keras.summary``, ``keras.saving``, and ``keras.gpt``
(``gpt(vocab_size, block_size, ...)``, a GPT language model).
"""

from .functional_model import Functional
from .gpt import GPT, gpt
from .saving import clone_model, load_model, model_from_config, model_from_json, save_model
from .sequential import Sequential
from .training import Model

__all__ = ["GPT", "Functional", "Model", "Sequential", "clone_model", "gpt", "load_model", "model_from_config",
           "model_from_json", "save_model"]
