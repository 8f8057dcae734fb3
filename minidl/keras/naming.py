"""Automatic layer names as Keras makes them: 'dense', 'dense_1', ... from the class name."""

import re

_NAME_COUNTS: dict = {}


def to_snake_case(name):
    """'MaxPooling2D' -> 'max_pooling2d', 'SimpleRNN' -> 'simple_rnn' (Keras's rule)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(base):
    """'dense', then 'dense_1', 'dense_2', ... (one counter per name, as Keras)."""
    n = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def clear_session():
    """Reset the automatic layer names (the next Dense is 'dense' again)."""
    _NAME_COUNTS.clear()
