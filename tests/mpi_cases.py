"""What tests/test_distributed.py trains, under mpiexec (tests/mpi_worker.py) and in
one process: a small float64 MLP, seeded global batches, the rules and options."""

import numpy as np

import pyoptim
from pyoptim import distributed, nn

STEPS = 6
BATCH = 12  # global batch: 6 rows a rank with 2 ranks
def _shardable(cls) -> bool:
    """Whether ShardedOptimizer steps the rule over this MLP: not LBFGS (a closure), not
    Muon (matrices only: the model has biases)."""
    try:
        distributed.check_shardable(cls)
        cls.check_param_shape((3,), "a bias")
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
    ("LAMB (whole tensors a rank), clipped by norm", "LAMB", {"lr": 0.01}, {"max_norm": 0.05}),
]
NONFINITE_STEP = 3  # the skipping run's gradient holds a NaN at this step (on the last rank)


def model() -> nn.Sequential:
    return nn.mlp(6, (5,), 3, activation="tanh", dtype=np.float64, seed=0)


def batches() -> list:
    rng = np.random.default_rng(3)
    return [(rng.standard_normal((BATCH, 6)), rng.integers(0, 3, BATCH)) for _ in range(STEPS)]


EPOCHS = 4
FIT = dict(batch_size=16, seed=5, early_stopping_patience=3)


def fit_data():
    from pyoptim import train

    rng = np.random.default_rng(11)
    x = rng.standard_normal((120, 6))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return train.Split(x[:96], y[:96]), train.Split(x[96:], y[96:])


def fit_run(optimizer_of, epochs, checkpoint=None, resume=False):
    """fit() of the MLP with Adam and a cosine schedule; optimizer_of(model) builds
    the optimizer (ShardedOptimizer or one process's), whose local optimizer the
    schedule edits."""
    from pyoptim import train

    data, validation = fit_data()
    net = model()
    opt = optimizer_of(net)
    scheduler = train.make_scheduler("cosine", getattr(opt, "optimizer", opt), epochs=EPOCHS)
    history = train.fit(net, opt, data, epochs=epochs, validation=validation, scheduler=scheduler,
                        checkpoint=checkpoint, resume=resume, **FIT)
    return net, opt, history
