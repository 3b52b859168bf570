"""One rank of tests/test_torch_distributed.py, started by torch's own launcher
(``python -m torch.distributed.run --nproc-per-node 2 --standalone``).

For every rule of pyoptim.torch it trains the same small float64 model with
DistributedDataParallel (gloo, CPU; each rank holds half of the global batch)
under three optimizers: the plain pyoptim.torch class, ZeroRedundancyOptimizer
over the pyoptim.torch class, and ZeroRedundancyOptimizer over torch.optim's
class of the same name where torch has one. Rank 0 saves every final parameter
list and the consolidated ZeRO state_dict to ``<out>/results.pt``.
"""

import contextlib
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rule_cases  # noqa: E402
import torch_distributed_cases as cases  # noqa: E402


def train(rule: str, make_optimizer, rank: int, world: int) -> tuple:
    model = cases.model(rule)
    ddp = DistributedDataParallel(model)
    optimizer = make_optimizer(ddp.parameters())
    x, y = cases.batch(rule)
    share = slice(rank * len(x) // world, (rank + 1) * len(x) // world)
    def mean_over_ranks(value):
        dist.all_reduce(value)
        return value / world

    for _ in range(cases.STEPS):  # DDP's backward averages the gradients over the ranks
        cases.step(optimizer, lambda: cases.loss(ddp(x[share]), y[share]), mean_over_ranks)
    state = None
    if isinstance(optimizer, ZeroRedundancyOptimizer):
        optimizer.consolidate_state_dict(to=0)
        if rank == 0:
            state = optimizer.state_dict()
    return [p.detach().clone() for p in model.parameters()], state


def main() -> None:
    out = Path(sys.argv[1])
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)
    results = {}
    for rule, cls in cases.rules().items():
        hyper = cases.HYPER.get(rule, {})
        contenders = {"ddp": lambda params: cls(params, **hyper)}
        if cases.shardable(rule):
            contenders["zero"] = lambda params: ZeroRedundancyOptimizer(params, optimizer_class=cls, **hyper)
            twin = getattr(torch.optim, cls.twin or "", None) if cls.twin else None
            if twin is not None:
                contenders["zero torch"] = lambda params: ZeroRedundancyOptimizer(params, optimizer_class=twin,
                                                                                  **hyper)
        for name, make in contenders.items():
            with rule_cases.torch_in_params_dtype(rule) if name == "zero torch" else contextlib.nullcontext():
                results[rule, name] = train(rule, make, rank, world)
    if rank == 0:
        torch.save(results, out / "results.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
