"""The Keras guide "Customizing what happens in fit()", its first examples in their original
structure for minidl.keras: a ``train_step`` override with ``compute_loss`` and the model's
metrics, a ``test_step`` override, then a model that keeps its own loss tracker and MAE metric
and is compiled without a loss. Where the guide computes gradients with the backend's tape
(``tf.GradientTape``, ``loss.backward()`` in torch), minidl uses ``minidl.grad``.

    python examples/keras/custom_train_step.py --small
"""

import argparse

import numpy as np

import minidl
from minidl import keras

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--small", action="store_true", help="a few seconds: fewer samples and epochs")
args = parser.parse_args()
n, epochs = (256, 2) if args.small else (1000, 5)


class CustomModel(keras.Model):
    def train_step(self, data):
        x, y = data
        y_pred = self(x, training=True)  # Forward pass
        loss = self.compute_loss(y=y, y_pred=y_pred)
        trainable_vars = self.trainable_variables
        gradients = minidl.grad(loss, trainable_vars)
        self.optimizer.apply_gradients(zip(gradients, trainable_vars))
        # Update metrics (includes the metric that tracks the loss)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        # Return a dict mapping metric names to current value
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


# Construct and compile an instance of CustomModel
inputs = keras.Input(shape=(32,))
outputs = keras.layers.Dense(1)(inputs)
model = CustomModel(inputs, outputs)
model.compile(optimizer="adam", loss="mse", metrics=["mae"])

# Just use `fit` as usual
x = np.random.random((n, 32))
y = np.random.random((n, 1))
model.fit(x, y, epochs=epochs, verbose=2)
print("evaluate:", model.evaluate(x, y, verbose=0))


class MeanSquaredErrorModel(keras.Model):
    """The guide's lower-level variant: its own trackers, compile() without a loss."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

    def train_step(self, data):
        x, y = data
        y_pred = self(x, training=True)
        loss = keras.ops.mean(keras.losses.mean_squared_error(y, y_pred))
        gradients = minidl.grad(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        # listed here so that fit() resets them at the start of each epoch
        return [self.loss_tracker, self.mae_metric]


inputs = keras.Input(shape=(32,))
outputs = keras.layers.Dense(1)(inputs)
model = MeanSquaredErrorModel(inputs, outputs)
model.compile(optimizer="adam")  # no loss: train_step computes it
history = model.fit(x, y, epochs=epochs, verbose=2)
print("final loss:", round(history.history["loss"][-1], 4))
