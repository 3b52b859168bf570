"""What tests/test_distributed.py trains, under mpiexec (tests/mpi_worker.py) and in
one process: a small float64 MLP, seeded global batches, the rules and options."""

import numpy as np

import pyoptim
from pyoptim import distributed, nn

STEPS = 6
BATCH = 12  # global batch: 6 rows a rank with 2 ranks
def _shardable(cls) -> bool:
    try:
        distributed.check_shardable(cls)
    except ValueError:
        return False
    return True


# (label, optimizer, hyperparameters, gradient policy): every rule a slice can step
# alone, and each gradient policy.
HYPER = {"SGD": {"lr": 0.05, "momentum": 0.9}, "Adam": {"lr": 0.01}, "ASGD": {"lr": 0.05}}
RUNS = [(name, name, HYPER.get(name, {}), {}) for name, cls in pyoptim.Optimizer.registry.items() if _shardable(cls)]
RUNS += [
    ("Adam, clipped by norm", "Adam", {"lr": 0.01}, {"max_norm": 0.05}),
    ("SGD, clipped by value", "SGD", {"lr": 0.05, "momentum": 0.9}, {"clip_value": 0.01}),
    ("Adam, skipping a non-finite step", "Adam", {"lr": 0.01}, {"skip_nonfinite": True}),
]
NONFINITE_STEP = 3  # the skipping run's gradient holds a NaN at this step (on the last rank)


def model() -> nn.Sequential:
    return nn.mlp(6, (5,), 3, activation="tanh", dtype=np.float64, seed=0)


def batches() -> list:
    rng = np.random.default_rng(3)
    return [(rng.standard_normal((BATCH, 6)), rng.integers(0, 3, BATCH)) for _ in range(STEPS)]
