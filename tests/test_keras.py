"""minidl.keras: the seed examples as written, training, callbacks, saving, Keras's weight
layouts (checked against PyTorch where it has the same layer), and clear errors."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import functional as F
from minidl import keras


@pytest.fixture(autouse=True)
def _fresh():
    keras.backend.clear_session()
    minidl.manual_seed(0)


def _rng():
    return np.random.default_rng(0)


def _summary_text(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def seed_cnn():
    return keras.models.Sequential([
        keras.layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Conv2D(64, (3, 3), activation='relu'),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation='relu'),
        keras.layers.Dense(10, activation='softmax')])


def seed_lstm():
    return keras.models.Sequential([
        keras.layers.Embedding(1000, 64, input_length=100),
        keras.layers.LSTM(64),
        keras.layers.Dense(64, activation='relu'),
        keras.layers.Dense(10, activation='softmax')])


def seed_transformer():
    return keras.models.Sequential([
        keras.layers.Embedding(1000, 64, input_length=100),
        keras.layers.Transformer(num_heads=8, feed_forward_dim=512, rate=0.1),
        keras.layers.Dense(64, activation='relu'),
        keras.layers.Dense(10, activation='softmax')])


# ---- the three seed examples, as written -------------------------------------------------------
SEEDS = [
    ("cnn", seed_cnn, 225_034, lambda r: r.random((64, 28, 28, 1)).astype("float32")),
    ("lstm", seed_lstm, 101_834, lambda r: r.integers(0, 1000, (64, 100))),
    ("transformer", seed_transformer, 151_818, lambda r: r.integers(0, 1000, (64, 100))),
]


@pytest.mark.parametrize("name, build, params, make_x", SEEDS, ids=[s[0] for s in SEEDS])
def test_seed_example_runs_as_written(name, build, params, make_x):
    rng = _rng()
    x_train, y_train = make_x(rng), rng.integers(0, 10, 64)
    model = build()
    text = _summary_text(model)
    assert f"Total params: {params:,}" in text
    assert model.count_params() == params
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    history = model.fit(x_train, y_train, epochs=1, batch_size=32, verbose=0)
    assert set(history.history) == {"loss", "accuracy"} and math.isfinite(history.history["loss"][0])
    loss, acc = model.evaluate(x_train, y_train, verbose=0)
    assert math.isfinite(loss) and 0.0 <= acc <= 1.0
    predictions = model.predict(x_train[:5], verbose=0)
    assert isinstance(predictions, np.ndarray) and predictions.shape == (5, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, atol=1e-5)
    assert (predictions >= 0).all()


def test_summary_table_lists_layers_shapes_and_counts():
    text = _summary_text(seed_cnn())
    for row in ("conv2d (Conv2D)", "(None, 26, 26, 32)", "320", "(None, 5, 5, 64)", "flatten (Flatten)",
                "(None, 1600)", "204,928", "dense_1 (Dense)", "1,290"):
        assert row in text
    assert "Trainable params: 225,034" in text and "Non-trainable params: 0" in text
    lstm = _summary_text(seed_lstm())
    assert "lstm (LSTM)" in lstm and "33,024" in lstm and "(None, 100, 64)" in lstm


def test_transformer_parameter_count_breakdown():
    layer = seed_transformer().layers[1]
    counts = {sub.name: sub.count_params() for sub in layer.layers}
    assert counts["multi_head_attention"] == 4 * (64 * 64 + 64)
    assert counts["dense_1"] == 64 * 512 + 512 and counts["dense_2"] == 512 * 64 + 64
    assert layer.count_params() == 83_008
    rows = keras.layers.Transformer(num_heads=8, feed_forward_dim=16)  # MNIST as 28 rows of 28 pixels
    assert rows(np.zeros((2, 28, 28), "float32")).shape == (2, 28)
    assert rows.attention.key_dim == 4  # ⌈28 / 8⌉


def test_cnn_learns_mnist_quickly(data_dir):
    from minidl.datasets import mnist

    (x_train, y_train), (x_test, y_test) = mnist.load_data(root=data_dir, download=False)
    x_train, y_train = x_train[:800, ..., None] / 255.0, y_train[:800]
    x_test, y_test = x_test[:300, ..., None] / 255.0, y_test[:300]
    model = seed_cnn()
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x_train, y_train, epochs=1, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.5  # chance is 0.1


def test_dense_classifier_learns_and_validation_split_holds_out_the_tail():
    rng = _rng()
    x = rng.standard_normal((200, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    model = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    seen = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    history = model.fit(x, y, epochs=8, batch_size=32, validation_split=0.25, callbacks=[counter], verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 8 for v in history.history.values())
    assert seen.count(0) == 8 and max(seen) == 4  # 150 training samples: 5 batches of 32
    assert history.history["accuracy"][-1] > 0.9 and history.history["val_accuracy"][-1] > 0.85
    val = model.evaluate(x[150:], y[150:], verbose=0, return_dict=True)
    assert val["loss"] == pytest.approx(history.history["val_loss"][-1], rel=1e-5)
    assert model.evaluate(x, y, verbose=0, return_dict=True).keys() == {"loss", "accuracy"}


def test_validation_data_and_iterable_of_batches():
    rng = _rng()
    x = rng.standard_normal((40, 3)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5], dtype="float32")
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=30, validation_data=(x[:10], y[:10]), verbose=0)
    assert history.history["loss"][-1] < 1e-2 and "val_mae" in history.history
    from minidl.data import DataLoader, TensorDataset

    batches = DataLoader(TensorDataset(minidl.tensor(x), minidl.tensor(y)), batch_size=8, shuffle=True)
    model.fit(batches, epochs=2, verbose=0)
    assert model.predict(x, verbose=0).shape == (40, 1)
    assert model.evaluate(batches, verbose=0)[0] < 1e-2


# ---- the loss on softmax / sigmoid outputs ------------------------------------------------------
def test_softmax_output_loss_uses_the_logits():
    model = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(2,))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.set_weights([np.array([[60.0, 0.0, -60.0], [0.0, 0.0, 0.0]], "float32"), np.zeros(3, "float32")])
    x, y = np.array([[1.0, 0.0]], "float32"), np.array([2])
    # softmax(60, 0, -60)[2] underflows to 0 in float32; the logits give the exact 120
    assert model.evaluate(x, y, verbose=0) == pytest.approx(120.0, rel=1e-5)
    assert model.predict(x, verbose=0)[0, 2] < 1e-30
    # without the logits (probabilities given directly) the clipped log caps the loss at −log(1e-7)
    loss = keras.losses.SparseCategoricalCrossentropy()(y, minidl.tensor([[1.0, 0.0, 0.0]]))
    assert float(loss.detach().numpy()) == pytest.approx(-math.log(1e-7), rel=1e-4)
    bce = keras.Sequential([keras.layers.Dense(1, activation="sigmoid", input_shape=(1,))])
    bce.compile(optimizer="sgd", loss="binary_crossentropy")
    bce.set_weights([np.array([[-50.0]], "float32"), np.zeros(1, "float32")])
    assert bce.evaluate(np.ones((1, 1), "float32"), np.ones(1), verbose=0) == pytest.approx(50.0, rel=1e-4)


def test_loss_objects_match_pytorch_formulas():
    torch = pytest.importorskip("torch")
    rng = _rng()
    z = rng.standard_normal((6, 4)).astype("float32")
    labels = rng.integers(0, 4, 6)
    onehot = np.eye(4, dtype="float32")[labels]
    tz = torch.tensor(z)
    expected = torch.nn.functional.cross_entropy(tz, torch.tensor(labels)).item()
    probs = torch.softmax(tz, -1).numpy()
    for loss, target, pred in (
        (keras.losses.SparseCategoricalCrossentropy(from_logits=True), labels, z),
        (keras.losses.SparseCategoricalCrossentropy(), labels, probs),
        (keras.losses.CategoricalCrossentropy(from_logits=True), onehot, z),
        (keras.losses.CategoricalCrossentropy(), onehot, probs),
    ):
        assert float(loss(target, pred).detach().numpy()) == pytest.approx(expected, rel=1e-5)
    t = (rng.random((6, 1)) > 0.5).astype("float32")
    expected = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(z[:, :1]), torch.tensor(t)).item()
    assert float(keras.losses.BinaryCrossentropy(from_logits=True)(t[:, 0], z[:, :1]).numpy()) == pytest.approx(
        expected, rel=1e-5)
    mse = keras.losses.MeanSquaredError()(z[:, 0], z[:, 1:2])
    assert float(mse.numpy()) == pytest.approx(float(np.mean((z[:, 0] - z[:, 1]) ** 2)), rel=1e-5)


# ---- callbacks ---------------------------------------------------------------------------------
def _tiny_model(lr=0.0):
    model = keras.Sequential([keras.layers.Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _tiny_data(n=16):
    rng = _rng()
    return rng.standard_normal((n, 3)).astype("float32"), rng.integers(0, 2, n)


def test_early_stopping_stops_and_restores_the_best_weights():
    x, y = _tiny_data()
    model = _tiny_model(lr=0.1)
    scripted = [3.0, 1.0, 2.0, 2.5, 2.0, 0.5]
    snapshots = []

    def on_epoch_end(epoch, logs):
        logs["val_loss"] = scripted[epoch]
        snapshots.append(model.get_weights())

    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=6, verbose=0,
                        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end), stopper])
    assert len(history.history["loss"]) == 4  # best at epoch 1, then two epochs without improvement
    assert stopper.stopped_epoch == 3 and stopper.best == 1.0
    for got, best in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(got, best)
    assert not all(np.array_equal(a, b) for a, b in zip(snapshots[3], snapshots[1]))


def test_early_stopping_on_a_flat_loss():
    x, y = _tiny_data()
    model = _tiny_model(lr=0.0)  # nothing changes: no improvement after the first epoch
    stopper = keras.callbacks.EarlyStopping("loss", patience=1, min_delta=1e-4)
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[stopper])
    assert len(history.history["loss"]) == 2


def test_model_checkpoint_writes_loadable_best_files(tmp_path):
    x, y = _tiny_data()
    model = _tiny_model(lr=0.5)
    path = tmp_path / "best.keras"
    ckpt = keras.callbacks.ModelCheckpoint(path, monitor="loss", save_best_only=True)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[ckpt])
    assert path.exists() and ckpt.best == pytest.approx(min(model.history.history["loss"]))
    restored = keras.models.load_model(path)
    assert restored.count_params() == model.count_params()
    weights_path = tmp_path / "w-{epoch:02d}.weights.npz"
    model.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.ModelCheckpoint(weights_path,
                                                                                    save_weights_only=True)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras", "w-01.weights.npz", "w-02.weights.npz"]
    clone = _tiny_model()
    clone.load_weights(tmp_path / "w-02.weights.npz")
    for a, b in zip(clone.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_interrupted_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    import zipfile

    x, y = _tiny_data()
    model = _tiny_model(lr=0.5)
    path = tmp_path / "model.keras"
    model.save(path)
    before = path.read_bytes()
    expected = model.predict(x, verbose=0)
    model.fit(x, y, epochs=1, verbose=0)  # the weights change

    real_writestr = zipfile.ZipFile.writestr

    def crash_on_weights(self, name, data, *args, **kwargs):
        if name == "model.weights.npz":
            real_writestr(self, name, data[: len(data) // 2], *args, **kwargs)  # half written, then the crash
            raise KeyboardInterrupt("simulated crash while writing")
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", crash_on_weights)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temporary file left behind
    np.testing.assert_array_equal(keras.models.load_model(path).predict(x, verbose=0), expected)


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    x, y = _tiny_data()
    path = tmp_path / "log.csv"
    _tiny_model(0.1).fit(x, y, epochs=3, validation_data=(x, y), verbose=0,
                         callbacks=[keras.callbacks.CSVLogger(path)])
    rows = list(csv.DictReader(path.open()))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(math.isfinite(float(r["val_loss"])) for r in rows)
    _tiny_model(0.1).fit(x, y, epochs=1, validation_data=(x, y), verbose=0,
                         callbacks=[keras.callbacks.CSVLogger(path, append=True)])
    assert len(list(csv.DictReader(path.open()))) == 4


def test_learning_rate_scheduler_changes_the_optimizer_rate():
    x, y = _tiny_data()
    model = _tiny_model(0.1)
    seen = []
    model.fit(x, y, epochs=3, verbose=0, callbacks=[
        keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1)),
        keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(
            model.optimizer.inner.param_groups[0]["lr"])),
    ])
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert model.history.history["learning_rate"] == pytest.approx(seen)
    assert model.optimizer.learning_rate == pytest.approx(0.1 / 3)


def test_callback_hooks_are_called_in_keras_order():
    x, y = _tiny_data(8)
    calls = []

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"epoch_begin {epoch}")

        def on_train_batch_end(self, batch, logs=None):
            calls.append(f"batch_end {batch} {sorted(logs)}")

        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"epoch_end {epoch}")

        def on_train_end(self, logs=None):
            calls.append("train_end")

    _tiny_model().fit(x, y, epochs=2, batch_size=4, initial_epoch=1, verbose=0, callbacks=[Recorder()])
    assert calls == ["train_begin", "epoch_begin 1", "batch_end 0 ['accuracy', 'loss']",
                     "batch_end 1 ['accuracy', 'loss']", "epoch_end 1", "train_end"]


def test_progress_output_for_each_verbosity(capsys):
    x, y = _tiny_data()
    model = _tiny_model(0.1)
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=2, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2 - ") and "loss: " in lines[1]
    model.fit(x, y, epochs=1, verbose="auto")
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "accuracy: " in out


# ---- saving ------------------------------------------------------------------------------------
def _check_round_trip(model, x, tmp_path):
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [w.shape for w in restored.get_weights()] == [w.shape for w in model.get_weights()]
    assert restored.optimizer.learning_rate == model.optimizer.learning_rate
    return restored


def test_save_and_load_model_give_identical_predictions(tmp_path):
    rng = _rng()
    images = rng.random((8, 12, 12, 3)).astype("float32")
    cnn = keras.Sequential([
        keras.Input(shape=(12, 12, 3)),
        keras.layers.Conv2D(4, 3, padding="same", strides=2, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.AveragePooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(3, activation="softmax", kernel_regularizer="l2"),
    ])
    cnn.compile(optimizer=keras.optimizers.RMSprop(0.01), loss="sparse_categorical_crossentropy", metrics=["acc"])
    cnn.fit(images, rng.integers(0, 3, 8), epochs=1, verbose=0)
    restored = _check_round_trip(cnn, images, tmp_path)
    assert restored.metrics_names == ["loss", "acc"] and len(restored.get_weights()) == 8

    tokens = rng.integers(1, 50, (6, 7))
    rnn = keras.Sequential([
        keras.layers.Embedding(50, 8, mask_zero=True),
        keras.layers.GRU(5, return_sequences=True),
        keras.layers.LSTM(4, return_sequences=True),
        keras.layers.SimpleRNN(3, go_backwards=True),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    rnn.compile(optimizer="adam", loss="binary_crossentropy")
    rnn.fit(tokens, rng.integers(0, 2, 6), epochs=1, verbose=0)
    _check_round_trip(rnn, tokens, tmp_path)

    inputs = keras.Input(shape=(5, 8))
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)(inputs, inputs)
    block = keras.layers.Transformer(num_heads=2, feed_forward_dim=6, return_sequences=True)(attended)
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.LayerNormalization()(block))
    functional = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(pooled))
    functional.compile(optimizer="adamw", loss="categorical_crossentropy")
    seqs = rng.standard_normal((4, 5, 8)).astype("float32")
    functional.fit(seqs, np.eye(2, dtype="float32")[[0, 1, 1, 0]], epochs=1, verbose=0)
    _check_round_trip(functional, seqs, tmp_path)


def test_saved_file_is_json_and_npz_without_pickle(tmp_path):
    import json
    import zipfile

    model = seed_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "cnn.keras"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["config.json", "model.weights.npz"]
        config = json.loads(z.read("config.json"))
        assert [layer["class_name"] for layer in config["model"]["config"]["layers"]] == [
            "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
        assert config["compile_config"]["loss"] == "sparse_categorical_crossentropy"
        import io

        with np.load(io.BytesIO(z.read("model.weights.npz")), allow_pickle=False) as npz:
            assert npz["w0000"].shape == (3, 3, 1, 32)
    (tmp_path / "junk.keras").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a model file"):
        keras.models.load_model(tmp_path / "junk.keras")


def test_subclassed_model_trains_and_saves_weights(tmp_path):
    class TwoLayer(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(8, activation="tanh")
            self.out = keras.layers.Dense(1)

        def call(self, x):
            return self.out(self.hidden(x))

    rng = _rng()
    x = rng.standard_normal((32, 2)).astype("float32")
    y = np.sin(x[:, 0]) + x[:, 1]
    model = TwoLayer()
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    model.save_weights(tmp_path / "two.npz")
    again = TwoLayer()
    again.build((None, 2))
    again.load_weights(tmp_path / "two.npz")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(NotImplementedError, match="save_weights"):
        model.save(tmp_path / "two.keras")


# ---- weights: Keras's layouts, initialisers, parity with PyTorch -----------------------------
def test_get_weights_layouts_and_set_weights_checks():
    model = keras.Sequential([
        keras.layers.Conv2D(5, (3, 2), input_shape=(8, 8, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(4),
    ])
    assert [w.shape for w in model.get_weights()] == [(3, 2, 3, 5), (5,), (6 * 7 * 5, 4), (4,)]
    lstm = keras.layers.LSTM(6)
    lstm(np.zeros((1, 2, 3), "float32"))
    assert [w.shape for w in lstm.get_weights()] == [(3, 24), (6, 24), (24,)]
    gru = keras.layers.GRU(6)
    gru(np.zeros((1, 2, 3), "float32"))
    assert [w.shape for w in gru.get_weights()] == [(3, 18), (6, 18), (2, 18)]
    norm = keras.layers.BatchNormalization()
    norm(np.zeros((2, 4), "float32"))
    assert [w.shape for w in norm.get_weights()] == [(4,)] * 4
    assert len(norm.trainable_weights) == 2 and len(norm.non_trainable_weights) == 2
    weights = [w + 1 for w in model.get_weights()]
    model.set_weights(weights)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="expects 4 weight"):
        model.set_weights(weights[:3])
    with pytest.raises(ValueError, match=r"conv2d/kernel has shape \(3, 2, 3, 5\)"):
        model.set_weights([np.zeros((5, 3, 3, 2))] + weights[1:])


def test_keras_default_initialisers():
    dense = keras.layers.Dense(50)
    dense(np.zeros((1, 30), "float32"))
    kernel, bias = dense.get_weights()
    limit = math.sqrt(6 / (30 + 50))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit and not bias.any()
    conv = keras.layers.Conv2D(8, 3)
    conv(np.zeros((1, 5, 5, 4), "float32"))
    assert np.abs(conv.get_weights()[0]).max() <= math.sqrt(6 / (9 * 4 + 9 * 8))
    emb = keras.layers.Embedding(100, 16)
    emb(np.zeros((1, 2), "int64"))
    assert np.abs(emb.get_weights()[0]).max() <= 0.05
    lstm = keras.layers.LSTM(4)
    lstm(np.zeros((1, 2, 3), "float32"))
    _, recurrent, bias = lstm.get_weights()
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(4), atol=1e-5)  # orthogonal rows
    np.testing.assert_array_equal(bias, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])  # unit forget bias


def test_dense_conv_and_pooling_match_pytorch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = _rng()
    x = rng.standard_normal((2, 9, 10, 3)).astype("float32")
    xt = torch.tensor(x).permute(0, 3, 1, 2)  # channels first for torch
    for padding, stride in (("valid", 1), ("same", 1), ("same", 2), ("valid", 2)):
        conv = keras.layers.Conv2D(4, (3, 2), strides=stride, padding=padding)
        y = conv(x).detach().numpy()
        kernel, bias = conv.get_weights()
        pads = (0, 0, 0, 0)
        if padding == "same":
            def split(n, k, stride=stride):
                total = max((math.ceil(n / stride) - 1) * stride + k - n, 0)
                return total // 2, total - total // 2

            pads = split(10, 2) + split(9, 3)
        expected = tf.conv2d(tf.pad(xt, pads), torch.tensor(kernel).permute(3, 2, 0, 1), torch.tensor(bias),
                             stride=stride).permute(0, 2, 3, 1)
        np.testing.assert_allclose(y, expected.numpy(), atol=1e-5)
        assert conv.compute_output_shape((None, 9, 10, 3)) == (None,) + y.shape[1:]
    pooled = keras.layers.MaxPooling2D((2, 2))(x).detach().numpy()
    np.testing.assert_allclose(pooled, tf.max_pool2d(xt, 2).permute(0, 2, 3, 1).numpy())
    averaged = keras.layers.AveragePooling2D((2, 2), padding="same")(x).detach().numpy()
    padded_sum = tf.avg_pool2d(tf.pad(xt, (0, 0, 0, 1)), 2)  # 'same' pads one row at the bottom
    share = tf.avg_pool2d(tf.pad(torch.ones_like(xt), (0, 0, 0, 1)), 2)  # TF leaves the padding out of the mean
    np.testing.assert_allclose(averaged, (padded_sum / share).permute(0, 2, 3, 1).numpy(), atol=1e-6)
    dense = keras.layers.Dense(5)
    seq = rng.standard_normal((2, 3, 4)).astype("float32")
    y = dense(seq).detach().numpy()
    kernel, bias = (torch.tensor(w) for w in dense.get_weights())
    np.testing.assert_allclose(y, tf.linear(torch.tensor(seq), kernel.T, bias).numpy(), atol=1e-6)


@st.composite
def spatial_configs(draw):
    """A channels-last image batch and a window: kernel, strides and padding as Keras takes them."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["valid", "same"]))
    h = draw(st.integers(kh if padding == "valid" else 1, 9))
    w = draw(st.integers(kw if padding == "valid" else 1, 9))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (draw(st.integers(1, 2)), h, w, draw(st.integers(1, 3))), (kh, kw), strides, padding


