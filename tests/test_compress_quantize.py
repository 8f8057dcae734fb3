"""minidl.compress.quantize: exact integer arithmetic (int8 in, int32 sums), the error against the
float model within its bound, static calibration, no gradient, int8 files ~4x smaller, and
PyTorch's dynamic quantization as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import nn
from minidl.compress import prune
from minidl.compress import quantize as Q


def _int8(rng, shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6), k=st.integers(1, 300), m=st.integers(1, 6),
       zero_point=st.integers(-128, 127))
def test_int8_matmul_is_the_exact_integer_product(seed, n, k, m, zero_point):
    rng = np.random.default_rng(seed)
    a, b = _int8(rng, (n, k)), _int8(rng, (k, m))
    a[0, :] = -128  # the extreme values: (−128 − 127) · (−128) summed k times
    b[:, 0] = -128
    got = Q.int8_matmul(a, b, zero_point)
    assert got.dtype == np.int32
    exact = [[sum((int(a[i, t]) - zero_point) * int(b[t, j]) for t in range(k)) for j in range(m)] for i in range(n)]
    np.testing.assert_array_equal(got, np.array(exact, dtype=np.int64))


def test_int8_matmul_refuses_other_dtypes_and_shapes():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="int8_matmul: expected int8"):
        Q.int8_matmul(rng.standard_normal((2, 3)), _int8(rng, (3, 2)))
    with pytest.raises(ValueError, match=r"int8_matmul: shapes \(2, 3\) and \(4, 2\)"):
        Q.int8_matmul(_int8(rng, (2, 3)), _int8(rng, (4, 2)))


@pytest.mark.parametrize("stride, padding, dilation, groups", [
    ((1, 1), (0, 0), (1, 1), 1), ((2, 1), (1, 2), (1, 1), 1), ((1, 1), "same", (2, 1), 1), ((2, 2), (1, 1), (1, 1), 2),
])
def test_int8_conv2d_is_the_exact_integer_convolution(stride, padding, dilation, groups):
    rng = np.random.default_rng(1)
    qx, qw, z = _int8(rng, (2, 4, 7, 6)), _int8(rng, (6, 4 // groups, 3, 2)), -7
    got = Q.int8_conv2d(qx, z, qw, stride, padding, dilation, groups)
    assert got.dtype == np.int32
    # float64 holds these integer sums exactly: the reference convolution on the same integers
    x64 = minidl.tensor(qx.astype(np.float64) - z)
    w64 = minidl.tensor(qw.astype(np.float64))
    want = minidl.functional.conv2d(x64, w64, None, stride, padding, dilation, groups).numpy()
    np.testing.assert_array_equal(got, want.astype(np.int64))


def test_per_channel_weights_round_to_the_nearest_step_and_keep_zeros():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 9)).astype(np.float32) * np.arange(1, 6, dtype=np.float32)[:, None]
    w[1, 3] = 0.0
    w[4] = 0.0  # an all-zero channel
    q, s = Q.quantize_per_channel(w)
    assert q.dtype == np.int8 and s.shape == (5,)
    np.testing.assert_array_equal(np.abs(q[:4]).max(axis=1), 127)  # the largest |w| of each channel is ±127
    assert q[1, 3] == 0 and np.all(q[4] == 0)
    assert np.all(np.abs(q * s[:, None] - w) <= s[:, None] / 2 * (1 + 1e-6))


def _model(rng):
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 6), nn.ReLU(),
                          nn.Linear(6, 3))
    return model


def test_linear_error_is_within_the_rounding_bound():
    rng = np.random.default_rng(3)
    lin = nn.Linear(40, 7)
    x = rng.standard_normal((16, 40)).astype(np.float32) * 3
    q = Q.quantize_dynamic(lin)
    assert isinstance(q, Q.QuantizedLinear) and isinstance(lin, nn.Linear)
    with minidl.no_grad():
        got, want = q(minidl.tensor(x)).numpy(), lin(minidl.tensor(x)).numpy()
    s_x, _ = Q.activation_qparams(x.min(), x.max())
    s_w, W = q.weight_scale.numpy(), lin.weight.detach().numpy()
    # |x̂ŵ − xw| ≤ |e_x||w| + |x||e_w| + |e_x||e_w|, with |e_x| ≤ s_x/2 and |e_w| ≤ s_w/2, summed over k
    bound = (s_x / 2 * np.abs(W).sum(1) + s_w / 2 * np.abs(x).sum(1, keepdims=True) + 40 * s_x * s_w / 4)
    assert np.all(np.abs(got - want) <= bound * 1.001 + 1e-6)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


def test_quantized_model_tracks_the_float_model_and_has_no_gradient():
    rng = np.random.default_rng(4)
    model = _model(rng)
    q = Q.quantize_dynamic(model)
    assert [type(m).__name__ for _, m in Q.quantized_layers(q)] == ["QuantizedConv2d", "QuantizedLinear",
                                                                    "QuantizedLinear"]
    assert isinstance(model[0], nn.Conv2d)  # the original is left as it was
    x = minidl.tensor(rng.standard_normal((8, 2, 5, 5)).astype(np.float32))
    with minidl.no_grad():
        got, want = q(x).numpy(), model(x).numpy()
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    out = q(minidl.tensor(x.numpy(), requires_grad=True))
    with pytest.raises(RuntimeError, match="QuantizedLinear: an int8 layer is for inference only"):
        out.sum().backward()
    with pytest.raises(ValueError, match=r"QuantizedLinear: input of shape \(2, 5\) does not fit 6"):
        q[5](minidl.zeros(2, 5))


def test_pruned_zeros_stay_zeros_in_int8():
    rng = np.random.default_rng(5)
    model = _model(rng)
    prune.l1_unstructured(model[3], "weight", 0.8)
    q = Q.quantize_dynamic(model)
    mask = model[3].weight_mask.numpy()
    np.testing.assert_array_equal(q[3].weight_int8.numpy() == 0, mask == 0)


def test_calibration_fixes_the_activation_scales():
    rng = np.random.default_rng(6)
    model = _model(rng)
    batches = [rng.standard_normal((4, 2, 5, 5)).astype(np.float32) for _ in range(3)]
    q = Q.quantize_static(model, batches)
    lo = min(b.min() for b in batches)
    hi = max(b.max() for b in batches)
    s, z = Q.activation_qparams(lo, hi)
    assert q[0].static and float(q[0].input_scale.numpy()) == pytest.approx(s) and int(q[0].input_zero_point) == z
    assert {"0.input_scale", "0.input_zero_point", "5.input_scale"} <= set(q.state_dict())
    x = minidl.tensor(batches[0] * 0.5)  # inside the calibrated range: still close to the float model
    with minidl.no_grad():
        assert np.abs(q(x).numpy() - model(x).numpy()).max() < 0.05 * np.abs(model(x).numpy()).max()
    with pytest.raises(ValueError, match="no int8 layers"):
        Q.calibrate(model, batches)
    with pytest.raises(ValueError, match="no batches"):
        Q.calibrate(Q.quantize_dynamic(model), [])


@pytest.mark.parametrize("fmt", ["safetensors", "npz"])
def test_int8_model_saves_four_times_smaller_and_loads_back(tmp_path, fmt):
    rng = np.random.default_rng(7)
    model = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 64))
    q = Q.quantize_static(model, [rng.standard_normal((8, 128)).astype(np.float32)])
    fp, qp = tmp_path / f"float.{fmt}", tmp_path / f"int8.{fmt}"
    if fmt == "safetensors":
        model.save_safetensors(fp)
        q.save_safetensors(qp)
    else:
        model.save(fp)
        q.save(qp)
    ratio = qp.stat().st_size / fp.stat().st_size
    assert 0.2 < ratio < 0.3, ratio
    fresh = Q.quantize_dynamic(nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 64)))
    if fmt == "safetensors":
        fresh.load_safetensors(qp)
    else:
        fresh.load(qp)
    assert fresh[0].weight_int8.dtype == minidl.int8 and fresh[0].static
    x = minidl.tensor(rng.standard_normal((3, 128)).astype(np.float32))
    with minidl.no_grad():
        np.testing.assert_array_equal(fresh(x).numpy(), q(x).numpy())


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # torch.ao's deprecation notes
def test_outputs_agree_with_torch_dynamic_quantization():
    torch = pytest.importorskip("torch")
    tq = pytest.importorskip("torch.ao.quantization")
    rng = np.random.default_rng(8)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
    tmodel = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    tquant = tq.quantize_dynamic(tmodel, {torch.nn.Linear: tq.per_channel_dynamic_qconfig})
    q = Q.quantize_dynamic(model, {nn.Linear})
    x = rng.standard_normal((200, 32)).astype(np.float32)
    with minidl.no_grad(), torch.no_grad():
        ours, theirs = q(minidl.tensor(x)).numpy(), tquant(torch.tensor(x)).numpy()
        exact = model(minidl.tensor(x)).numpy()
    err_ours, err_torch = np.abs(ours - exact).max(), np.abs(theirs - exact).max()
    assert err_ours < 2 * err_torch + 1e-4  # as accurate as PyTorch's int8 (which uses 7-bit activations here)
    assert np.abs(ours - theirs).max() < 0.05 * np.abs(exact).max()
    assert (ours.argmax(1) == exact.argmax(1)).mean() > 0.95


def test_a_transformer_layer_keeps_its_attention_out_proj_float():
    rng = np.random.default_rng(9)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True).eval()
    q = Q.quantize_dynamic(layer)
    assert isinstance(q.linear1, Q.QuantizedLinear) and isinstance(q.self_attn.out_proj, nn.Linear)
    x = minidl.tensor(rng.standard_normal((2, 5, 16)).astype(np.float32))
    with minidl.no_grad():
        got, want = q(x).numpy(), layer(x).numpy()
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
