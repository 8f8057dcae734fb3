"""``minidl.save`` / ``minidl.load`` of nested checkpoints (the tree layout): round trips of what
PyTorch programs save, file objects, ``map_location``, and hostile files."""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import nn, optim
from minidl.serialization import TREE_KEY, FileFormatError, read_npz, write_npz


def _checkpoint():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    model(minidl.randn(5, 3)).sum().backward()
    opt.step()
    return model, opt, {
        "epoch": 7, "model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict(),
        "loss": 0.25, "best": float("inf"), "nan": float("nan"), "note": "ünïcode", "none": None,
        "flags": (True, False), "sizes": [1, 2**70, -3], "z": 1 + 2j, "array": np.arange(4.0),
        "scalar": np.float32(1.5),
    }  # fmt: skip


def test_a_training_checkpoint_round_trips(tmp_path):
    model, opt, ckpt = _checkpoint()
    path = tmp_path / "ckpt.pt"
    minidl.save(ckpt, path)
    back = minidl.load(path)
    assert back["epoch"] == 7 and type(back["epoch"]) is int and back["loss"] == 0.25
    assert back["best"] == math.inf and math.isnan(back["nan"]) and back["note"] == "ünïcode" and back["none"] is None
    assert back["flags"] == (True, False) and back["sizes"] == [1, 2**70, -3] and back["z"] == 1 + 2j
    np.testing.assert_array_equal(back["array"], np.arange(4.0))
    assert isinstance(back["array"], np.ndarray) and back["scalar"] == np.float32(1.5)
    assert isinstance(back["scalar"], np.float32)
    assert isinstance(back["model_state_dict"], OrderedDict) == isinstance(ckpt["model_state_dict"], OrderedDict)
    assert list(back["model_state_dict"]) == list(model.state_dict())
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    other.load_state_dict(back["model_state_dict"])
    x = minidl.randn(2, 3)
    np.testing.assert_array_equal(other(x).detach().numpy(), model(x).detach().numpy())
    opt2 = optim.Adam(other.parameters(), lr=1e-3)
    opt2.load_state_dict(back["optimizer_state_dict"])
    assert set(back["optimizer_state_dict"]["state"]) == {0, 1, 2, 3}  # int keys stay ints
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999)
    np.testing.assert_array_equal(opt2.state[other[0].weight]["exp_avg"], opt.state[model[0].weight]["exp_avg"])


def test_tensors_keep_requires_grad_and_sharing(tmp_path):
    w = minidl.randn(3, requires_grad=True)
    minidl.save({"a": w, "b": [w, minidl.ones(2)], "t": minidl.arange(3)}, tmp_path / "x.pt")
    back = minidl.load(tmp_path / "x.pt")
    assert back["a"] is back["b"][0] and back["a"].requires_grad and not back["t"].requires_grad
    assert back["t"].dtype == minidl.int64
    np.testing.assert_array_equal(back["a"].detach().numpy(), w.detach().numpy())


def test_a_single_tensor_and_file_objects():
    buf = io.BytesIO()
    minidl.save(minidl.arange(5), buf)
    buf.seek(0)
    assert minidl.load(buf).tolist() == [0, 1, 2, 3, 4]
    buf = io.BytesIO()
    minidl.save({"w": minidl.ones(2)}, buf)  # a state_dict: the plain layout
    buf.seek(0)
    assert list(minidl.load(buf, weights_only=True)) == ["w"]


def test_the_files_are_plain_npz(tmp_path):
    minidl.save({"epoch": 1, "w": minidl.ones(2)}, tmp_path / "c.pt")
    with np.load(tmp_path / "c.pt", allow_pickle=False) as z:
        doc = json.loads(z[TREE_KEY].tobytes().decode())
        assert doc["format"] == "minidl.tree" and doc["root"]["dict"][0][1] == {"int": "1"}
        assert z["0"].tolist() == [1.0, 1.0]


def test_map_location_forms(tmp_path):
    minidl.save({"w": minidl.ones(2), "n": 3}, tmp_path / "m.pt")
    assert minidl.load(tmp_path / "m.pt", map_location="cpu")["w"].device == minidl.device("cpu")
    assert minidl.load(tmp_path / "m.pt", map_location=minidl.device("cpu"))["n"] == 3
    assert minidl.load(tmp_path / "m.pt", map_location={"cuda:0": "cpu"})["w"].tolist() == [1.0, 1.0]
    seen = []
    minidl.load(tmp_path / "m.pt", map_location=lambda t, where: seen.append(where))
    assert seen == ["cpu"]


