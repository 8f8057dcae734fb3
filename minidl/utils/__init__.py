"""Utilities beside the core, named as in ``torch.utils``: ``checkpoint`` (activation checkpointing)."""

from . import checkpoint
