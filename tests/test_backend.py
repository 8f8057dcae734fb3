"""The NumPy/CuPy seam: the source-tree rule that keeps ops device-generic, and backend.py's
own functions.

The rule, enforced over every module of the package:

1. Only ``backend.py`` imports CuPy.
2. Modules that compute on tensor data (``functional/``, ``nn/``, ``optim/``, ``autograd.py``
   and every other module not listed in ``HOST_SIDE``) never import NumPy nor name it
   (``np.``/``numpy.``): they take the array module of their inputs (``ctx.xp``,
   ``backend.get_array_module``), so the same code runs on NumPy and CuPy arrays.
3. The modules in ``HOST_SIDE`` may import NumPy for work on host memory (dtypes, files,
   finite differences, hypothesis arrays), but never hand a tensor's array (``<x>.array``) to a
   NumPy function directly: it goes through ``backend.as_numpy`` first, which copies GPU data
   to the host.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

import minidl
from minidl import backend
from minidl.backend import CPU, Device

PACKAGE = Path(minidl.__file__).resolve().parent

SEAM = "backend.py"
HOST_SIDE = {
    "backend.py": "the seam itself",
    "dtypes.py": "dtype objects, promotion rules on metadata, NumPy scalars, NumPy's float error state",
    "tensor.py": "tensors from host data, repr",
    "tensor_inplace.py": "the shape checks of in-place ops broadcast host shape tuples",
    "creation.py": "arange, linspace and eye are made on the host, then placed on the device",
    "gradcheck.py": "finite differences in float64 on host copies",
    "testing": "hypothesis arrays and assertions on host copies",
    "serialization.py": "reading and writing .npz files",
    "safetensors.py": "reading and writing .safetensors files (host bytes, memory maps)",
    "data.py": "datasets of host arrays, shuffled index arrays",
    "utils/data": "datasets of host arrays, shuffled index arrays (minidl.data's package)",
    "datasets": "decoding dataset files into host arrays",
    "viz.py": "matplotlib draws host arrays",
    "__main__.py": "the command line prepares dataset arrays on the host",
    "keras": "the Keras facade takes and gives NumPy arrays (fit, predict, get_weights, dtype names)",
    "classroom": "the grader compares host copies of outputs and gradients; notebooks are JSON files",
    "nn/generation.py": "token ids and the sampler work on host copies of the last logits",
    "language_model.py": "token streams are host arrays, cut into batches there",
    "lm_cli.py": "the command line encodes the corpus into a host array",
    "explain.py": "inputs and targets arrive as host arrays; quadrature nodes and noise are drawn on the host",
    "attacks.py": "inputs and labels arrive as host arrays; random starts are drawn on the host, then moved",
    "distributed": "MPI sends host buffers: a tensor's values are copied to the host, sent or reduced, copied back; "
                   "the self-test script builds host data under mpiexec",
}
# host modules whose own objects call a host array ``.array`` (only ``.data`` is checked there)
OWN_ARRAY_ATTRIBUTE = {"classroom/sandbox.py": "the replies of the sandboxed process (_Out) carry host arrays"}
NUMPY_NAMES = {"numpy", "np"}
CUPY_NAMES = {"cupy", "cp"}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path):
    return path.relative_to(PACKAGE).as_posix()


def _is_host_side(rel):
    parts = rel.split("/")
    return any("/".join(parts[:i]) in HOST_SIDE for i in range(1, len(parts) + 1))


def _imported_roots(tree):
    """(line, top-level module name) of every import, including importlib/__import__ calls."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                yield node.lineno, str(node.args[0].value).split(".")[0]


