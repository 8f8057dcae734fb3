"""minidl.nn: modules with PyTorch's names, parameter names, shapes and initialisation."""

from . import init
from .module import Identity, Module, ModuleDict, ModuleList, Parameter, Sequential
