"""Utilities beside the core, named as in ``torch.utils``: ``data`` (datasets, samplers, the
DataLoader) and ``checkpoint`` (activation checkpointing)."""

from . import checkpoint, data
