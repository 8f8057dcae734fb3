"""The Keras layers, ops and saving helpers programs reach for: merging layers, Bidirectional,
Conv2DTranspose (against PyTorch), UpSampling2D, TextVectorization, keras.ops, to_json /
model_from_json / from_config, custom_object_scope, layers.serialize, plot_model."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import keras
from minidl.keras import layers, ops


def test_merging_layers_and_their_functions():
    a, b = keras.Input(shape=(3,)), keras.Input(shape=(2,))
    joined = layers.concatenate([a, b])
    assert joined.shape == (None, 5)
    summed = layers.add([layers.Dense(4)(a), layers.Dense(4)(b)])
    model = keras.Model([a, b], [joined, layers.average([summed, summed])])
    x1, x2 = np.ones((2, 3), "float32"), np.zeros((2, 2), "float32")
    out_joined, out_avg = model.predict([x1, x2], verbose=0)
    assert out_joined.tolist() == [[1, 1, 1, 0, 0]] * 2 and out_avg.shape == (2, 4)
    with pytest.raises(ValueError, match="shapes"):
        layers.Add()([keras.Input(shape=(3,)), keras.Input(shape=(4,))])


def test_bidirectional_runs_both_directions_in_time_order():
    lstm = layers.LSTM(3, return_sequences=True)
    bi = layers.Bidirectional(lstm)
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    y = bi(x).numpy()
    assert y.shape == (2, 5, 6)
    np.testing.assert_allclose(y[..., :3], bi.forward_layer(x).numpy(), rtol=1e-6)
    backward_alone = bi.backward_layer(x).numpy()  # read from the end: reversed into time order by Bidirectional
    np.testing.assert_allclose(y[..., 3:], backward_alone[:, ::-1], rtol=1e-6)
    assert [w.path.split("/")[1] for w in bi.weights][::3] == ["forward_lstm", "backward_lstm"] or len(bi.weights) == 6
    rebuilt = layers.deserialize(layers.serialize(bi))
    assert rebuilt.merge_mode == "concat" and rebuilt.backward_layer.go_backwards


@pytest.mark.parametrize("kernel, stride, padding", [(3, 2, "valid"), (3, 2, "same"), (4, 2, "same"), (2, 3, "same")])
def test_conv2d_transpose_matches_torch(kernel, stride, padding):
    torch = pytest.importorskip("torch")
    layer = layers.Conv2DTranspose(3, kernel, strides=stride, padding=padding)
    x = np.random.default_rng(1).normal(size=(2, 4, 5, 2)).astype("float32")
    y = layer(x).numpy()
    w = torch.tensor(layer.kernel.numpy()).permute(3, 2, 0, 1)  # (KH, KW, out, in) -> (in, out, KH, KW)
    full = torch.nn.functional.conv_transpose2d(torch.tensor(x).permute(0, 3, 1, 2), w, stride=stride)
    full = full.permute(0, 2, 3, 1).numpy()
    if padding == "same":
        extra = kernel - stride
        top = max(extra, 0) // 2
        full = full[:, top:top + 4 * stride, top:top + 5 * stride] if extra >= 0 else \
            np.pad(full, ((0, 0), (0, -extra), (0, -extra), (0, 0)))
    np.testing.assert_allclose(y, full, atol=1e-5)
    assert y.shape[1:] == layer.compute_output_shape((None, 4, 5, 2))[1:]


def test_conv2d_transpose_gradients_check():
    layer = layers.Conv2DTranspose(2, 3, strides=2, padding="same", dtype="float64")
    x = minidl.randn(1, 3, 3, 2, dtype=minidl.float64, requires_grad=True)
    layer(x)
    minidl.gradcheck(lambda x, k: layers.Conv2DTranspose.call(_with_kernel(layer, k), x), (x, layer.kernel))


def _with_kernel(layer, kernel):
    layer._parameters["kernel"] = kernel
    return layer


def test_upsampling_and_zero_padding():
    x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    assert layers.UpSampling2D()(x).numpy()[0, :, :, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3],
                                                                        [2, 2, 3, 3]]
    assert layers.ZeroPadding2D(1)(x).shape == (1, 4, 4, 1)


def test_text_vectorization_like_keras():
    vec = layers.TextVectorization(max_tokens=5, output_sequence_length=4)
    vec.adapt(["the cat sat", "the cat ran!", "The dog"])
    assert vec.get_vocabulary() == ["", "[UNK]", "the", "cat", "sat"]
    assert vec(["The cat flew away quickly"]).numpy().tolist() == [[2, 3, 1, 1]]
    counts = layers.TextVectorization(output_mode="count", vocabulary=["a", "b"])(["a a b c"]).numpy()
    assert counts.tolist() == [[0, 1, 2, 1]]


def test_ops_follow_numpy_and_keep_gradients():
    x = minidl.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    assert ops.mean(ops.square(x), axis=-1).numpy().tolist() == [2.5, 12.5]
    np.testing.assert_allclose(ops.softmax(x).numpy().sum(-1), [1, 1], rtol=1e-6)
    assert ops.einsum("ij,jk->ik", x, x).numpy().tolist() == (x.array @ x.array).tolist()
    assert ops.cumsum(x, axis=1).numpy().tolist() == [[1, -1], [3, 7]]
    values, indices = ops.top_k(x, 1)
    assert values.numpy().tolist() == [[1], [4]] and indices.numpy().tolist() == [[0], [1]]
    assert ops.shape(keras.Input(shape=(3,))) == (None, 3) and ops.arange(3).numpy().dtype == np.int32
    (g,) = minidl.grad(ops.sum(ops.take(x, np.array([1, 1]), axis=0)), [x])
    assert g.numpy().tolist() == [[0, 0], [2, 2]]
    minidl.gradcheck(lambda t: ops.einsum("bij,bkj->bik", t, t), (minidl.randn(2, 3, 2, dtype=minidl.float64,
                                                                                  requires_grad=True),))


class Scale(layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_json_round_trip_with_a_custom_object_scope(tmp_path):
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, layers.Dense(2)(Scale(3.0)(inputs)))
    text = model.to_json()
    class OtherScale(Scale):
        pass

    with keras.utils.custom_object_scope({"Scale": OtherScale}):  # a scope's classes come first
        rebuilt = keras.models.model_from_json(text)
    assert [type(layer).__name__ for layer in rebuilt.layers] == ["InputLayer", "OtherScale", "Dense"]
    again = keras.Model.from_config(model.get_config())
    assert type(again.layers[1]) is Scale and again.layers[1].factor == 3.0
    x = np.ones((2, 3), "float32")
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))
    fig = keras.utils.plot_model(model, tmp_path / "model.png", show_shapes=True)
    assert (tmp_path / "model.png").stat().st_size > 0 and any("Scale" in n for n in fig.minidl_nodes)
