"""The package reads in data-flow order (DESIGN.md, "Layout"), and stays that way:

(a) no import circle among minidl's modules (imports run at module level);
(b) no module imports (at module level or inside a function) from a layer above its own, in
    the order of ``LAYERS``;
(c) no file over ``MAX_FILE_LINES`` lines and no function over ``MAX_FUNCTION_LINES``, except
    those in ``EXCEPTIONS``, each with its reason (an exception that no longer applies fails too,
    so the list only shrinks);
(d) ``import minidl`` does not import keras, nor change the process (the host allocator setting
    waits for the first array operation, the test device "strict" for ``use_strict_device``).

The imports are read from the source with ``ast``; nothing is imported to check (a)-(c).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minidl"

# Lowest first. A module belongs to the first entry whose name is the module or a package above
# it; it may import from its own layer and the layers before it.
LAYERS = [
    ("host services", ["minidl._files"]),
    ("array library", ["minidl.backend", "minidl.cuda", "minidl.backends"]),
    ("dtypes and grad mode", ["minidl.dtypes", "minidl.grad_mode"]),
    ("tensor", ["minidl.tensor_inplace", "minidl.tensor"]),
    ("creation", ["minidl.creation"]),
    ("autograd", ["minidl.backprop", "minidl.autograd"]),
    ("kernel registry", ["minidl.dispatch"]),
    ("functional", ["minidl.functional", "minidl.gradcheck"]),
    ("kernels", ["minidl.kernels"]),
    ("nn", ["minidl.nn", "minidl.serialization", "minidl.safetensors", "minidl.utils"]),
    ("optim", ["minidl.optim"]),
    ("data", ["minidl.data", "minidl.datasets", "minidl.tokenizers"]),
    ("applications", ["minidl.keras", "minidl.classroom", "minidl.viz", "minidl.explain", "minidl.attacks",
                      "minidl.testing", "minidl.compress", "minidl.language_model", "minidl.lm_cli",
                      "minidl.distributed", "minidl.__main__", "minidl"]),
]

# (importer, imported): allowed imports against the order (with the packages above the imported
# module, which the import runs first), each with its reason.
UPWARD_EXCEPTIONS = {
    ("minidl.nn.utils", "minidl.optim.clip"): "torch.nn.utils's address of the gradient clipping in optim/clip.py, "
                                              "which is being rewritten",
}

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60

# path relative to minidl/ (a file) or "path:qualified.name" (a function) -> reason
EXCEPTIONS = {
    "optim/lr_scheduler.py:OneCycleLR.__init__": "being rewritten",
}


# ---- reading the package ---------------------------------------------------------------------
def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources():
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _sources()


def _targets(module, is_package, node):
    """The minidl modules an import statement names (a module, or the package it imports from)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix for a in node.names]
    return [n for n in names if n == "minidl" or n.startswith("minidl.")]


def _implied_packages(importer, target):
    """Importing a.b.c runs the packages a.b first (minidl itself and the importer's own
    packages are being imported already)."""
    parts = target.split(".")
    for i in range(2, len(parts)):
        package = ".".join(parts[:i])
        if not importer.startswith(package + "."):
            yield package