def _numpy_attribute_uses(tree):
    """Lines where ``np.<x>`` or ``numpy.<x>`` is used."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in NUMPY_NAMES:
            yield node.lineno, f"{node.value.id}.{node.attr}"


def _tensor_data_into_numpy(tree, attributes=("array", "data")):
    """Lines where a NumPy function gets ``<something>.array`` (or ``.data``) not wrapped in ``as_numpy(...)``."""

    def unwrapped_data(node):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name == "as_numpy":
                return False
        if isinstance(node, ast.Attribute) and node.attr in attributes:
            return True
        return any(unwrapped_data(child) for child in ast.iter_child_nodes(node))

    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in NUMPY_NAMES
        ):
            args = list(node.args) + [k.value for k in node.keywords]
            if any(unwrapped_data(a) for a in args):
                yield node.lineno, f"{node.func.value.id}.{node.func.attr}(...<x>.array...)"


def _violations():
    found = []
    for path in _modules():
        rel = _rel(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, root in _imported_roots(tree):
            if root == "cupy" and rel != SEAM:
                found.append(f"{rel}:{line}: imports cupy (only {SEAM} may)")
            if root == "numpy" and not _is_host_side(rel):
                found.append(f"{rel}:{line}: imports numpy; use ctx.xp or backend.get_array_module")
        if not _is_host_side(rel):
            for line, use in _numpy_attribute_uses(tree):
                found.append(f"{rel}:{line}: uses {use}; use ctx.xp or backend.get_array_module")
        elif rel != SEAM:
            attributes = ("data",) if rel in OWN_ARRAY_ATTRIBUTE else ("array", "data")
            for line, use in _tensor_data_into_numpy(tree, attributes):
                found.append(f"{rel}:{line}: {use}; copy it to the host with backend.as_numpy first")
    return found


def test_only_backend_imports_cupy_and_ops_never_name_numpy():
    violations = _violations()
    assert not violations, "the backend seam is broken:\n" + "\n".join(violations)


def test_the_scan_sees_the_package():
    rels = {_rel(p) for p in _modules()}
    assert {"backend.py", "autograd.py", "functional/elementwise.py", "functional/shape.py"} <= rels


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import numpy as np\n", "imports numpy"),
        ("from numpy import exp\n", "imports numpy"),
        ("import cupy\n", "imports cupy"),
        ("import importlib\nm = importlib.import_module('cupy')\n", "imports cupy"),
        ("def f(x):\n    return np.exp(x)\n", "uses np.exp"),
        ("def f(x):\n    return numpy.sum(x)\n", "uses numpy.sum"),
    ],
)
def test_the_rule_catches_violations_in_op_modules(tmp_path, monkeypatch, source, expected):
    fake = tmp_path / "minidl"
    (fake / "functional").mkdir(parents=True)
    (fake / "functional" / "bad.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    violations = _violations()
    assert len(violations) == 1 and expected in violations[0] and violations[0].startswith("functional/bad.py")


def test_the_rule_catches_tensor_data_handed_to_numpy_in_host_modules(tmp_path, monkeypatch):
    fake = tmp_path / "minidl"
    fake.mkdir()
    (fake / "tensor.py").write_text(
        "import numpy\n"
        "def bad(t):\n    return numpy.sum(t.array)\n"
        "def good(t):\n    return numpy.sum(backend.as_numpy(t.array)), numpy.zeros(t.shape)\n"
    )
    (fake / "backend.py").write_text("import numpy\nimport cupy\ndef f(t):\n    return numpy.sum(t.array)\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    violations = _violations()
    assert violations == ["tensor.py:3: numpy.sum(...<x>.array...); copy it to the host with backend.as_numpy first"]


# ---- backend functions -------------------------------------------------------------------------
def test_get_array_module():
    assert backend.get_array_module(np.zeros(2)) is np
    assert backend.get_array_module(1.0, None, np.ones(1)) is np
    assert backend.get_array_module() is np


def test_device_of_and_as_numpy():
    a = np.arange(3)
    assert backend.device_of(a) == CPU
    assert backend.device_of(np.float64(1.0)) == CPU
    assert backend.as_numpy(a) is a
    assert backend.as_numpy([1, 2]).tolist() == [1, 2]
    with pytest.raises(TypeError, match="not an array minidl can hold: list"):
        backend.device_of([1, 2])


def test_to_device_on_the_same_device_does_not_copy():
    a = np.arange(3.0)
    assert backend.to_device(a, "cpu") is a
    assert backend.to_device(a, CPU) is a


def test_array_module_for_cpu():
    assert backend.array_module_for(CPU) is np


def test_require_cuda_without_cupy_explains():
    if backend._load_cupy() is not None:
        pytest.skip("CuPy is importable here")
    assert not backend.cupy_available()
    with pytest.raises(RuntimeError, match=r"device 'cuda:0' needs CuPy.*pip install minidl\[gpu\]"):
        backend.require_cuda(Device("cuda"))


def test_rng_for_cpu_and_manual_seed():
    backend.manual_seed(5)
    g = backend.rng_for(CPU)
    assert isinstance(g, np.random.Generator)
    first = g.random(3)
    backend.manual_seed(5)
    assert np.array_equal(backend.rng_for(CPU).random(3), first)


def test_synchronize_is_harmless_on_cpu():
    backend.synchronize()


@pytest.mark.parametrize("spec", ["cpu", "cuda", "cuda:0", "cuda:3"])
def test_device_parsing(spec):
    d = Device(spec)
    assert Device(d) == d and hash(Device(spec)) == hash(d)
    assert str(d) == (spec if spec != "cuda" else "cuda:0")


def test_gpu_round_trip(device):
    if device == "cpu":
        pytest.skip("no GPU here")
    x = minidl.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert backend.get_array_module(x.array) is not np
    y = (x * x).sum()
    y.backward()
    assert x.grad.device == device
    assert backend.as_numpy(x.grad.array).tolist() == [2.0, 4.0]
    assert x.detach().cpu().numpy().tolist() == [1.0, 2.0]
