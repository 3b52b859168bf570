"""What tests/test_torch_distributed.py trains, in the launched ranks and in the
single process it compares them with: one small float64 model per rule, its
global batch, the loss and the hyperparameters."""

import torch

import pyoptim.torch as pt

STEPS = 8
BATCH = 16
# Hyperparameters that make each rule do more than its defaults do (momentum, decay).
HYPER = {
    "SGD": dict(lr=0.05, momentum=0.9, weight_decay=0.01),
    "Adam": dict(lr=0.01, weight_decay=0.01),
    "AdamW": dict(lr=0.01),
    "RMSprop": dict(lr=0.01, momentum=0.5),
    "LBFGS": dict(lr=0.5, line_search_fn="strong_wolfe"),
    "Muon": dict(lr=0.02),
    "SparseAdam": dict(lr=0.05),
}


def rules() -> dict:
    """Every rule pyoptim.torch has: {name: class}."""
    return {name: getattr(pt, name) for name in pt.__all__ if name != "PyoptimTorchOptimizer"}


def shardable(rule: str) -> bool:
    """Whether ZeroRedundancyOptimizer can drive the rule. A closure-driven rule
    (LBFGS) cannot, with torch's class as with pyoptim's: each rank's line search
    over its own shard would evaluate the closure (and so run DDP's collectives) a
    different number of times."""
    return not rules()[rule].rule_class.closure_driven


def model(rule: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if rules()[rule].rule_class.row_sparse:  # SparseAdam: an embedding table with sparse gradients
        return torch.nn.Embedding(24, 3, sparse=True).double()
    bias = not _matrices_only(rule)  # Muon steps matrices only
    return torch.nn.Sequential(torch.nn.Linear(7, 6, bias=bias), torch.nn.Tanh(),
                               torch.nn.Linear(6, 3, bias=bias)).double()


def _matrices_only(rule: str) -> bool:
    try:
        rules()[rule].rule_class.check_param_shape((3,), "params")
    except ValueError:
        return True
    return False


def batch(rule: str) -> tuple:
    gen = torch.Generator().manual_seed(1)
    if rules()[rule].rule_class.row_sparse:
        x = torch.randint(0, 24, (BATCH,), generator=gen)
    else:
        x = torch.randn(BATCH, 7, generator=gen, dtype=torch.float64)
    return x, torch.randn(BATCH, 3, generator=gen, dtype=torch.float64)


def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((output - target) ** 2).mean()


def step(optimizer, forward, mean_over_ranks=lambda value: value) -> None:
    """One training step: zero_grad, backward, step; through a closure for a
    closure-driven rule, whose returned loss is the mean over the ranks (so that
    every rank's line search takes the same decisions)."""
    if getattr(getattr(optimizer, "rule_class", None), "closure_driven", False):
        def closure():
            optimizer.zero_grad()
            value = forward()
            value.backward()
            return mean_over_ranks(value.detach())
        optimizer.step(closure)
        return
    optimizer.zero_grad()
    forward().backward()
    optimizer.step()
