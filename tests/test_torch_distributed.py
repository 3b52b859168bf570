"""pyoptim.torch under torch.distributed: DistributedDataParallel and
ZeroRedundancyOptimizer (gloo on loopback, 2 ranks started by torch's own
launcher) with every pyoptim.torch rule, against the same training in one
process and against ZeroRedundancyOptimizer over torch.optim's class."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("this torch build has no gloo backend", allow_module_level=True)

import torch_distributed_cases as cases  # noqa: E402

HERE = Path(__file__).resolve().parent
RANKS = 2


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("torch_distributed")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          f"--nproc-per-node={RANKS}", str(HERE / "torch_distributed_worker.py"), str(out)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return torch.load(out / "results.pt", weights_only=True)


def single_process(rule: str):
    """The same steps in one process over the whole global batch."""
    model = cases.model(rule)
    optimizer = cases.rules()[rule](model.parameters(), **cases.HYPER.get(rule, {}))
    x, y = cases.batch(rule)
    for _ in range(cases.STEPS):
        cases.step(optimizer, lambda: cases.loss(model(x), y))
    return model, optimizer


def assert_close(actual: list, expected: list, rtol: float) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        scale = e.abs().max().item() or 1.0
        assert (a - e).abs().max().item() <= rtol * scale, (a, e)


@pytest.mark.parametrize("rule", list(cases.rules()))
def test_ddp_matches_one_process(results, rule):
    model, _ = single_process(rule)
    expected = [p.detach() for p in model.parameters()]
    ddp, _ = results[rule, "ddp"]
    # DDP averages two half-batch means: the same gradient as one process's mean, up to
    # rounding, which LBFGS's curvature pairs (differences of nearby gradients) magnify.
    assert_close(ddp, expected, 1e-6 if cases.rules()[rule].rule_class.closure_driven else 1e-9)
    assert any(not torch.equal(p, q) for p, q in zip(expected, [p.detach() for p in cases.model(rule).parameters()]))


@pytest.mark.parametrize("rule", [r for r in cases.rules() if cases.shardable(r)])
def test_zero_redundancy_optimizer(results, rule):
    ddp, _ = results[rule, "ddp"]
    zero, state = results[rule, "zero"]
    # Each parameter is stepped on the rank that owns it with the same gradient, then broadcast.
    for a, b in zip(zero, ddp):
        assert torch.equal(a, b)
    if cases.rules()[rule].twin:
        twin, _ = results[rule, "zero torch"]
        assert_close(zero, twin, 1e-10)
    # The state consolidated on rank 0 is the one-process optimizer's state: it loads there.
    model, reference = single_process(rule)
    loaded = cases.rules()[rule](model.parameters(), **cases.HYPER.get(rule, {}))
    loaded.load_state_dict(state)
    for p in model.parameters():
        mine, theirs = loaded.state[p], reference.state[p]
        assert mine.keys() == theirs.keys()
        for key in mine:
            if isinstance(theirs[key], torch.Tensor):
                assert_close([mine[key].reshape(-1)], [theirs[key].reshape(-1)], 1e-9)
            else:  # SparseAdam's step count, a Python int as in torch
                assert mine[key] == theirs[key]