def _tf_output_and_pads(size, kernel, stride, padding):
    """TensorFlow's output length and (before, after) padding along one axis."""
    if padding == "valid":
        return (size - kernel) // stride + 1, (0, 0)
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, (total // 2, total - total // 2)


@settings(max_examples=20)
@given(spatial_configs(), st.integers(1, 3))
def test_conv_and_pooling_windows_follow_tensorflow(config, filters):
    torch = pytest.importorskip("torch")
    shape, kernel, strides, padding = config
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    (oh, (pt, pb)), (ow, (pl, pr)) = (_tf_output_and_pads(shape[i + 1], kernel[i], strides[i], padding)
                                      for i in range(2))
    conv = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding)
    y = conv(x).detach().numpy()
    assert y.shape == (shape[0], oh, ow, filters) == (shape[0],) + conv.compute_output_shape((None,) + shape[1:])[1:]
    k, b = conv.get_weights()
    # the oracle in float64: torch 2.13's float32 oneDNN convolution returns uninitialised values for
    # some strided shapes (kernel (1, 4), strides (1, 3) on a 6x6 single-channel input, say)
    xt = torch.nn.functional.pad(torch.tensor(x).double().permute(0, 3, 1, 2), (pl, pr, pt, pb))
    wt, bt = torch.tensor(k).double().permute(3, 2, 0, 1), torch.tensor(b).double()
    expected = torch.nn.functional.conv2d(xt, wt, bt, stride=strides)
    np.testing.assert_allclose(y, expected.permute(0, 2, 3, 1).numpy(), atol=1e-5)
    pooled = keras.layers.MaxPooling2D(kernel, strides=strides, padding=padding)(x).detach().numpy()
    assert pooled.shape == (shape[0], oh, ow, shape[3])
    xt = torch.nn.functional.pad(torch.tensor(x).permute(0, 3, 1, 2), (pl, pr, pt, pb), value=-np.inf)
    expected = torch.nn.functional.max_pool2d(xt, kernel, strides).permute(0, 2, 3, 1)
    np.testing.assert_allclose(pooled, expected.numpy())


