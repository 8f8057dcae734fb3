"""Keras files as hostile input: more than 10,000 weights keep their order (w9999 < w10000 as
numbers), a config that declares enormous layers or inputs fails before anything big is
allocated, only registered layer classes and custom_objects are instantiated, a weight value the
model's dtype cannot hold is an error, and malformed configs give FileFormatError naming the file."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

from minidl import keras
from minidl.keras import saving
from minidl.serialization import FileFormatError


class ManyWeights(keras.layers.Layer):
    """A layer with ``n`` weights of shape (2,), so a model can have more than 10,000 of them."""

    def __init__(self, n=3, **kwargs):
        super().__init__(**kwargs)
        self.n = n

    def build(self, input_shape):
        self.ws = [self.add_weight(name=f"v{i}", shape=(2,), initializer="zeros") for i in range(self.n)]
        super().build(input_shape)

    def call(self, x):
        return x + self.ws[-1]

    def get_config(self):
        return {**super().get_config(), "n": self.n}


def _small_model():
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def _rewrite_config(path, out, edit):
    """Copy the .keras archive at ``path`` to ``out`` with its config.json changed by ``edit``."""
    with zipfile.ZipFile(path) as z:
        document = json.loads(z.read("config.json"))
        weights = z.read("model.weights.npz")
    edit(document)
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("config.json", json.dumps(document))
        z.writestr("model.weights.npz", weights)


def test_more_than_ten_thousand_weights_round_trip_in_order(tmp_path):
    model = keras.Sequential([keras.Input(shape=(2,)), ManyWeights(10_050)])
    values = [np.full(2, i, dtype=np.float32) for i in range(10_050)]
    model.set_weights(values)
    model.save(tmp_path / "many.keras")
    model.save_weights(tmp_path / "many.weights.npz")
    restored = keras.models.load_model(tmp_path / "many.keras", custom_objects={"ManyWeights": ManyWeights})
    for i, w in enumerate(restored.get_weights()):
        assert w[0] == i, f"weight {i} came back as {w[0]}"
    twin = keras.Sequential([keras.Input(shape=(2,)), ManyWeights(10_050)])
    twin.load_weights(tmp_path / "many.weights.npz")
    assert [int(w[0]) for w in twin.get_weights()] == list(range(10_050))


def test_a_config_declaring_enormous_layers_fails_before_allocating(tmp_path):
    path = tmp_path / "small.keras"
    _small_model().save(path)

    def enormous(document):
        document["model"]["config"]["layers"][1]["config"]["units"] = 10**9

    _rewrite_config(path, tmp_path / "huge.keras", enormous)
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match=r"huge.keras: the config declares more weights .*kernel"):
            keras.models.load_model(tmp_path / "huge.keras")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20

    # a layer without compute_output_shape finds its output shape by a dry run on zeros of its input
    keras.Sequential([keras.Input(shape=(2,)), ManyWeights(1)]).save(tmp_path / "wide.keras")

    def huge_input(document):  # no weight grows, but the dry run's zeros would take 16 TB
        document["model"]["config"]["build_input_shape"] = [None, 10**6, 10**6, 2]

    _rewrite_config(tmp_path / "wide.keras", tmp_path / "wide.keras", huge_input)
    with pytest.raises(FileFormatError, match=r"wide.keras: layer .* dry run on \(1, 1000000, 1000000, 2\)"):
        keras.models.load_model(tmp_path / "wide.keras", custom_objects={"ManyWeights": ManyWeights})


def test_model_json_is_checked_the_same_way(tmp_path):
    model = _small_model()
    text = json.dumps({"class_name": "Sequential", "config": model.get_config()})
    (tmp_path / "model.json").write_text(text)
    rebuilt = saving.load_model_config(tmp_path / "model.json")
    assert rebuilt.count_params() == model.count_params()
    big = json.loads(text)
    big["config"]["layers"][1]["config"]["units"] = 10**6
    with pytest.raises(FileFormatError, match="<json>: the config declares more weights"):
        saving.model_from_json(json.dumps(big), max_bytes=1 << 20)
    for bad in ("[1, 2]", '{"class_name": 3, "config": {}}', '{"class_name": "Sequential", "config": {}}',
                "[" * 100_000, '{"class_name": "Sequential"'):
        with pytest.raises(FileFormatError, match="<json>"):
            saving.model_from_json(bad)


def test_only_registered_layers_and_custom_objects_are_built(tmp_path):
    path = tmp_path / "small.keras"
    _small_model().save(path)

    def foreign(document):
        document["model"]["config"]["layers"][1]["class_name"] = "os.system"

    _rewrite_config(path, tmp_path / "foreign.keras", foreign)
    with pytest.raises(FileFormatError, match="Unknown layer class 'os.system'"):
        keras.models.load_model(tmp_path / "foreign.keras")
    with pytest.raises(FileFormatError, match="not a layer class"):
        keras.models.load_model(tmp_path / "foreign.keras", custom_objects={"os.system": print})
    model = keras.Sequential([keras.Input(shape=(2,)), ManyWeights(2, name="mine")])
    model.save(tmp_path / "custom.keras")
    restored = keras.models.load_model(tmp_path / "custom.keras", custom_objects={"ManyWeights": ManyWeights})
    assert restored.layers[-1].n == 2


def test_weights_that_do_not_fit_the_dtype_are_refused(tmp_path):
    model = _small_model()
    arrays = saving._weight_arrays(saving.weight_entries(model))
    arrays["w0000"] = np.full(arrays["w0000"].shape, 1e300)  # float64, far beyond float32
    buf = io.BytesIO()
    saving.write_npz(buf, arrays)
    (tmp_path / "big.weights.npz").write_bytes(buf.getvalue())
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"big.weights.npz: weight .*kernel.*1e\+300.*float32"):
        model.load_weights(tmp_path / "big.weights.npz")
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_malformed_documents_name_the_file(tmp_path):
    path = tmp_path / "small.keras"
    _small_model().save(path)
    edits = {
        "format": lambda d: d.update(format="keras/3"),
        "model": lambda d: d.update(model=[1, 2]),
        "layers": lambda d: d["model"]["config"].update(layers=7),
        "units": lambda d: d["model"]["config"]["layers"][1]["config"].update(units="many"),
        "kwargs": lambda d: d["model"]["config"]["layers"][1]["config"].update(colour="red"),
        "compile": lambda d: d.update(compile_config={"optimizer": 5}),
    }
    for what, edit in edits.items():
        out = tmp_path / f"{what}.keras"
        _rewrite_config(path, out, edit)
        with pytest.raises(FileFormatError, match=f"{what}.keras: "):
            keras.models.load_model(out)
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(FileFormatError, match="does not hold"):
        keras.models.load_model(tmp_path / "empty.keras")
