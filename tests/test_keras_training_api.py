"""The Keras training API around fit: apply_gradients, custom train_step / test_step /
compute_loss, compiled_loss and compiled_metrics, add_loss / add_metric, compile without a loss,
several inputs and outputs (lists and name-keyed dicts, loss_weights), Keras variables and
metrics, learning-rate schedules, layers held in lists."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import keras
from minidl.keras import layers, ops


def _data(n=64, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    return x, (x @ np.arange(1, d + 1, dtype="float32") / d)[:, None]


def test_apply_gradients_is_one_step_of_the_update_rule():
    layer = layers.Dense(2)
    x = np.ones((3, 4), "float32")
    loss = ops.sum(ops.square(layer(x)))
    before = [v.numpy() for v in layer.trainable_variables]
    grads = minidl.grad(loss, layer.trainable_variables)
    opt = keras.optimizers.SGD(learning_rate=0.1)
    opt.apply_gradients(zip(grads, layer.trainable_variables))
    for b, v, g in zip(before, layer.trainable_variables, grads):
        np.testing.assert_allclose(v.numpy(), b - 0.1 * g.numpy(), rtol=1e-6)
    assert opt.iterations == 1 and all(v.grad is None for v in layer.trainable_variables)


def test_variables_assign_and_numpy():
    layer = layers.Dense(3)
    layer.build((None, 2))
    assert layer.kernel.name == "kernel" and layer.kernel.path.endswith("/kernel")
    layer.kernel.assign(np.ones((2, 3)))
    layer.bias.assign_add(np.full(3, 2.0))
    assert layer.kernel.numpy().sum() == 6 and layer.bias.numpy().tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="shape"):
        layer.kernel.assign(np.ones((3, 3)))
    assert layer(np.ones((1, 2))).numpy().tolist() == [[4.0, 4.0, 4.0]]  # numpy() of an output in a graph


def test_metrics_are_callable_and_subclassable():
    acc = keras.metrics.SparseCategoricalAccuracy()
    assert acc(minidl.tensor([1, 0]), minidl.tensor([[0.1, 0.9], [0.2, 0.8]])) == 0.5
    assert f"{acc.result() * 100:.0f}" == "50" and acc.result().numpy() == np.float32(0.5)
    mean = keras.metrics.Mean()
    mean.update_state(np.array([1.0, 2.0, 3.0]))
    assert mean.result() == 2.0

    class Positives(keras.metrics.Metric):
        def __init__(self, name="positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.count_ = self.add_weight(name="tp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.count_.assign_add(ops.sum(ops.cast(ops.greater(y_pred, 0.5), "float32")))

        def result(self):
            return self.count_

    p = Positives()
    p.update_state(None, np.array([0.9, 0.1, 0.7]))
    assert float(p.result().numpy()) == 2.0
    p.reset_state()
    assert float(p.result().numpy()) == 0.0


def test_custom_train_step_with_compiled_loss_and_metrics():
    calls = []

    class Custom(keras.Model):
        def train_step(self, data):
            x, y = data
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            grads = minidl.grad(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.compiled_metrics.update_state(y, y_pred)
            calls.append(len(x))
            return {m.name: m.result() for m in self.metrics}

    inputs = keras.Input(shape=(4,))
    model = Custom(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x, y = _data()
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert calls == [16] * 8 and set(history.history) == {"loss", "mae"}
    assert history.history["loss"][1] < history.history["loss"][0]
    assert isinstance(model.evaluate(x, y, verbose=0), list)


def test_train_step_on_x_alone_and_compile_without_loss():
    class Trainer(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)
            self.tracker = keras.metrics.Mean(name="loss")

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            loss = ops.mean(ops.square(self(data, training=True)))
            grads = minidl.grad(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.tracker.update_state(loss)
            return {"loss": self.tracker.result()}

        @property
        def metrics(self):
            return [self.tracker]

    model = Trainer()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    history = model.fit(_data()[0], epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_add_loss_and_add_metric_in_a_layer():
    class Penalty(layers.Layer):
        def call(self, x):
            self.add_loss(0.5 * ops.sum(ops.square(x)))
            self.add_metric(ops.mean(x), name="mean_act")
            return x

    inputs = keras.Input(shape=(4,))
    hidden = Penalty()(layers.Dense(3)(inputs))
    model = keras.Model(inputs, layers.Dense(1)(hidden))
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    history = model.fit(x, y, epochs=1, verbose=0)
    assert "mean_act" in history.history
    out = model(x[:2])
    expected = 0.5 * float(np.sum(np.square(model.layers[1](x[:2]).numpy())))
    assert len(model.losses) == 1 and np.isclose(float(model.losses[0].numpy()), expected, rtol=1e-5)
    with_penalty, mean_act = model.evaluate(x, y, verbose=0)
    plain = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    assert with_penalty > plain and out.shape == (2, 1) and isinstance(mean_act, float)


def test_compute_loss_override_is_used_by_fit():
    class Halved(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return 0.5 * ops.mean(ops.square(y_pred - y))

    inputs = keras.Input(shape=(4,))
    model = Halved(inputs, layers.Dense(1, kernel_initializer="zeros")(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isclose(logs["loss"], 0.5 * float(np.mean(y ** 2)), rtol=1e-5)


def _ticket_model():
    title = keras.Input(shape=(None,), name="title")
    tags = keras.Input(shape=(3,), name="tags")
    feats = layers.GlobalAveragePooling1D()(layers.Embedding(20, 4)(title))
    x = layers.concatenate([feats, tags])
    priority = layers.Dense(1, name="priority")(x)
    department = layers.Dense(2, name="department")(x)
    return keras.Model([title, tags], {"priority": priority, "department": department})


def test_several_inputs_and_outputs_by_name():
    model = _ticket_model()
    model.compile(optimizer="rmsprop", loss={"priority": "mse", "department": "sparse_categorical_crossentropy"},
                  loss_weights={"priority": 1.0, "department": 0.5}, metrics={"department": ["accuracy"]})
    rng = np.random.default_rng(0)
    x = {"title": rng.integers(0, 20, (32, 5)), "tags": rng.random((32, 3)).astype("float32")}
    y = {"priority": rng.random((32, 1)), "department": rng.integers(0, 2, 32)}
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert {"loss", "priority_loss", "department_loss", "department_accuracy"} <= set(history.history)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isclose(logs["loss"], logs["priority_loss"] + 0.5 * logs["department_loss"], rtol=1e-4)
    out = model.predict(x, verbose=0)
    assert set(out) == {"priority", "department"} and out["department"].shape == (32, 2)
    assert [type(layer).__name__ for layer in model.layers[:2]] == ["InputLayer", "InputLayer"]
    assert model.inputs[0].name == "title" and len(model.outputs) == 2
    with pytest.raises(ValueError, match="priority"):
        model.fit(x, {"department": y["department"]}, verbose=0)


def test_layer_input_output_and_symbolic_graph():
    inputs = keras.Input(shape=(3,))
    dense = layers.Dense(2)
    out = dense(inputs)
    assert dense.input is inputs and dense.output is out
    model = keras.Model(inputs, out)
    assert model.input is inputs and model.output is out and model.layers[0].output is inputs
    with pytest.raises(ValueError, match="never been called"):
        _ = layers.Dense(2).output


def test_learning_rate_schedule_drives_the_optimizer():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    opt = keras.optimizers.SGD(learning_rate=schedule)
    w = keras.Variable(np.zeros(1, "float32"))
    for _ in range(3):
        opt.apply_gradients([(minidl.ones(1), w)])
    np.testing.assert_allclose(w.numpy(), [-(0.1 + 0.05 + 0.025)], rtol=1e-6)
    boundaries = keras.optimizers.schedules.PiecewiseConstantDecay([2], [1.0, 0.1])
    assert boundaries(2) == 1.0 and boundaries(3) == 0.1


def test_layers_held_in_lists_are_trained_and_saved(tmp_path):
    class Stack(keras.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [layers.Dense(4, activation="relu") for _ in range(2)]
            self.heads = {"out": layers.Dense(1)}
            self.blocks.append(layers.Dense(4))  # appended after the assignment

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return self.heads["out"](x)

    model = Stack()
    model.compile(optimizer="adam", loss="mse")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    assert len(model.trainable_variables) == 8
    model.save_weights(tmp_path / "stack.weights.npz")
    twin = Stack()
    twin(x[:1])
    twin.load_weights(tmp_path / "stack.weights.npz")
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_class_weight_scales_each_sample_like_sample_weight():
    x, _ = _data(32)
    y = (x[:, 0] > 0).astype("int64")
    losses = []
    for kwargs in ({"class_weight": {0: 1.0, 1: 3.0}}, {"sample_weight": np.where(y == 1, 3.0, 1.0)}):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        losses.append(model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, **kwargs).history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)
    with pytest.raises(ValueError, match="class"):
        model.fit(x, y, class_weight={0: 1.0}, verbose=0)


def test_callbacks_batch_aliases_checkpoint_every_n_batches_and_tensorboard(tmp_path):
    seen = []

    class Old(keras.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(batch)

    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data(40)
    ckpt = keras.callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch}-{batch}.weights.npz"), save_weights_only=True,
                                           save_freq=2)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[Old(), ckpt])
    assert seen == [0, 1, 2, 3, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w-1-2.weights.npz", "w-1-4.weights.npz"]
    with pytest.raises(NotImplementedError, match="TensorBoard"):
        keras.callbacks.TensorBoard(log_dir=str(tmp_path))