@pytest.mark.parametrize("name", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_layers_match_pytorch(name):
    torch = pytest.importorskip("torch")
    rng = _rng()
    x = rng.standard_normal((3, 6, 5)).astype("float32")
    layer = getattr(keras.layers, name)(4, return_sequences=True, return_state=True)
    seq, *states = layer(x)
    kernel, recurrent, bias = layer.get_weights()
    H = 4
    torch_layer = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "SimpleRNN": torch.nn.RNN}[name](5, H, batch_first=True)
    with torch.no_grad():
        if name == "GRU":  # Keras blocks z, r, h -> PyTorch r, z, n; reset_after keeps two biases
            def order(w):
                return np.concatenate([w[..., H : 2 * H], w[..., :H], w[..., 2 * H :]], axis=-1)

            kernel, recurrent, b_ih, b_hh = order(kernel), order(recurrent), order(bias[0]), order(bias[1])
        else:  # same gate order; Keras's single bias is PyTorch's b_ih with b_hh = 0
            b_ih, b_hh = bias, np.zeros_like(bias)
        for p, v in ((torch_layer.weight_ih_l0, kernel.T), (torch_layer.weight_hh_l0, recurrent.T),
                     (torch_layer.bias_ih_l0, b_ih), (torch_layer.bias_hh_l0, b_hh)):
            p.copy_(torch.tensor(v))
    expected, final = torch_layer(torch.tensor(x))
    np.testing.assert_allclose(seq.detach().numpy(), expected.detach().numpy(), atol=1e-5)
    final = final if isinstance(final, tuple) else (final,)
    for got, want in zip(states, final):
        np.testing.assert_allclose(got.detach().numpy(), want[0].detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_step_by_step_path_equals_the_fused_path(name):
    rng = _rng()
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    for backwards in (False, True):
        fused = getattr(keras.layers, name)(4, return_sequences=True, go_backwards=backwards)
        composed = getattr(keras.layers, name)(4, return_sequences=True, go_backwards=backwards,
                                               activation=lambda t: F.tanh(t))  # not fused: runs step by step
        y = fused(x)
        composed(x)
        composed.set_weights(fused.get_weights())
        np.testing.assert_allclose(composed(x).detach().numpy(), y.detach().numpy(), atol=1e-6)
        x_t = minidl.tensor(x, requires_grad=True)
        grads = []
        for layer in (fused, composed):
            x_t.grad = None
            (layer(x_t) ** 2).sum().backward()
            grads.append(x_t.grad.numpy())
        np.testing.assert_allclose(grads[0], grads[1], atol=1e-5)


def test_multi_head_attention_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = _rng()
    q = rng.standard_normal((2, 5, 8)).astype("float32")
    v = rng.standard_normal((2, 6, 8)).astype("float32")
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    out, scores = mha(q, v, return_attention_scores=True)
    w = mha.get_weights()
    assert [a.shape for a in w] == [(8, 2, 4), (2, 4)] * 3 + [(2, 4, 8), (8,)]
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.tensor(np.concatenate([w[i].reshape(8, 8).T for i in (0, 2, 4)])))
        ref.in_proj_bias.copy_(torch.tensor(np.concatenate([w[i].reshape(-1) for i in (1, 3, 5)])))
        ref.out_proj.weight.copy_(torch.tensor(w[6].reshape(8, 8).T))
        ref.out_proj.bias.copy_(torch.tensor(w[7]))
    expected, weights = ref(torch.tensor(q), torch.tensor(v), torch.tensor(v), average_attn_weights=False)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(scores.detach().numpy(), weights.detach().numpy(), atol=1e-6)
    causal = mha(q, q, use_causal_mask=True, return_attention_scores=True)[1].detach().numpy()
    assert np.allclose(np.triu(causal[0, 0], 1), 0) and np.allclose(causal.sum(-1), 1)


