"""The kernels' thread pool (minidl/kernels/_parallel.py): every piece runs once, pieces really run
at the same time, errors reach the caller, nested calls and forked children do not hang, and the
kernels that use it give bit-for-bit the same values and gradients with any number of threads."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl.kernels import _parallel
from minidl.kernels import activation as activation_kernels
from minidl.kernels import attention as attention_kernels


@pytest.fixture
def threads():
    before = minidl.get_num_threads()
    yield minidl.set_num_threads
    minidl.set_num_threads(before)


def test_every_piece_runs_once(threads):
    for n in (1, 2, 3):
        threads(n)
        seen, lock = [], threading.Lock()

        def piece(i, seen=seen, lock=lock):
            with lock:
                seen.append(i)

        _parallel.run_pieces(piece, range(17))
        assert sorted(seen) == list(range(17))


def test_pieces_run_at_the_same_time(threads):
    threads(2)
    meet = threading.Barrier(2, timeout=20)  # broken (an error) unless two pieces wait together
    _parallel.run_pieces(lambda i: meet.wait(), range(2))
    threads(1)
    alone = threading.Barrier(2, timeout=0.5)
    with pytest.raises(threading.BrokenBarrierError):
        _parallel.run_pieces(lambda i: alone.wait(), range(2))


def test_an_error_in_a_piece_is_raised_after_the_others_ran(threads):
    threads(2)
    done = []

    def piece(i):
        if i == 3:
            raise ValueError("piece 3 failed")
        done.append(i)

    with pytest.raises(ValueError, match="piece 3 failed"):
        _parallel.run_pieces(piece, range(8))
    assert sorted(done) == [0, 1, 2, 4, 5, 6, 7]


def test_a_piece_that_runs_pieces_does_not_wait_for_itself(threads):
    threads(2)
    out = np.zeros((4, 4))

    def row(i):
        _parallel.run_pieces(lambda j: out.__setitem__((i, j), 10 * i + j), range(4))

    _parallel.run_pieces(row, range(4))
    assert out.tolist() == [[10 * i + j for j in range(4)] for i in range(4)]


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_set_num_threads_wants_a_positive_int(bad, threads):
    with pytest.raises(ValueError, match="set_num_threads"):
        minidl.set_num_threads(bad)
    threads(3)
    assert minidl.get_num_threads() == 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_pool_of_its_own(threads):
    threads(2)
    _parallel.run_pieces(lambda i: None, range(4))  # the parent's pool exists
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its copy of the pool has no threads; it must make new ones
        try:
            total = []
            _parallel.run_pieces(lambda i: total.append(i), range(6))
            os.write(write, str(sum(total)).encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 100).decode() == "15" and os.WEXITSTATUS(status) == 0
    os.close(read)


def _attention_values_and_grads(rng_seed):
    rng = np.random.default_rng(rng_seed)
    q, k, v = (minidl.tensor(rng.standard_normal((3, 9, 7, 5)), requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # 27 matrices: 4 groups, 4 blocks each
    out.backward(minidl.tensor(rng.standard_normal(out.shape)))
    return [out.detach().numpy(), q.grad.numpy(), k.grad.numpy(), v.grad.numpy()]


def _gelu_values_and_grads(rng_seed):
    x = minidl.tensor(np.random.default_rng(rng_seed).uniform(-5, 5, (37, 11)), requires_grad=True)
    y = F.gelu(x, approximate="tanh")
    y.backward(minidl.ones_like(y))
    return [y.detach().numpy(), x.grad.numpy()]


@pytest.mark.parametrize("run", [_attention_values_and_grads, _gelu_values_and_grads])
def test_kernels_give_the_same_bits_with_any_number_of_threads(run, threads, monkeypatch):
    monkeypatch.setattr(activation_kernels, "_CHUNK", 16)  # 407 elements: 26 chunks
    monkeypatch.setattr(attention_kernels, "_QUERY_BLOCK", 2)  # 7 queries: blocks of 2, 2, 2, 1 rows
    monkeypatch.setattr(attention_kernels, "_SCORES", 8 * 2 * 7)  # the largest block, 2 × 7: 8 matrices a group
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(run(5))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_changing_the_thread_count_while_another_thread_runs_pieces(threads):
    threads(2)
    started, release = threading.Event(), threading.Event()
    finished = []

    def slow(i):
        started.set()
        release.wait(timeout=20)
        finished.append(i)

    worker = threading.Thread(target=_parallel.run_pieces, args=(slow, range(4)))
    worker.start()
    assert started.wait(timeout=20)
    threads(3)  # a new pool for later calls; the running call keeps the old one
    release.set()
    worker.join(timeout=20)
    assert sorted(finished) == [0, 1, 2, 3]
    seen = []
    _parallel.run_pieces(seen.append, range(5))
    assert sorted(seen) == list(range(5))
