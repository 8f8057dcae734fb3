"""The TensorFlow 2 beginner quickstart ("TensorFlow 2 quickstart for beginners"), written in its
original structure for minidl.keras: the only change of substance is the import (and
``keras.ops.softmax`` where the tutorial calls ``tf.nn.softmax``, which is TensorFlow outside Keras).

    python examples/keras/beginner.py            # 5 epochs on the 60,000 MNIST digits
    python examples/keras/beginner.py --small    # 1,000 digits, 1 epoch: a few seconds
"""

import argparse

from minidl import keras

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--small", action="store_true", help="a few seconds: 1,000 training digits, 1 epoch")
args = parser.parse_args()

mnist = keras.datasets.mnist
(x_train, y_train), (x_test, y_test) = mnist.load_data()
if args.small:
    x_train, y_train, x_test, y_test = x_train[:1000], y_train[:1000], x_test[:500], y_test[:500]
x_train, x_test = x_train / 255.0, x_test / 255.0

model = keras.models.Sequential([
    keras.layers.Flatten(input_shape=(28, 28)),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10),
])

predictions = model(x_train[:1]).numpy()
print("logits of the untrained model:", predictions.round(2))
print("probabilities:", keras.ops.softmax(predictions).numpy().round(2))

loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
print("initial loss (about -log(1/10) = 2.3):", float(loss_fn(y_train[:1], predictions).numpy()))

model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
model.fit(x_train, y_train, epochs=1 if args.small else 5, verbose=2)
loss, accuracy = model.evaluate(x_test, y_test, verbose=2)
print(f"test accuracy: {accuracy:.4f}")

probability_model = keras.Sequential([model, keras.layers.Softmax()])
print("probabilities of 2 test digits:", probability_model(x_test[:2]).numpy().round(2))