def test_normalization_layers_match_their_equations():
    rng = _rng()
    x = rng.standard_normal((6, 4, 3)).astype("float32")
    ln = keras.layers.LayerNormalization()
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(ln(x).detach().numpy(), (x - mean) / np.sqrt(var + 1e-3), atol=1e-5)
    bn = keras.layers.BatchNormalization(momentum=0.9)
    y = bn(x, training=True).detach().numpy()
    mu, sigma2 = x.mean((0, 1)), x.var((0, 1))
    np.testing.assert_allclose(y, (x - mu) / np.sqrt(sigma2 + 1e-3), atol=1e-5)
    np.testing.assert_allclose(bn.get_weights()[2], 0.1 * mu, atol=1e-6)  # moving_mean after one step
    np.testing.assert_allclose(bn(x).detach().numpy(),  # inference uses the moving statistics
                               (x - bn.get_weights()[2]) / np.sqrt(bn.get_weights()[3] + 1e-3), atol=1e-5)


def test_masking_skips_padded_steps():
    padded = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    for middle in (keras.layers.LSTM(3), keras.layers.GRU(3), keras.layers.GlobalAveragePooling1D(),
                   keras.layers.Transformer(num_heads=2, feed_forward_dim=8)):
        model = keras.Sequential([keras.layers.Embedding(20, 4, mask_zero=True), middle])
        np.testing.assert_allclose(model.predict(padded, verbose=0)[0], model.predict(padded[:1, :3], verbose=0)[0],
                                   atol=1e-5)


