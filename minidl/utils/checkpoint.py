"""Activation (gradient) checkpointing: trade compute for memory.

    y = checkpoint(block, x)        # as y = block(x), but block's activations are not kept

Backpropagation needs the activations of the forward pass. A checkpointed segment keeps only its
inputs: its forward runs without recording a graph, and its backward runs the segment again,
this time recording, and differentiates that. For a stack of L blocks checkpointed one by one,
the activations held at the peak fall from L blocks' worth to the L block inputs plus one
block's worth, at the cost of one more forward pass of each block.

    forward:   y = f(x; θ)                 kept: x (and θ, which the model holds anyway)
    backward:  y' = f(x; θ) recorded,  (∂L/∂x, ∂L/∂θ) = vjp of y' with ∂L/∂y

The random generator is put back to its state at the first forward before the recomputation
(CPU), so dropout drops the same units twice. Gradients reach ``function``'s inputs and, when
``function`` is a Module (or a method of one), its parameters; pass any other tensor that the
function reads as an argument, or it gets no gradient from the segment.
"""

from __future__ import annotations

from .. import backend
from ..autograd import Function, enable_grad, grad, is_grad_enabled, no_grad
from ..tensor import Tensor


def _parameters_of(function):
    owner = getattr(function, "__self__", function)
    parameters = getattr(owner, "parameters", None)
    return [p for p in parameters() if p.requires_grad] if callable(parameters) else []


class Checkpoint(Function):
    """y = f(x₁..xₙ; θ) without keeping f's activations; the backward recomputes them."""

    def forward(ctx, *arrays, function, is_tensor, rng_state):
        ctx.function, ctx.is_tensor, ctx.rng_state = function, is_tensor, rng_state
        ctx.plain = [None if t else a for a, t in zip(arrays, is_tensor)]  # the non-Tensor arguments
        with no_grad():
            out = function(*[Tensor._make(a, False) if t else a for a, t in zip(arrays, is_tensor)])
        if not isinstance(out, Tensor):
            raise TypeError(f"checkpoint: the function must return one Tensor, got {type(out).__name__}")
        return out.array

    def backward(ctx, dy):
        args = [t if is_t else a for t, a, is_t in zip(ctx.inputs, ctx.plain, ctx.is_tensor)]
        wanted = [t for t, need in zip(ctx.inputs, ctx.needs_input_grad) if need]
        if ctx.rng_state is not None:
            backend.rng_for(backend.Device("cpu")).bit_generator.state = ctx.rng_state
        create_graph = is_grad_enabled()  # differentiating this backward too: keep the graph
        with enable_grad():
            out = ctx.function(*args)  # the same inputs: the recomputed graph hangs off them
        found = iter(grad(out, wanted, dy, retain_graph=create_graph, create_graph=create_graph,
                          allow_unused=True))
        return tuple(next(found) if need else None for need in ctx.needs_input_grad)


def checkpoint(function, *args):
    """``function(*args)``, one Tensor, without keeping the activations inside ``function``;
    they are recomputed in the backward pass. ``args`` are Tensors (or other values passed as
    they are); gradients flow to them and to ``function``'s parameters when it is a Module."""
    tensors = [a for a in args if isinstance(a, Tensor)]
    if not tensors:
        raise TypeError("checkpoint: needs at least one Tensor argument")
    if not is_grad_enabled():
        return function(*args)
    device = tensors[0].device
    rng_state = backend.rng_for(device).bit_generator.state if device.type == "cpu" else None
    parameters = [p for p in _parameters_of(function) if all(p is not a for a in args)]
    is_tensor = tuple(isinstance(a, Tensor) for a in args)
    return Checkpoint.apply(*args, *parameters, function=function, is_tensor=is_tensor, rng_state=rng_state)
