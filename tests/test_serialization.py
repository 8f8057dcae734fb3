"""minidl.save / minidl.load and Module.save / Module.load as hostile-input readers: names kept in
order (more than 10,000 arrays), limits checked before allocating (an archive that expands to far
more than it holds, a header claiming a huge shape, the MINIDL_MAX_LOAD_BYTES override), no
pickles or structured arrays, headers that disagree with the data, and values that the target
dtype cannot hold (an error, where PyTorch's load_state_dict would store inf or a wrapped integer)."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib import format as npy_format

import minidl
from minidl import nn
from minidl.serialization import FileFormatError, cast_exactly, read_npz


def _npy_bytes(array):
    buf = io.BytesIO()
    npy_format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def _npy_header(shape, dtype="<f8"):
    """A .npy header that claims ``shape``, whatever follows it."""
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


class Many(nn.Module):
    def __init__(self, n):
        super().__init__()
        for i in range(n):
            setattr(self, f"p{i}", nn.Parameter(minidl.tensor([float(i), -float(i)])))


def test_more_than_ten_thousand_arrays_round_trip_by_name(tmp_path):
    net = Many(10_050)  # past w9999 -> w10000, where sorted names and saved order part ways
    path = tmp_path / "many.npz"
    net.save(path)
    other = Many(10_050)
    for p in other.parameters():
        p.array[:] = 0
    other.load(path)
    for (name, a), (_, b) in zip(net.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    loaded = minidl.load(path)
    assert list(loaded) == list(net.state_dict()) and float(loaded["p10049"][0].item()) == 10049.0


def test_keys_are_matched_by_name_not_position(tmp_path):
    path = tmp_path / "shuffled.npz"
    state = nn.Linear(3, 2).state_dict()
    minidl.save({"bias": state["bias"], "weight": state["weight"]}, path)  # the other order
    fresh = nn.Linear(3, 2)
    fresh.load(path)
    np.testing.assert_array_equal(fresh.weight.detach().numpy(), state["weight"].numpy())
    np.testing.assert_array_equal(fresh.bias.detach().numpy(), state["bias"].numpy())


def test_an_archive_that_expands_past_the_limit_fails_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("x.npy", "w", force_zip64=True) as f:
            f.write(_npy_header((8 << 20,)))
            for _ in range(64):
                f.write(bytes(1 << 20))  # 64 MiB of zeros: a few kilobytes once deflated
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match=r"bomb.npz: .*over the limit of 1,048,576 bytes"):
            minidl.load(path, max_bytes=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_a_header_claiming_a_huge_shape_fails_before_allocating(tmp_path):
    path = tmp_path / "huge.npz"
    _zip(path, {"x.npy": _npy_header((999999, 999999))})
    with pytest.raises(FileFormatError, match=r"huge.npz: member 'x.npy' of shape \(999999, 999999\)"):
        minidl.load(path)
    # within the limit, but more than the member holds
    _zip(path, {"x.npy": _npy_header((99,)) + bytes(80)})
    with pytest.raises(FileFormatError, match=r"declares shape \(99,\) .* but holds 80 bytes"):
        minidl.load(path)


def test_the_limit_comes_from_the_keyword_or_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    minidl.save({"w": np.zeros(1000)}, path)  # 8000 bytes
    monkeypatch.setenv("MINIDL_MAX_LOAD_BYTES", "4000")
    with pytest.raises(FileFormatError, match="MINIDL_MAX_LOAD_BYTES"):
        minidl.load(path)
    assert minidl.load(path, max_bytes=10_000)["w"].shape == (1000,)
    monkeypatch.setenv("MINIDL_MAX_LOAD_BYTES", "lots")
    with pytest.raises(ValueError, match="MINIDL_MAX_LOAD_BYTES"):
        minidl.load(path)


def test_pickles_structured_and_foreign_members_are_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(FileFormatError, match="obj.npz: .*only numeric arrays"):
        minidl.load(path)
    np.savez(path, x=np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]))
    with pytest.raises(FileFormatError, match="only numeric"):
        minidl.load(path)
    _zip(path, {"notes.txt": b"hello"})
    with pytest.raises(FileFormatError, match="not a .npy array"):
        minidl.load(path)
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(FileFormatError, match="single.npy: not a readable .npz"):
        minidl.load(tmp_path / "single.npy")
    with pytest.raises(FileNotFoundError):
        minidl.load(tmp_path / "missing.npz")


def test_files_from_numpy_and_older_minidl_load(tmp_path):
    path = tmp_path / "np.npz"
    fortran = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    big_endian = np.arange(5, dtype=">i4")
    np.savez(path, b=big_endian, a=fortran)
    out = read_npz(path)
    assert list(out) == ["b", "a"] and out["b"].dtype == np.dtype("i4")
    np.testing.assert_array_equal(out["a"], fortran)
    np.testing.assert_array_equal(out["b"], big_endian)
    older = tmp_path / "older.npz"  # the order list of earlier versions, with its placeholder for empty
    np.savez(older, z=np.ones(2), a=np.zeros(1), __minidl_order__=np.array(["z", "a"]))
    assert list(minidl.load(older)) == ["z", "a"]
    np.savez(older, __minidl_order__=np.array([""]))
    assert list(minidl.load(older)) == []
    np.savez(older, a=np.zeros(1), __minidl_order__=np.array(["a", "b"]))
    with pytest.raises(FileFormatError, match="order of names does not match"):
        minidl.load(older)


def test_save_refuses_keys_and_values_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match="keys"):
        minidl.save({"": np.zeros(1)}, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="keys"):
        minidl.save({"__minidl_order__": np.zeros(1)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="not a tensor dtype"):
        minidl.save({"s": np.array(["a"])}, tmp_path / "x.npz")
    minidl.save({"file": np.zeros(1), "allow_pickle": np.ones(1)}, tmp_path / "x.npz")  # numpy.savez's own names
    assert list(minidl.load(tmp_path / "x.npz")) == ["file", "allow_pickle"]


# ---- values that do not fit the target dtype --------------------------------------------------------
def test_load_state_dict_refuses_values_the_parameter_cannot_hold(tmp_path):
    lin = nn.Linear(2, 1)
    before = lin.weight.detach().numpy().copy()
    state = {"weight": np.array([[1.0, 1e300]]), "bias": np.zeros(1)}
    with pytest.raises(ValueError, match=r"'weight'.*1e\+300.*float32"):
        lin.load_state_dict(state)
    np.testing.assert_array_equal(lin.weight.detach().numpy(), before)  # nothing was assigned
    path = tmp_path / "big.npz"
    minidl.save({"weight": np.array([[1.0, 1e300]]), "bias": np.zeros(1)}, path)
    with pytest.raises(ValueError, match="cannot be represented as float32"):
        lin.load(path)
    half = nn.Linear(2, 1).to(dtype="float16")
    with pytest.raises(ValueError, match="float16"):
        half.load_state_dict({"weight": np.array([[70000.0, 1.0]], dtype=np.float32), "bias": np.zeros(1)})
    # finite values that round, and NaN or inf that stay what they are, are fine
    lin.load_state_dict({"weight": np.array([[0.1, np.inf]]), "bias": np.array([np.nan])})
    assert lin.weight.detach().numpy()[0, 1] == np.inf and np.isnan(lin.bias.detach().numpy()[0])


@pytest.mark.parametrize("value, dtype", [(0.5, "int64"), (np.nan, "int32"), (300, "uint8"), (-1, "uint8"),
                                          (2.0**63, "int64"), (1 + 2j, "float32"), (2, "bool"), (1e39, "complex64")])
def test_cast_exactly_refuses(value, dtype):
    with pytest.raises(ValueError, match=f"represented as {dtype}"):
        cast_exactly(np.array([1, value]), dtype, "test")


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=20))
def test_cast_exactly_to_float32_fails_exactly_when_a_value_would_overflow(values):
    x = np.array(values, dtype=np.float64)
    limit = float(np.finfo(np.float32).max)
    if np.abs(x).max() <= limit:
        np.testing.assert_array_equal(cast_exactly(x, np.float32), x.astype(np.float32))
    elif np.abs(x).max() > 2 * limit:  # beyond where rounding could bring it back to the largest float32
        with pytest.raises(ValueError, match="float32"):
            cast_exactly(x, np.float32)


@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=20),
       st.sampled_from(["int8", "uint8", "int16", "int32", "uint32"]))
def test_cast_exactly_between_integers_fails_exactly_out_of_range(values, dtype):
    x = np.array(values, dtype=np.int64)
    info = np.iinfo(dtype)
    if info.min <= x.min() and x.max() <= info.max:
        np.testing.assert_array_equal(cast_exactly(x, dtype), x)
    else:
        with pytest.raises(ValueError, match=dtype):
            cast_exactly(x, dtype)


def test_a_language_model_run_claiming_enormous_sizes_fails_before_building(tmp_path):
    import json

    from minidl.language_model import load_run, save_run
    from minidl.nn.gpt import GPT, GPTConfig
    from minidl.tokenizers import CharTokenizer

    tok = CharTokenizer.train("abcdefgh")
    save_run(tmp_path / "run", GPT(GPTConfig(vocab_size=8, block_size=8, n_layer=1, n_head=2, n_embd=8)), tok)
    assert load_run(tmp_path / "run")[0].config.n_embd == 8
    config = tmp_path / "run" / "config.json"
    document = json.loads(config.read_text())
    document["model"].update(n_embd=2**16, n_head=2, n_layer=64)  # 3.3e12 weights
    config.write_text(json.dumps(document))
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match=r"config.json: the model sizes .* need at least"):
            load_run(tmp_path / "run")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    config.write_text("[" * 100_000)
    with pytest.raises(FileFormatError, match="config.json: .*nested too deeply"):
        load_run(tmp_path / "run")
