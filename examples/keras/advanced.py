"""The TensorFlow 2 "quickstart for experts": a subclassed ``keras.Model`` trained by a custom
loop, written in its original structure for minidl.keras. What TensorFlow does outside Keras is
replaced by minidl's own tools (see docs/porting-keras.md):

    tf.GradientTape() / tape.gradient(loss, vars)   ->  minidl.grad(loss, vars)
    tf.data.Dataset.from_tensor_slices(...).batch()  ->  minidl.data.DataLoader(TensorDataset(...))
    @tf.function                                     ->  (nothing: minidl runs eagerly)

    python examples/keras/advanced.py --small    # 500 digits, 1 epoch: a few seconds
"""

import argparse

import numpy as np

import minidl
from minidl import keras
from minidl.keras import Model
from minidl.keras.layers import Conv2D, Dense, Flatten

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--small", action="store_true", help="a few seconds: 500 training digits, 1 epoch")
args = parser.parse_args()

mnist = keras.datasets.mnist
(x_train, y_train), (x_test, y_test) = mnist.load_data()
if args.small:
    x_train, y_train, x_test, y_test = x_train[:500], y_train[:500], x_test[:200], y_test[:200]
x_train, x_test = x_train / 255.0, x_test / 255.0
x_train = x_train[..., np.newaxis].astype("float32")  # add a channels dimension
x_test = x_test[..., np.newaxis].astype("float32")

train_ds = minidl.data.DataLoader(minidl.data.TensorDataset(x_train, y_train), batch_size=32, shuffle=True)
test_ds = minidl.data.DataLoader(minidl.data.TensorDataset(x_test, y_test), batch_size=32)


class MyModel(Model):
    def __init__(self):
        super().__init__()
        self.conv1 = Conv2D(4 if args.small else 32, 3, activation="relu")
        self.flatten = Flatten()
        self.d1 = Dense(128, activation="relu")
        self.d2 = Dense(10)

    def call(self, x):
        x = self.conv1(x)
        x = self.flatten(x)
        x = self.d1(x)
        return self.d2(x)


model = MyModel()

loss_object = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
optimizer = keras.optimizers.Adam()

train_loss = keras.metrics.Mean(name="train_loss")
train_accuracy = keras.metrics.SparseCategoricalAccuracy(name="train_accuracy")
test_loss = keras.metrics.Mean(name="test_loss")
test_accuracy = keras.metrics.SparseCategoricalAccuracy(name="test_accuracy")


def train_step(images, labels):
    predictions = model(images, training=True)
    loss = loss_object(labels, predictions)
    gradients = minidl.grad(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    train_loss(loss)
    train_accuracy(labels, predictions)


def test_step(images, labels):
    predictions = model(images, training=False)
    t_loss = loss_object(labels, predictions)
    test_loss(t_loss)
    test_accuracy(labels, predictions)


EPOCHS = 1 if args.small else 5
for epoch in range(EPOCHS):
    train_loss.reset_state()
    train_accuracy.reset_state()
    test_loss.reset_state()
    test_accuracy.reset_state()
    for images, labels in train_ds:
        train_step(images, labels)
    for test_images, test_labels in test_ds:
        test_step(test_images, test_labels)
    print(
        f"Epoch {epoch + 1}, "
        f"Loss: {train_loss.result():0.2f}, "
        f"Accuracy: {train_accuracy.result() * 100:0.2f}, "
        f"Test Loss: {test_loss.result():0.2f}, "
        f"Test Accuracy: {test_accuracy.result() * 100:0.2f}"
    )
