"""Denormals in a real run: a torch MLP 784-128-10 trained one epoch on MNIST
(batch 32) with pyoptim.torch.Adam; then the share of its Adam first moments
that are denormal, and one step from that state in the IEEE mode (the default
of pyoptim and torch) and with denormals flushed (pyoptim.set_flush_denormal,
torch.set_flush_denormal), for pyoptim.torch and torch's fused Adam, in
alternating blocks. Single thread, where the step is the whole story."""

import copy

import numpy as np
import pytest

import pyoptim
from pyoptim import train
from timing import block_medians, median_ratio

torch = pytest.importorskip("torch")
import pyoptim.torch as pt  # noqa: E402

BLOCKS, PER_BLOCK = 7, 30


def test_denormals_after_one_epoch(benchmark, mnist_dir):
    data, _ = train.load_mnist_splits(mnist_dir)
    pyoptim.set_num_threads(1)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = pt.Adam(net.parameters(), lr=1e-3)
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y.astype(np.int64))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    for i in range(0, len(x), 32):
        index = order[i:i + 32]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x[index]), y[index]).backward()
        opt.step()
    moments = torch.cat([opt.state[p]["exp_avg"].flatten() for p in net.parameters()])
    tiny = torch.finfo(torch.float32).tiny
    denormal = float(((moments != 0) & (moments.abs() < tiny)).float().mean())

    snapshot = copy.deepcopy(opt.state_dict())
    grads = [p.grad.clone() for p in net.parameters()]

    def from_snapshot(make):
        """An optimizer over copies of the trained parameters, in the trained state."""
        params = [p.detach().clone().requires_grad_() for p in net.parameters()]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        optimizer = make(params)
        optimizer.load_state_dict(copy.deepcopy(snapshot))
        return optimizer.step

    def ieee():
        pyoptim.set_flush_denormal(False)
        torch.set_flush_denormal(False)

    def flushing():
        pyoptim.set_flush_denormal(True)
        torch.set_flush_denormal(True)

    ours = lambda params: pt.Adam(params, lr=1e-3)  # noqa: E731
    fused = lambda params: torch.optim.Adam(params, lr=1e-3, fused=True)  # noqa: E731
    steps = {"pyoptim.torch IEEE": from_snapshot(ours), "pyoptim.torch flushed": from_snapshot(ours),
             "torch fused IEEE": from_snapshot(fused), "torch fused flushed": from_snapshot(fused)}
    prepare = {name: (flushing if "flushed" in name else ieee) for name in steps}
    blocks = {}

    def measure():
        try:
            blocks.update(block_medians(steps, BLOCKS, PER_BLOCK, prepare))
        finally:
            ieee()

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(
        kind="denormals", denormal_share=denormal, blocks=BLOCKS,
        seconds={name: float(np.median(t)) for name, t in blocks.items()},
        slowdown={"pyoptim.torch": median_ratio(blocks, "pyoptim.torch IEEE", "pyoptim.torch flushed"),
                  "torch fused": median_ratio(blocks, "torch fused IEEE", "torch fused flushed")})
