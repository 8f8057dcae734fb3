"""minidl.distributed: two ranks under mpiexec against one process, and the single-process path.

The two-rank test starts ``mpiexec -n 2`` on ``minidl/distributed/_selftest.py`` and asserts on
the numbers each rank reports; it skips when mpi4py or mpiexec is missing (the extra
``minidl[distributed]``). Everything else runs in this process with ``backend="local"``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import minidl
import minidl.distributed as dist
from minidl import nn


@pytest.fixture
def local():
    dist.init_process_group("local")
    yield dist.get_rank(), dist.get_world_size()
    dist.destroy_process_group()


def _selftest_reports(n):
    if not dist.mpi_available():  # mpi4py absent, or its MPI library cannot be loaded
        pytest.skip("mpi4py cannot be imported (pip install 'minidl[distributed]')")
    if dist.mpiexec_path() is None:
        pytest.skip("mpiexec not found (pip install 'minidl[distributed]')")
    done = dist.run_mpiexec(n, sys.executable, "-m", "minidl.distributed._selftest", timeout=180)
    assert done.returncode == 0, f"mpiexec failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["rank"] for r in reports) == list(range(n)), done.stdout
    return reports


# ---- two ranks ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_ranks():
    return _selftest_reports(2)


def test_two_ranks_with_half_the_batch_follow_one_process_with_the_whole_batch(two_ranks):
    for report in two_ranks:
        assert report["world_size"] == 2
        for name in ("ddp", "ddp_no_sync"):
            ddp = report[name]
            assert ddp["buckets"] >= 2  # the small bucket cap splits the model's gradients
            np.testing.assert_allclose(ddp["ranks_loss"], ddp["single_loss"], rtol=0, atol=1e-6)
            assert ddp["max_param_diff_across_ranks"] == 0.0, name  # same averaged gradient, same update
            assert ddp["max_param_diff_to_single"] < 1e-9, name
        assert report["ddp"]["ranks_loss"][-1] < report["ddp"]["ranks_loss"][0]  # it trains


def test_two_ranks_average_a_gradient_only_some_ranks_have_and_leave_unused_ones_none(two_ranks):
    for report in two_ranks:
        assert report["unused"] == {"b_error": 0.0, "none": ["c.bias", "c.weight"]}


def test_two_ranks_train_a_keras_model_with_fit_as_one_process_does(two_ranks):
    for report in two_ranks:
        k = report["keras"]
        assert k["optimizer_class"] == "SGD"  # the wrapped optimizer keeps its class name (saving)
        np.testing.assert_allclose(k["ranks_loss"], k["single_loss"], rtol=1e-5)  # float32
        assert k["max_weight_diff_across_ranks"] == 0.0
        assert k["max_weight_diff_to_single"] < 1e-5


def test_two_ranks_ring_all_reduce_equals_mpi_allreduce_and_collectives_are_right(two_ranks):
    for report in two_ranks:
        assert report["ring"]["max_rel_diff"] < 1e-6  # float32 sums in another order; float64 exact
        assert report["collectives"] == dict.fromkeys(report["collectives"], 0.0)


def test_two_ranks_sampler_partitions_the_data(two_ranks):
    for report in two_ranks:
        padded, dropped = report["sampler"]["padded"], report["sampler"]["drop_last"]
        n = padded["n"]  # 11: odd, so padding and dropping both act
        assert padded == {"n": n, "per_rank": 6, "distinct": n, "max_count": 2, "order_matches": True}
        assert dropped == {"n": n, "per_rank": 5, "distinct": 10, "max_count": 1, "order_matches": True}


# ---- one process ---------------------------------------------------------------------------------
def test_the_selftest_passes_in_one_process_without_mpi():
    done = subprocess.run([sys.executable, "-m", "minidl.distributed._selftest", "--local", "--no-keras"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["world_size"] == 1 and report["ddp"]["max_loss_diff"] == 0.0


def test_without_mpi4py_the_package_imports_and_the_mpi_backend_names_the_extra():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import minidl.distributed as dist\n"
            "assert not dist.mpi_available()\n"
            "try:\n    dist.init_process_group('mpi')\nexcept ImportError as e:\n    print(e)\n"
            "dist.init_process_group('local'); assert dist.get_world_size() == 1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "minidl[distributed]" in done.stdout


def test_functions_need_a_process_group():
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="has not been initialized"):
        dist.all_reduce(minidl.ones(2))
    assert not dist.is_initialized()


def test_init_checks_its_arguments(local):
    with pytest.raises(RuntimeError, match="already initialized"):
        dist.init_process_group("local")
    dist.destroy_process_group()
    with pytest.raises(ValueError, match="unknown backend 'nccl'"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="world_size=2"):
        dist.init_process_group("local", world_size=2)
    dist.init_process_group("local", world_size=1, rank=0)
    assert dist.get_backend() == "local" and dist.is_initialized()


def test_collectives_in_one_process_are_the_identity(local):
    t = minidl.tensor([[1.0, 2.0], [3.0, 4.0]])
    for op in (dist.ReduceOp.SUM, dist.ReduceOp.AVG, dist.ReduceOp.MAX):
        dist.all_reduce(t, op)
    dist.broadcast(t, 0)
    dist.ring_all_reduce(t)
    np.testing.assert_array_equal(t.array, [[1.0, 2.0], [3.0, 4.0]])
    out = [minidl.zeros(2, 2)]
    dist.all_gather(out, t)
    np.testing.assert_array_equal(out[0].array, t.array)
    half = np.zeros(3, dtype=np.float16)  # travels as float32
    dist.reduce_scatter_tensor(half, np.array([1.5, 2.5, 3.5], dtype=np.float16))
    np.testing.assert_array_equal(half, [1.5, 2.5, 3.5])
    view = np.arange(12.0).reshape(3, 4)[:, ::2]  # not contiguous: reduced in a copy, written back
    dist.all_reduce(view)
    np.testing.assert_array_equal(view, np.arange(12.0).reshape(3, 4)[:, ::2])


def test_collectives_name_bad_input(local):
    with pytest.raises(ValueError, match="broadcast: src=1 is not a rank of a world of 1"):
        dist.broadcast(minidl.ones(2), 1)
    with pytest.raises(TypeError, match="AVG needs a floating tensor, got int64"):
        dist.all_reduce(np.arange(3), dist.ReduceOp.AVG)
    with pytest.raises(ValueError, match="read-only"):
        dist.all_reduce(np.broadcast_to(np.ones(1), (3,)))
    with pytest.raises(ValueError, match="tensor_list has 2 entries for a world of 1"):
        dist.all_gather([minidl.ones(2), minidl.ones(2)], minidl.ones(2))
    with pytest.raises(ValueError, match=r"output_tensor of shape \(3,\) must be input_tensor of shape \(2,\)"):
        dist.all_gather_into_tensor(np.zeros(3), np.ones(2))
    with pytest.raises(TypeError, match="op must be a ReduceOp"):
        dist.all_reduce(minidl.ones(2), "sum")
    with pytest.raises(TypeError, match="must be a Tensor or an array, got list"):
        dist.all_reduce([1.0, 2.0])


def test_ddp_in_one_process_trains_like_the_module(local):
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=2e-5)  # 20 bytes: every parameter alone
    assert list(ddp.parameters()) == list(model.parameters())
    assert len(ddp.buckets) == 4 and sorted(i for b in ddp.buckets for i, *_ in b.slots) == [0, 1, 2, 3]
    assert [k for k in ddp.state_dict()][0].startswith("module.")
    x = minidl.randn(5, 3)
    ddp(x).sum().backward()
    grads = [p.grad.array.copy() for p in model.parameters()]
    with ddp.no_sync():
        ddp.reduce_gradients()
    ddp.reduce_gradients()
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_array_equal(p.grad.array, g)
    with pytest.raises(TypeError, match="must be a minidl Module"):
        dist.DistributedDataParallel(lambda x: x)
    with pytest.raises(ValueError, match="bucket_cap_mb must be positive"):
        dist.DistributedDataParallel(model, bucket_cap_mb=0)


def test_buckets_respect_the_cap_and_give_a_large_parameter_its_own():
    params = [minidl.zeros(10), minidl.zeros(10), minidl.zeros(100), minidl.zeros(10, dtype=minidl.float64)]
    buckets = dist.ddp.plan_buckets(params, cap_bytes=80)  # float32: 20 elements per bucket
    contents = [[i for i, *_ in b.slots] for b in buckets]
    assert contents == [[3], [2], [1, 0]]  # reverse order; float64 apart; the 400-byte one alone


# ---- the sampler -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n, p", [(10, 3), (12, 4), (2, 5), (7, 2)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_without_shuffle_matches_torch(n, p, drop_last):
    torch = pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for rank in range(p):
        ours = dist.DistributedSampler(range(n), num_replicas=p, rank=rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(torch.arange(n), num_replicas=p, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


@pytest.mark.parametrize("n, p", [(10, 3), (12, 4), (2, 5)])
def test_shuffled_sampler_partitions_the_padded_order_and_changes_with_the_epoch(n, p):
    samplers = [dist.DistributedSampler(range(n), num_replicas=p, rank=r, seed=5) for r in range(p)]
    shares = [list(s) for s in samplers]
    assert {len(s) for s in shares} == {-(-n // p)}
    assert sorted(sum(shares, [])) == sorted(samplers[0].order().tolist())
    assert set(sum(shares, [])) == set(range(n))
    for s in samplers:
        s.set_epoch(1)
    assert [list(s) for s in samplers] != shares or n < 3
    assert list(dist.DistributedSampler(range(n), num_replicas=p, rank=0, seed=5)) == shares[0]


def test_sampler_checks_its_arguments(local):
    assert (dist.DistributedSampler(range(4)).num_replicas, dist.DistributedSampler(range(4)).rank) == (1, 0)
    with pytest.raises(ValueError, match=r"invalid rank 2, rank should be in the interval \[0, 1\]"):
        dist.DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(TypeError, match="num_replicas must be an integer"):
        dist.DistributedSampler(range(4), num_replicas=2.0, rank=0)


def test_shard_dataset_feeds_a_dataloader():
    from minidl.data import DataLoader, TensorDataset

    data = TensorDataset(minidl.arange(10), minidl.arange(10) * 2)
    sampler = dist.DistributedSampler(data, num_replicas=2, rank=1, shuffle=False)
    batches = list(DataLoader(dist.shard_dataset(data, sampler), batch_size=5))
    np.testing.assert_array_equal(batches[0][0].array, [1, 3, 5, 7, 9])


# ---- Keras ----------------------------------------------------------------------------------------
def test_keras_distributed_optimizer_keeps_the_class_name_and_config(local):
    from minidl import keras
    from minidl.distributed import keras as dist_keras

    opt = dist_keras.DistributedOptimizer(keras.optimizers.Adam(0.01, beta_1=0.8, clipnorm=1.0))
    assert type(opt).__name__ == "Adam" and isinstance(opt, keras.optimizers.Adam)
    assert keras.optimizers.serialize(opt)["class_name"] == "Adam"
    assert opt.get_config()["beta_1"] == 0.8 and opt.clipnorm == 1.0
    decay = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    scheduled = dist_keras.DistributedOptimizer(keras.optimizers.SGD(decay))
    w = minidl.ones(2, requires_grad=True)
    for _ in range(2):  # apply_gradients goes through step(): averaged (over one rank), then the update
        scheduled.apply_gradients([(minidl.ones(2), w)])
    np.testing.assert_allclose(w.array, 1 - 0.1 - 0.05)
    built = keras.optimizers.SGD()
    built.build([minidl.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="before it is built"):
        dist_keras.DistributedOptimizer(built)


def test_keras_shard_takes_every_pth_row_padded():
    from minidl.distributed import keras as dist_keras

    x, y = np.arange(10).reshape(5, 2), np.arange(5)
    x1, y1 = dist_keras.shard(x, y, num_replicas=2, rank=1)
    np.testing.assert_array_equal(y1, [1, 3, 0])  # ⌈5/2⌉ = 3 rows, the order padded with its start
    np.testing.assert_array_equal(x1, x[[1, 3, 0]])
    with pytest.raises(ValueError, match="array 1 has 4 rows, array 0 has 5"):
        dist_keras.shard(x, y[:4], num_replicas=2, rank=0)


def test_ring_cost_model():
    assert dist.ring_cost(1000, 1, 1e-5, 1e-9) == 0.0
    np.testing.assert_allclose(dist.ring_cost(1000, [2, 4], 1e-5, 1e-9), [2e-5 + 1e-6, 6e-5 + 1.5e-6])


def test_mpiexec_command_allows_oversubscription_with_open_mpi(tmp_path):
    fake = tmp_path / "mpiexec"
    fake.write_text("#!/bin/sh\necho 'mpiexec (Open MPI) 5.0.11'\n")
    fake.chmod(0o755)
    cmd = dist.mpiexec_command(3, "python", "x.py", mpiexec=str(fake))
    assert cmd[:3] == [str(fake), "-n", "3"] and "--oversubscribe" in cmd and cmd[-2:] == ["python", "x.py"]


# ---- measurements ---------------------------------------------------------------------------------
def test_fit_alpha_beta_recovers_the_line_and_keeps_alpha_nonnegative():
    from minidl.distributed.measure import fit_alpha_beta

    n = np.array([1, 16, 256, 4096, 65536, 2**20], dtype=float)
    alpha, beta = fit_alpha_beta(n, 3e-6 + 1e-10 * n)
    np.testing.assert_allclose([alpha, beta], [3e-6, 1e-10], rtol=1e-6)
    t = 1e-10 * n * np.where(n < 300, 0.5, 1.0)  # small messages cheaper per byte: the line's intercept < 0
    assert np.polyfit(n, t, 1, w=1 / t)[1] < 0
    alpha, beta = fit_alpha_beta(n, t)
    assert alpha == 0.0 and beta == pytest.approx(np.median(t / n))


def test_measure_runs_a_training_step_in_one_plain_process():
    from minidl.distributed import measure

    out = measure.run(1, fast=True, model="mlp", batch=8, what=("train",), timeout=120)
    train = out["train"]
    assert out["world_size"] == 1 and "exchange" not in out
    assert train["parameters"] == 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10 and train["buckets"] == 1
    assert train["batch"] == 8 and train["allreduce_s"] == 0.0  # one rank: nothing to reduce
