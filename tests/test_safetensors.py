"""The safetensors format: round trips, the safetensors package and PyTorch as oracles both ways,
hostile headers, byte corruption (hypothesis), sharded checkpoints and lazy (memory-mapped) loading."""

from __future__ import annotations

import json
import os
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minidl
from minidl import nn
from minidl._files import FileFormatError
from minidl.safetensors import (
    DTYPES,
    load_file,
    load_sharded,
    plan_shards,
    safe_open,
    save_file,
    save_sharded,
    serialize,
)


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for i, dtype in enumerate(DTYPES.values()):
        shape = (2, 3) if i % 2 else (4,)
        if dtype.kind == "f":
            out[f"t{i}"] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            out[f"t{i}"] = rng.integers(0, 2, shape).astype(bool)
        else:
            out[f"t{i}"] = rng.integers(-100 if dtype.kind == "i" else 0, 100, shape).astype(dtype)
    out["scalar"] = np.array(3.5, dtype=np.float32)
    out["empty"] = np.zeros((0, 5), dtype=np.float32)
    return out


def _same(loaded, arrays):
    assert list(loaded) == list(arrays)
    for name, a in arrays.items():
        b = loaded[name].numpy() if hasattr(loaded[name], "numpy") else np.asarray(loaded[name])
        assert b.dtype == a.dtype and b.shape == a.shape, name
        np.testing.assert_array_equal(b, a)


def test_round_trip_every_dtype(tmp_path):
    arrays = _arrays()
    save_file(arrays, tmp_path / "a.safetensors", metadata={"format": "np"})
    _same(load_file(tmp_path / "a.safetensors"), arrays)
    with safe_open(tmp_path / "a.safetensors") as f:
        assert f.metadata() == {"format": "np"}
        assert f.info("t1") == (DTYPES["F32"], (2, 3))