def test_dropout_only_in_training_and_model_device(device):
    rng = _rng()
    x = rng.standard_normal((64, 10)).astype("float32")
    model = keras.Sequential([keras.layers.Dropout(0.5, input_shape=(10,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", device=device)
    assert str(model.device).startswith(device)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    out = model(x, training=True)
    assert str(out.device).startswith(device)
    model.fit(x, np.zeros((64, 2), "float32"), epochs=1, verbose=0)
    assert all(str(w.device).startswith(device) for w in model.weights)


# ---- clear errors ------------------------------------------------------------------------------
def test_errors_are_clear():
    x, y = _tiny_data()
    model = keras.Sequential([keras.layers.Dense(2, activation="softmax", input_shape=(3,))])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with pytest.raises(ValueError, match=r"expected shape=\(None, 3\), found shape=\(16, 4\)"):
        model.fit(np.zeros((16, 4), "float32"), y)
    with pytest.raises(ValueError, match="x sizes: 16, y sizes: 10"):
        model.fit(x, y[:10])
    with pytest.raises(ValueError, match="one-hot.*categorical_crossentropy"):
        model.fit(x, np.eye(2)[y])
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        model.fit(x, y + 3)
    cat = keras.Sequential([keras.layers.Dense(2, activation="softmax", input_shape=(3,))])
    cat.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        cat.fit(x, y)
    with pytest.raises(ValueError, match="Unknown optimizer 'adamm'. Valid names: .*adam"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="Unknown loss 'msee'. Valid names: .*mse"):
        model.compile(optimizer="adam", loss="msee")
    with pytest.raises(ValueError, match="Unknown metric 'acuracy'. Valid names: .*accuracy"):
        model.compile(optimizer="adam", loss="mse", metrics=["acuracy"])
    with pytest.raises(ValueError, match="Unknown activation 'relux'. Valid names: .*relu"):
        keras.layers.Dense(3, activation="relux")
    with pytest.raises(ValueError, match="Unknown initializer"):
        keras.layers.Dense(3, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        keras.layers.Conv2D(3, 3, padding="full")
    images = keras.Sequential([keras.layers.Conv2D(2, 3, input_shape=(8, 8, 1))])
    images.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match=r"expected shape=\(None, 8, 8, 1\), found shape=\(4, 8, 8\).*channel"):
        images.predict(np.zeros((4, 8, 8), "float32"))
    dense = keras.layers.Dense(4)
    dense(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match='layer "dense.*expected axis -1 of input shape to have value 5'):
        dense(np.zeros((2, 6), "float32"))
    with pytest.raises(ValueError, match="has not yet been built"):
        keras.Sequential([keras.layers.Dense(2)]).summary()
    with pytest.raises(TypeError, match="unexpected keyword"):
        keras.layers.Dense(3, units_out=4)
    with pytest.raises(ValueError, match="width"):
        keras.layers.Transformer(num_heads=3, feed_forward_dim=8)(np.zeros((1, 8), "float32"))


def test_utils_and_metrics_by_name():
    np.testing.assert_array_equal(keras.utils.to_categorical([0, 2], 3), [[1, 0, 0], [0, 0, 1]])
    assert isinstance(keras.metrics.get("accuracy", keras.losses.get("binary_crossentropy")),
                      keras.metrics.BinaryAccuracy)
    assert isinstance(keras.metrics.get("accuracy", keras.losses.get("categorical_crossentropy")),
                      keras.metrics.CategoricalAccuracy)
    opt = keras.optimizers.get("adam")
    assert (opt.learning_rate, opt.hyper["epsilon"]) == (0.001, 1e-7)
    assert keras.optimizers.get("sgd").learning_rate == 0.01
    assert keras.optimizers.get("adamw").weight_decay == 0.004
    assert keras.optimizers.get("rmsprop").hyper["rho"] == 0.9


def test_trainable_false_freezes_a_layer():
    x, y = _tiny_data()
    frozen = keras.layers.Dense(4, activation="relu")
    model = keras.Sequential([keras.layers.Input(shape=(3,)), frozen, keras.layers.Dense(2, activation="softmax")])
    frozen.trainable = False
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    before = frozen.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert "Non-trainable params: 16" in _summary_text(model)


def test_default_recurrent_configuration_runs_fused():
    layer = seed_lstm().layers[1]
    assert layer._runs_as_layer(None, True)
    assert not keras.layers.LSTM(4, recurrent_dropout=0.1)._runs_as_layer(None, True)
    assert keras.utils.pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist() == [[2, 3], [0, 4]]