def _imports(module):
    """(module-level imports, imports inside functions) of ``module``, as sets of module names."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = (set(), set())

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, path.name == "__init__.py", child):
                    found[in_function].add(target)
                    found[in_function].update(_implied_packages(module, target))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return tuple({t for t in s if t in MODULES and t != module} for s in found)


IMPORTS = {m: _imports(m) for m in MODULES}


def _layer(module):
    for i, (_, names) in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names if n != "minidl"):
            return i
    return len(LAYERS) - 1 if module == "minidl" else None


# ---- (a) no circles --------------------------------------------------------------------------
def _cycle(graph):
    """One import circle as a list of modules, or None (iterative depth-first search)."""
    state = {}
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [], [(start, iter(sorted(graph[start])))]
        state[start] = "open"
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = "done"
            elif state.get(child) == "open":
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = "open"
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    return None


def test_no_import_circle():
    graph = {m: top for m, (top, _) in IMPORTS.items() if m != "minidl"}
    graph = {m: {t for t in targets if t != "minidl"} for m, targets in graph.items()}
    circle = _cycle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


# ---- (b) nothing imports upward --------------------------------------------------------------
def test_every_module_has_a_layer():
    missing = [m for m in MODULES if _layer(m) is None]
    assert missing == [], f"add these modules to a layer of LAYERS (tests/test_layout.py): {missing}"


def _excepted(module, target):
    return any(module == a and (target == b or b.startswith(target + ".")) for a, b in UPWARD_EXCEPTIONS)


def test_nothing_imports_from_a_layer_above():
    wrong = []
    for module, (top, inside_functions) in sorted(IMPORTS.items()):
        for target in sorted(top | inside_functions):
            if None in (_layer(module), _layer(target)):
                continue  # a module without a layer: test_every_module_has_a_layer names it
            if _layer(target) > _layer(module) and not _excepted(module, target):
                where = "at module level" if target in top else "inside a function"
                wrong.append(f"{module} ({LAYERS[_layer(module)][0]}) imports {target} "
                             f"({LAYERS[_layer(target)][0]}) {where}")
    assert wrong == [], "imports against the data-flow order:\n" + "\n".join(wrong)


def test_upward_exceptions_are_still_needed():
    stale = [pair for pair in UPWARD_EXCEPTIONS if pair[1] not in IMPORTS[pair[0]][0] | IMPORTS[pair[0]][1]]
    assert stale == [], f"remove from UPWARD_EXCEPTIONS (the import is gone): {stale}"


def test_the_import_reader_sees_relative_and_lazy_imports():
    top, inside = IMPORTS["minidl.autograd"]
    assert {"minidl.backend", "minidl.tensor", "minidl.grad_mode"} <= top
    top, inside = IMPORTS["minidl.functional.tensor_methods"]
    assert {"minidl.autograd", "minidl.functional.elementwise", "minidl.functional.shape"} <= top
    assert "minidl.keras" in IMPORTS["minidl.__main__"][1]  # python -m minidl imports keras when asked
    assert "minidl.functional" in IMPORTS["minidl.kernels.activation"][0]  # a submodule runs its package


# ---- (c) short files, short functions --------------------------------------------------------
def _functions(tree):
    """(qualified name, line count) of every function and method."""
    stack = [(node, "") for node in tree.body]
    while stack:
        node, prefix = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = prefix + node.name
            if not isinstance(node, ast.ClassDef):
                yield name, node.end_lineno - node.lineno + 1
            stack.extend((child, name + ".") for child in node.body)


def _oversize():
    found = {}
    for path in MODULES.values():
        rel = path.relative_to(PACKAGE).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_FILE_LINES:
            found[rel] = f"{lines} lines"
        for name, length in _functions(ast.parse(text)):
            if length > MAX_FUNCTION_LINES:
                found[f"{rel}:{name}"] = f"{length} lines"
    return found


def test_files_and_functions_are_short():
    over = {k: v for k, v in _oversize().items() if k not in EXCEPTIONS}
    assert over == {}, (f"over {MAX_FILE_LINES} lines per file or {MAX_FUNCTION_LINES} per function "
                        f"(split by responsibility): {over}")


def test_size_exceptions_are_still_needed():
    stale = sorted(set(EXCEPTIONS) - set(_oversize()))
    assert stale == [], f"remove from EXCEPTIONS (now short enough, or gone): {stale}"


# ---- (d) what importing does -----------------------------------------------------------------
def _run(code):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_import_minidl_does_not_import_keras_but_minidl_keras_works():
    _run("import minidl, sys; assert 'minidl.keras' not in sys.modules, 'keras imported'\n"
         "assert minidl.keras.layers.Dense is not None and 'minidl.keras' in sys.modules")
    _run("import minidl.keras, sys; from minidl.keras import Sequential; from minidl.keras.layers import Dense")


def test_unknown_attribute_of_minidl_is_an_attribute_error():
    import minidl

    with pytest.raises(AttributeError, match="no attribute 'not_a_module'"):
        minidl.not_a_module  # noqa: B018


def test_importing_the_backend_changes_nothing_until_first_use():
    _run("import minidl, minidl.backend as b\n"
         "assert not b._host_memory_checked, 'allocator set on import'\n"
         "minidl.zeros(3) + 1\n"
         "assert b._host_memory_checked")


def test_the_strict_device_exists_after_use_strict_device_only():
    _run("import minidl, minidl.backend as b\n"
         "try:\n    b.Device('strict')\nexcept ValueError as e:\n    assert 'use_strict_device' in str(e), e\n"
         "else:\n    raise AssertionError('strict is a device before use_strict_device()')\n"
         "from minidl.testing import use_strict_device\n"
         "assert use_strict_device() == 'strict' and minidl.ones(2, device='strict').device == 'strict'")