def test_layout_is_the_documented_one():
    data = serialize({"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0
    header = json.loads(data[8:8 + n])
    assert header == {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}
    assert data[8 + n:] == np.arange(6, dtype="<f4").tobytes()


def test_module_save_and_load_safetensors(tmp_path):
    minidl.manual_seed(0)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    a.save_safetensors(tmp_path / "m.safetensors")
    b.load_safetensors(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    np.testing.assert_array_equal(a.bias.detach().numpy(), b.bias.detach().numpy())


def test_unsupported_dtypes_are_refused(tmp_path):
    with pytest.raises(TypeError, match="complex64"):
        save_file({"c": np.zeros(2, np.complex64)}, tmp_path / "c.safetensors")
    assert not (tmp_path / "c.safetensors").exists()


# ---- oracles ---------------------------------------------------------------------------------------
def test_safetensors_package_reads_ours_and_we_read_its(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    arrays = _arrays(1)
    save_file(arrays, tmp_path / "ours.safetensors")
    _same(st_numpy.load_file(str(tmp_path / "ours.safetensors")), arrays)
    st_numpy.save_file(arrays, str(tmp_path / "theirs.safetensors"), metadata={"k": "v"})
    theirs = load_file(tmp_path / "theirs.safetensors")  # the package orders tensors its own way
    _same(theirs, {k: arrays[k] for k in theirs})
    assert safe_open(tmp_path / "theirs.safetensors").metadata() == {"k": "v"}


def test_torch_reads_ours_and_we_read_torch(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    arrays = _arrays(2)
    save_file(arrays, tmp_path / "ours.safetensors")
    loaded = st_torch.load_file(str(tmp_path / "ours.safetensors"))
    for name, a in arrays.items():
        np.testing.assert_array_equal(loaded[name].numpy(), a)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    st_torch.save_file(model.state_dict(), str(tmp_path / "torch.safetensors"))
    mine = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    mine.load_safetensors(tmp_path / "torch.safetensors")
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_allclose(mine(minidl.tensor(x)).detach().numpy(), model(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-6)


def test_bf16_is_refused_by_name(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    st_torch.save_file({"w": torch.ones(2, dtype=torch.bfloat16)}, str(tmp_path / "bf.safetensors"))
    with pytest.raises(FileFormatError, match=r"bf\.safetensors.*BF16"):
        load_file(tmp_path / "bf.safetensors")


# ---- hostile headers -------------------------------------------------------------------------------
def _file(tmp_path, header, data=b"", n=None):
    text = json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(text) if n is None else n) + text + data)
    return path


BAD_HEADERS = [
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4, "span"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8, "cover"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "gap"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "overlaps"),
    ({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, "dtype"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "shape"),
    ({"w": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, b"\0" * 4, "shape"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b"\0" * 4, "data_offsets"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}, b"\0" * 4, "exactly the keys"),
    ({"w": {"dtype": "F32", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 4]}}, b"\0" * 4, "span"),
    ({"__metadata__": {"a": 1}}, b"", "__metadata__"),
    ([1, 2], b"", "start with"),
]


@pytest.mark.parametrize("header,data,problem", BAD_HEADERS)
def test_bad_headers_name_the_file_and_the_problem(tmp_path, header, data, problem):
    path = _file(tmp_path, header, data)
    with pytest.raises(FileFormatError, match=problem) as info:
        load_file(path)
    assert info.value.path == str(path)


def test_header_length_is_bounded(tmp_path):
    path = _file(tmp_path, {}, n=2 ** 63)
    with pytest.raises(FileFormatError, match="header claims"):
        load_file(path)
    (tmp_path / "short").write_bytes(b"\1\0")
    with pytest.raises(FileFormatError, match="too short"):
        load_file(tmp_path / "short")


def test_duplicate_names_are_refused(tmp_path):
    entry = '{"dtype":"U8","shape":[1],"data_offsets":[0,1]}'
    text = ('{"w":' + entry + ',"w":' + entry + "}").encode()
    path = tmp_path / "dup.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0")
    with pytest.raises(FileFormatError, match="duplicate"):
        load_file(path)


def test_data_over_the_limit_is_refused_before_reading(tmp_path):
    save_file({"w": np.zeros(1000, np.float32)}, tmp_path / "w.safetensors")
    with pytest.raises(FileFormatError, match="limit"):
        load_file(tmp_path / "w.safetensors", max_bytes=100)


# ---- byte corruption -------------------------------------------------------------------------------
GOOD = serialize({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, -2], np.int16),
                  "c": np.array([True, False])}, metadata={"m": "x"})
DATA_START = 8 + struct.unpack("<Q", GOOD[:8])[0]

corruptions = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(GOOD) - 1), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, len(GOOD) - 1), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, len(GOOD)), st.integers(0, 255)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corruptions)
def test_corrupt_files_load_faithfully_or_fail_naming_the_file(tmp_path, corruption):
    kind, where, value = corruption
    data = bytearray(GOOD)
    if kind == "flip":
        data[where] ^= value
    elif kind == "truncate":
        del data[where:]
    else:
        data.insert(where, value)
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(bytes(data))
    try:
        loaded = load_file(path)
    except FileFormatError as exc:
        assert exc.path == str(path) and str(exc).startswith(str(path))
        return
    # what loads is exactly what the file says: the data section, byte for byte, in offset order
    n = struct.unpack("<Q", bytes(data[:8]))[0]
    assert b"".join(t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes() for t in loaded.values()) \
        == bytes(data[8 + n:])
    if kind == "flip" and where >= DATA_START:  # the header is intact, so names, dtypes and shapes are too
        original = load_file_bytes(GOOD, tmp_path)
        layout = [(k, v.shape, v.dtype) for k, v in loaded.items()]
        assert layout == [(k, v.shape, v.dtype) for k, v in original.items()]
    assert kind == "flip", f"{kind} at {where} was not noticed"


def load_file_bytes(data, tmp_path):
    path = tmp_path / "good.safetensors"
    path.write_bytes(data)
    return load_file(path)


# ---- sharding --------------------------------------------------------------------------------------
def test_plan_shards_respects_the_limit():
    assert plan_shards({"a": 4, "b": 4, "c": 4}, 8) == [["a", "b"], ["c"]]
    assert plan_shards({"a": 20, "b": 4}, 8) == [["a"], ["b"]]
    assert plan_shards({}, 8) == [[]]


