"""Datasets: MNIST (IDX files) and friends, from a local folder or a verified download."""

from . import mnist
from .idx import IDXError, read_idx, write_idx
from .mnist import MNIST

__all__ = ["IDXError", "MNIST", "mnist", "read_idx", "write_idx"]
