"""From PyTorch: one step of pyoptim.torch against the NumPy API on the same
tensors and against torch.optim (fused=True where torch has a fused CPU kernel,
else torch's default, the for-loop), every rule, float32, 1 and 2 threads, with
the same gradient tensors every step ("same grads") and with new ones every step
("new grads", what zero_grad(set_to_none=True) and backward hand over: other
tensor objects, here over the same memory, so that both modes read warm
gradients as a step after backward does). Times from many short alternating
blocks; ratios are medians of per-block ratios. Where torch has the rule, the
memory-roof kernel over the same arrays runs in the blocks too: torch's time
over the roof's is the speed-up over torch that the machine allows. And the
NumPy API's step followed by the reads of each parameter's gradient that any
step from PyTorch must make: its time over the NumPy API's bounds how close
pyoptim.torch can come to it."""

import numpy as np
import pytest

import pyoptim
from contenders import hyper, roof_step, rules
from test_overhead import MODEL_SIZES
from timing import block_medians, median_ratio

torch = pytest.importorskip("torch")
import pyoptim.torch as pt  # noqa: E402

CASES = {"16 elements": [16], "200 tensors": MODEL_SIZES, "1M": [1 << 20], "16M": [1 << 24]}
# Short blocks, many of them: the contenders take turns often, so that a burst of
# the machine's load (it is shared) falls on all of them alike.
BLOCKS = {"16 elements": 60, "200 tensors": 40, "1M": 30, "16M": 15}
PER_BLOCK = {"16 elements": 20, "200 tensors": 2, "1M": 2, "16M": 1}
TORCH_FUSED = {"SGD", "Adam", "AdamW", "Adagrad"}  # rules with a fused CPU kernel in torch


def torch_contender(rule: str, params: list):
    """torch.optim's own step for `rule` (fused where torch has it), and its name."""
    if not hasattr(torch.optim, rule):
        return None, None
    kind = "fused" if rule in TORCH_FUSED else "for-loop"
    extra = {"fused": True} if kind == "fused" else {"foreach": False}
    return getattr(torch.optim, rule)(params, **hyper(rule), **extra), kind


@pytest.mark.parametrize("grads", ["same grads", "new grads"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("rule", rules())
def test_from_pytorch(benchmark, rule, case, threads, grads):
    if pyoptim.Optimizer.registry[rule].row_sparse:
        pytest.skip(f"{rule} takes sparse gradients: bench/test_sparse.py races it on an embedding")
    pyoptim.set_num_threads(threads)
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    sizes = CASES[case]
    params = [torch.randn(n, generator=gen) for n in sizes]
    gradients = [torch.randn(n, generator=gen) * 0.01 for n in sizes]
    pools = [gradients, [g.view(g.shape) for g in gradients]]  # other tensor objects, the same memory
    for p, g in zip(params, pools[0]):
        p.grad = g
    numpy_api = pyoptim.Optimizer.registry[rule]([(p.numpy(), g.numpy()) for p, g in zip(params, pools[0])],
                                                 **hyper(rule))
    ours = getattr(pt, rule)(params, **hyper(rule))
    theirs, torch_kind = torch_contender(rule, params)
    def numpy_api_and_reads():
        # The NumPy API's step plus what any step from PyTorch must read of each parameter
        # at least: its .grad, and the gradient's address, size and layout (after the last
        # kernel pass these are out of the caches). An upper estimate of that floor: the
        # Python loop adds its own ~0.1 µs a parameter.
        numpy_api.step()
        for p in params:
            g = p.grad
            g.data_ptr(), g.numel(), g.is_contiguous()

    steps = {"numpy api": numpy_api.step, "pyoptim.torch": ours.step, "numpy api + reads": numpy_api_and_reads}
    if theirs is not None:
        steps["torch"] = theirs.step
        # The memory-roof kernel over the same parameters and gradients and state arrays
        # of its own (as every contender has: shared with another, they would be warm in
        # the cache for the one running after it): the fastest any step of the rule could
        # be, so torch's time over it bounds the speed-up over torch.
        steps["roof"] = roof_step(pyoptim.Optimizer.registry[rule](
            [(p.numpy(), g.numpy()) for p, g in zip(params, pools[0])], **hyper(rule)))
    turn = [0]

    def new_grads():  # other tensor objects than at the last step, as autograd hands over
        turn[0] ^= 1
        for p, g in zip(params, pools[turn[0]]):
            p.grad = g

    def same_grads():
        for p, g in zip(params, pools[0]):
            p.grad = g

    refill = new_grads if grads == "new grads" else same_grads
    prepare = {"pyoptim.torch": refill, "torch": refill, "numpy api + reads": refill}
    for name, step in steps.items():  # warm up: state, plans, thread pools
        prepare.get(name, lambda: None)()
        step()
    blocks = {}

    def measure():
        blocks.update(block_medians(steps, BLOCKS[case], PER_BLOCK[case], prepare))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    info = dict(kind="torch", rule=rule, case=case, threads=threads, grads=grads, blocks=BLOCKS[case],
                elements=int(sum(sizes)), tensors=len(sizes), torch_kind=torch_kind,
                seconds={name: float(np.median(t)) for name, t in blocks.items()},
                torch_vs_numpy=median_ratio(blocks, "pyoptim.torch", "numpy api"),
                reads_vs_numpy=median_ratio(blocks, "numpy api + reads", "numpy api"))
    if "torch" in blocks:
        info["speedup_vs_torch"] = median_ratio(blocks, "torch", "pyoptim.torch")
        info["speedup_vs_torch_at_roof"] = median_ratio(blocks, "torch", "roof")
    benchmark.extra_info.update(info)