def test_sharded_checkpoint_hub_convention(tmp_path):
    arrays = {f"layer{i}.weight": np.full((10, 10), i, np.float32) for i in range(5)}  # 400 bytes each
    paths = save_sharded(arrays, tmp_path, max_shard_size=900)
    names = sorted(os.path.basename(p) for p in paths)
    assert names == ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                     "model-00003-of-00003.safetensors", "model.safetensors.index.json"]
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == 2000
    assert index["weight_map"]["layer4.weight"] == "model-00003-of-00003.safetensors"
    for p in paths[:-1]:
        assert os.path.getsize(p) - 8 - struct.unpack("<Q", open(p, "rb").read(8))[0] <= 900
    _same(load_sharded(tmp_path), arrays)
    st_numpy = pytest.importorskip("safetensors.numpy")
    merged = {}
    for p in paths[:-1]:
        merged.update(st_numpy.load_file(p))
    _same({k: merged[k] for k in arrays}, arrays)


def test_single_shard_is_model_safetensors(tmp_path):
    paths = save_sharded({"w": np.ones(3, np.float32)}, tmp_path)
    assert [os.path.basename(p) for p in paths] == ["model.safetensors"]
    _same(load_sharded(tmp_path), {"w": np.ones(3, np.float32)})


def test_hostile_index(tmp_path):
    save_sharded({"a": np.ones(300), "b": np.ones(300)}, tmp_path, max_shard_size="3KB")
    index_path = tmp_path / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    for bad in ("../model-00001-of-00002.safetensors", "/etc/passwd", "x.bin"):
        index["weight_map"]["a"] = bad
        index_path.write_text(json.dumps(index))
        with pytest.raises(FileFormatError, match="not a .safetensors file name"):
            load_sharded(tmp_path)
    index["weight_map"] = {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors"}
    index_path.write_text(json.dumps(index))
    with pytest.raises(FileFormatError, match="00001-of-00002.*missing"):
        load_sharded(tmp_path)


def test_module_loads_a_sharded_folder(tmp_path):
    minidl.manual_seed(1)
    a = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    save_sharded(a.state_dict(), tmp_path, max_shard_size=300)
    assert (tmp_path / "model.safetensors.index.json").exists()
    b = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    b.load_safetensors(tmp_path)
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(v.numpy(), w.numpy(), err_msg=k)


# ---- lazy loading ----------------------------------------------------------------------------------
def test_opening_is_lazy(tmp_path):
    big = {f"w{i}": np.full((1024, 1024), i, np.float32) for i in range(8)}  # 32 MiB
    save_sharded(big, tmp_path, max_shard_size="10MiB")
    del big
    tracemalloc.start()
    try:
        with load_sharded(tmp_path, lazy=True) as ckpt:
            opened, _ = tracemalloc.get_traced_memory()
            _, peak_open = tracemalloc.get_traced_memory()
            w3 = ckpt["w3"]
            _, peak_read = tracemalloc.get_traced_memory()
            assert len(ckpt) == 8 and "w7" in ckpt
    finally:
        tracemalloc.stop()
    assert peak_open < 1 << 20, f"opening a 32 MiB checkpoint allocated {peak_open:,} bytes"
    assert peak_read >= 4 << 20  # the tensor read is materialised in memory: the measurement sees allocations
    assert w3.shape == (1024, 1024) and float(w3.numpy()[5, 7]) == 3.0


def test_forward_pre_hook_replaces_inputs_and_is_removable():
    layer = nn.Linear(2, 2, bias=False)
    seen = []
    handle = layer.register_forward_pre_hook(lambda m, args: (seen.append(args[0].shape), args[0] * 0)[1])
    x = minidl.tensor([[1.0, 2.0]])
    assert np.all(layer(x).detach().numpy() == 0) and seen == [(1, 2)]
    handle.remove()
    assert np.any(layer(x).detach().numpy() != 0) and seen == [(1, 2)]
