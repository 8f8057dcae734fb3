"""What a plain ``assert`` in a test cell checked, and on which input, when it fails.

A bare ``AssertionError`` says nothing; ``explain_assertion`` finds the failing ``assert``
statement in the test's source (from the traceback's line number), and writes the statement, the
values of the names it uses (the failing input: loop variables, arguments) and, for a comparison,
both sides as they were evaluated again in the test's namespace::

    AssertionError: the check `assert output_size(n, k, s, p) == len(range(0, n + 2 * p - k + 1, s))` failed
      with n = 2, k = 1, s = 2, p = 0
      left side:  output_size(n, k, s, p) = 2
      right side: len(range(0, n + 2 * p - k + 1, s)) = 1
"""

from __future__ import annotations

import ast
import types

MAX_REPR = 200


def _short(value):
    text = repr(value)
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "…"


def _frame_of(exc, filename):
    tb, found = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            found = tb
        tb = tb.tb_next
    return found


def _assert_at(source, line):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    hits = [n for n in ast.walk(tree) if isinstance(n, ast.Assert) and n.lineno <= line <= (n.end_lineno or n.lineno)]
    return hits[-1] if hits else None


def _evaluate(node, frame, stopped):
    try:
        code = compile(ast.Expression(node), "<assert>", "eval")
        return _short(eval(code, frame.f_globals, dict(frame.f_locals)))  # noqa: S307 - the key's own expression
    except stopped:
        raise
    except Exception as exc:  # noqa: BLE001 - the side itself raised
        return f"(raised {type(exc).__name__}: {str(exc)[:100]})"


def _plain_names(test, frame):
    seen, out = set(), []
    for node in ast.walk(test):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in seen:
            seen.add(node.id)
            value = frame.f_locals.get(node.id, frame.f_globals.get(node.id, None))
            if isinstance(value, (bool, int, float, str, tuple, list)) and not isinstance(value, types.ModuleType):
                out.append(f"{node.id} = {_short(value)}")
    return out


def explain_assertion(exc, source, filename, stopped=()):
    """The text above for AssertionError ``exc`` raised by code compiled from ``source`` under
    ``filename``, or None when the failing statement is not an ``assert`` of that source.
    ``stopped``: exception types that must propagate (the submission stopped)."""
    tb = _frame_of(exc, filename)
    node = _assert_at(source, tb.tb_lineno) if tb is not None else None
    if node is None:
        return None
    frame = tb.tb_frame
    test = ast.get_source_segment(source, node.test) or ast.unparse(node.test)
    lines = [f"AssertionError: the check `assert {test}` failed"]
    names = _plain_names(node.test, frame)
    if names:
        lines.append("  with " + ", ".join(names))
    if isinstance(node.test, ast.Compare) and len(node.test.comparators) == 1:
        left, right = node.test.left, node.test.comparators[0]
        lines.append(f"  left side:  {ast.unparse(left)} = {_evaluate(left, frame, stopped)}")
        lines.append(f"  right side: {ast.unparse(right)} = {_evaluate(right, frame, stopped)}")
    if exc.args:
        lines.append(f"  message: {str(exc.args[0])[:1500]}")
    return "\n".join(lines)
