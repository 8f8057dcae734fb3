"""Data-parallel training on several processes, with ``torch.distributed``'s names.

    mpiexec -n 2 python train.py        # two processes; each runs the same script

    import minidl.distributed as dist
    dist.init_process_group(backend="mpi")             # or "local": one process, no MPI needed
    model = dist.DistributedDataParallel(model)        # rank 0's parameters everywhere
    sampler = dist.DistributedSampler(dataset)         # this rank's share of the samples
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in DataLoader(dist.shard_dataset(dataset, sampler), batch_size=B // dist.get_world_size()):
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            model.reduce_gradients()                   # gradients averaged over the ranks
            optimizer.step()

- ``process_group``: ``init_process_group``, ``get_rank``, ``get_world_size``, ``barrier``, ...
- ``collectives``: ``all_reduce``, ``broadcast``, ``all_gather``, ``reduce_scatter`` on Tensors and
  arrays, through mpi4py's buffer interface (no pickle);
- ``ring``: ``ring_all_reduce``, the ring algorithm written out, and its cost model;
- ``ddp``: ``DistributedDataParallel``; ``sampler``: ``DistributedSampler``;
- ``keras``: ``DistributedOptimizer``, ``BroadcastParameters``, ``MetricAverage``, ``shard`` for
  ``Model.fit`` (``import minidl.distributed.keras``);
- ``measure``: α, β and training throughput, ``python -m minidl.distributed.measure``.

The MPI backend needs the optional extra ``minidl[distributed]`` (mpi4py and Open MPI from PyPI;
``mpiexec`` lands beside the environment's ``python``). Without it this package still imports,
``backend="local"`` works, and ``backend="mpi"`` raises an ImportError naming the extra.
Notebook: notebooks/11_distributed.ipynb.
"""

from .collectives import (
    all_gather,
    all_gather_into_tensor,
    all_reduce,
    broadcast,
    reduce_scatter,
    reduce_scatter_tensor,
)
from .ddp import DistributedDataParallel, GradientReducer, broadcast_parameters
from .process_group import (
    ReduceOp,
    barrier,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    mpi_available,
    mpiexec_command,
    mpiexec_path,
    run_mpiexec,
)
from .ring import ring_all_reduce, ring_cost
from .sampler import DistributedSampler, shard_dataset

__all__ = [
    "DistributedDataParallel", "DistributedSampler", "GradientReducer", "ReduceOp", "all_gather",
    "all_gather_into_tensor", "all_reduce", "barrier", "broadcast", "broadcast_parameters", "destroy_process_group",
    "get_backend", "get_rank", "get_world_size", "init_process_group", "is_available", "is_initialized",
    "mpi_available", "mpiexec_command", "mpiexec_path", "reduce_scatter", "reduce_scatter_tensor",
    "ring_all_reduce", "ring_cost", "run_mpiexec", "shard_dataset",
]