def test_what_cannot_be_saved_is_refused(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store a builtin_function_or_method at the object\['f'\]"):
        minidl.save({"f": len, "w": 1}, tmp_path / "x.pt")
    with pytest.raises(TypeError, match="never pickles"):
        minidl.save({"w": 1}, tmp_path / "x.pt", pickle_module=object())
    with pytest.raises(TypeError, match="not a tensor dtype"):
        minidl.save([np.array(["text"])], tmp_path / "x.pt")
    deep = []
    for _ in range(150):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than"):
        minidl.save(deep, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def _rewrite(path, tree=None, extra=None, drop=None):
    arrays = read_npz(path)
    if tree is not None:
        arrays[TREE_KEY] = np.frombuffer(tree.encode(), dtype=np.uint8)
    if drop:
        del arrays[drop]
    arrays.update(extra or {})
    with open(path, "wb") as f:
        write_npz(f, arrays)


def _tree(root, version=1):
    return json.dumps({"format": "minidl.tree", "version": version, "root": root})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(tree="{not json"), "not valid JSON"),
        (dict(tree=_tree({"int": "1"}, version=9)), "version 9"),
        (dict(tree=json.dumps({"format": "other", "root": {}})), "does not describe"),
        (dict(tree=_tree({"tensor": "7"})), "does not hold"),
        (dict(tree=_tree({"pickle": "x"})), "unknown or malformed node 'pickle'"),
        (dict(tree=_tree({"int": "12x"})), "'int' node"),
        (dict(tree=_tree({"dict": [[{"list": []}, {"int": "1"}]]})), "'dict' node"),
        (dict(tree=_tree({"list": {"a": 1}})), "not a list"),
        (dict(tree=_tree({"tensor": "0"})), r"members \['1'\] are not part"),
        (dict(tree=_tree(json.loads("[" * 1 + "1" + "]" * 1))), "not a tagged object"),
        (dict(tree=_tree(json.loads('{"list": [' * 120 + "]}" * 120))), "nested more than"),
        (dict(extra={TREE_KEY: np.zeros(3, np.float32)}), "is not UTF-8 text"),
    ],
)
def test_hostile_tree_files_fail_with_the_file_name(tmp_path, change, message):
    path = tmp_path / "bad.pt"
    minidl.save([minidl.ones(2), minidl.zeros(3)], path)
    _rewrite(path, **change)
    with pytest.raises(FileFormatError, match=f"bad.pt: .*{message}"):
        minidl.load(path)


def test_an_oversized_member_is_refused_before_allocating(tmp_path):
    minidl.save({"w": minidl.zeros(1000), "epoch": 1}, tmp_path / "big.pt")
    with pytest.raises(FileFormatError, match="over the limit"):
        minidl.load(tmp_path / "big.pt", max_bytes=1000)


@settings(max_examples=40, deadline=None)
@given(position=st.integers(0, 10**6), byte=st.integers(0, 255), cut=st.booleans())
def test_a_damaged_checkpoint_loads_equal_or_fails_cleanly(tmp_path_factory, position, byte, cut):
    folder = tmp_path_factory.mktemp("damaged")
    path = folder / "c.pt"
    minidl.save({"epoch": 3, "w": minidl.arange(6.0), "groups": [{"lr": 0.1, "params": [0]}]}, path)
    data = bytearray(path.read_bytes())
    position %= len(data)
    if cut:
        data = data[:position]
    else:
        data[position] = byte
    path.write_bytes(bytes(data))
    try:
        back = minidl.load(path)
    except FileFormatError as exc:
        assert str(exc).startswith(str(path))
        return
    assert set(back) <= {"epoch", "w", "groups"}


def test_zip_members_that_are_not_arrays_are_refused(tmp_path):
    path = tmp_path / "z.pt"
    minidl.save({"epoch": 1}, path)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("data.pkl", b"\x80\x04K\x01.")
    with pytest.raises(FileFormatError, match="z.pt: the archive lists 2 members"):
        minidl.load(path)
