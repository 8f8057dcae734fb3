"""The ring all-reduce, written out step by step (what ``MPI_Allreduce`` does for large buffers).

p ranks stand in a ring; rank r sends only to its right neighbour r+1 and receives only from its
left neighbour r−1 (mod p). Each rank cuts its vector x_r (n elements) into p chunks c_0..c_{p−1}.

1. Reduce-scatter, p−1 steps. At step s rank r sends chunk (r − s) mod p to the right, receives
   chunk (r − s − 1) mod p from the left and adds it to its own copy. A chunk gains one rank's
   contribution per step, so after p−1 steps rank r holds the full sum Σ_q c_{r+1}^{(q)} of chunk
   (r + 1) mod p.
2. All-gather, p−1 steps. At step s rank r sends its complete chunk (r + 1 − s) mod p to the
   right and overwrites chunk (r − s) mod p with the complete one it receives.

Every step sends n/p elements at once to one neighbour, so with a latency α per message and a
time β per element the whole all-reduce costs

    T_ring(n, p) = 2(p − 1)·α + 2·(p − 1)/p · n·β,

whose bandwidth term tends to 2nβ: it hardly grows with p. (Sending everything to one rank and
back would cost 2(p−1)·(α + nβ).) notebooks/11_distributed.ipynb measures α and β and checks
this against ``MPI_Allreduce``.
"""

from __future__ import annotations

import numpy

from .collectives import _InPlace
from .process_group import resolve


def ring_chunks(flat, p):
    """``flat`` (n elements) cut into p contiguous views whose sizes differ by at most one."""
    return numpy.array_split(flat, p)


def ring_schedule(p, r):
    """Rank r's steps: ``(phase, step, send chunk, receive chunk)`` for the 2(p−1) steps, phase
    ``"reduce-scatter"`` (add what arrives) then ``"all-gather"`` (keep what arrives)."""
    for s in range(p - 1):
        yield "reduce-scatter", s, (r - s) % p, (r - s - 1) % p
    for s in range(p - 1):
        yield "all-gather", s, (r + 1 - s) % p, (r - s) % p


def ring_all_reduce(tensor, group=None):
    """``tensor ← Σ_r x_r`` on every rank, in place, by reduce-scatter then all-gather over
    ``Sendrecv`` with the two neighbours (see the module's docstring for the steps and their cost).
    tensor: a Tensor or array of any shape, the same shape and dtype on every rank."""
    g = resolve(group, "ring_all_reduce")
    work = _InPlace(tensor, "ring_all_reduce")
    p, r = g.size, g.rank
    if p == 1:
        return
    chunks = ring_chunks(work.buf.reshape(-1), p)  # views into the buffer: (n,) -> p × (≈ n/p,)
    right, left = (r + 1) % p, (r - 1) % p
    incoming = numpy.empty_like(chunks[0])  # the largest chunk comes first
    for phase, _, send_i, recv_i in ring_schedule(p, r):
        got = incoming[: chunks[recv_i].size]
        g.sendrecv(chunks[send_i], right, got, left)  # to the right neighbour, from the left one
        if phase == "reduce-scatter":
            chunks[recv_i] += got
        else:
            chunks[recv_i][...] = got
    work.write_back()


def ring_cost(n, p, alpha, beta):
    """The model's time of a ring all-reduce of n elements on p ranks: 2(p−1)α + 2(p−1)/p·nβ."""
    p = numpy.asarray(p, dtype=float)
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * numpy.asarray(n, dtype=float) * beta
