"""End to end from PyTorch: a torch MLP on MNIST (torch autograd, a plain loop
over shuffled index slices), trained with pyoptim.torch.Adam, with
torch.optim.Adam(fused=True) and with torch's default Adam, same initial
weights, data order, batch size and threads; epochs alternate between the
three. Seconds per epoch, the time inside optimizer.step (the optimizer's share
of the epoch), and the test accuracy each reaches. In the IEEE mode (the
default of both libraries) and with denormals flushed to zero
(pyoptim.set_flush_denormal and torch.set_flush_denormal, see test_denormals.py)."""

import time

import numpy as np
import pytest

from pyoptim import train

torch = pytest.importorskip("torch")
import pyoptim.torch as pt  # noqa: E402

MODELS = {"mlp 784-128-10": (128,), "mlp 784-1024-1024-10": (1024, 1024)}
EPOCHS = {"mlp 784-128-10": 4, "mlp 784-1024-1024-10": 2}  # alternating epochs per optimizer
CONFIGURATIONS = [("mlp 784-128-10", batch, mode) for batch in (32, 128) for mode in ("IEEE", "flushed")] + [
    ("mlp 784-1024-1024-10", 32, "IEEE"), ("mlp 784-1024-1024-10", 128, "IEEE"),
    ("mlp 784-1024-1024-10", 128, "flushed")]
OPTIMIZERS = {
    "pyoptim.torch.Adam": lambda params: pt.Adam(params, lr=1e-3),
    "torch Adam fused": lambda params: torch.optim.Adam(params, lr=1e-3, fused=True),
    "torch Adam default": lambda params: torch.optim.Adam(params, lr=1e-3),
}


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return train.load_mnist_splits(mnist_dir)


class Run:
    def __init__(self, data, hidden, batch, make_optimizer):
        torch.manual_seed(0)
        sizes = (784, *hidden, 10)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.net = torch.nn.Sequential(*layers)
        self.opt = make_optimizer(self.net.parameters())
        self.x, self.y = torch.from_numpy(data.x), torch.from_numpy(data.y.astype(np.int64))
        self.generator = torch.Generator().manual_seed(0)
        self.batch = batch

    def epoch(self) -> tuple:
        """(seconds for the epoch, seconds of it inside optimizer.step)."""
        net, opt, batch, clock = self.net, self.opt, self.batch, time.perf_counter
        in_step = 0.0
        start = clock()
        order = torch.randperm(len(self.x), generator=self.generator)
        for i in range(0, len(self.x), batch):
            index = order[i:i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(self.x[index]), self.y[index])
            loss.backward()
            before = clock()
            opt.step()
            in_step += clock() - before
        return clock() - start, in_step

    def accuracy(self, test) -> float:
        with torch.no_grad():
            predicted = self.net(torch.from_numpy(test.x)).argmax(1).numpy()
        return float((predicted == test.y).mean())


@pytest.mark.parametrize("threads", [2])
@pytest.mark.parametrize("model,batch,mode", CONFIGURATIONS)
def test_torch_epoch(benchmark, mnist, model, batch, mode, threads):
    import pyoptim

    data, test = mnist
    pyoptim.set_num_threads(threads)
    torch.set_num_threads(threads)
    flush = mode == "flushed"
    pyoptim.set_flush_denormal(flush)
    torch.set_flush_denormal(flush)
    runs = {name: Run(data, MODELS[model], batch, make) for name, make in OPTIMIZERS.items()}
    seconds = {name: [] for name in runs}
    in_step = {name: [] for name in runs}

    def alternate():
        for _ in range(EPOCHS[model]):
            for name, run in runs.items():
                total, step = run.epoch()
                seconds[name].append(total)
                in_step[name].append(step)

    try:
        benchmark.pedantic(alternate, rounds=1, iterations=1)
    finally:
        pyoptim.set_flush_denormal(False)
        torch.set_flush_denormal(False)
    ours = np.array(seconds["pyoptim.torch.Adam"])
    info = dict(kind="mnist_torch", model=model, batch=batch, mode=mode, threads=threads, epochs=EPOCHS[model],
                seconds={n: float(np.median(s)) for n, s in seconds.items()},
                step_seconds={n: float(np.median(s)) for n, s in in_step.items()},
                step_share={n: float(np.median(np.array(in_step[n]) / np.array(seconds[n]))) for n in runs},
                accuracy={n: run.accuracy(test) for n, run in runs.items()},
                speedup={n: float(np.median(np.array(s) / ours)) for n, s in seconds.items()},
                step_speedup={n: float(np.median(np.array(s) / np.array(in_step["pyoptim.torch.Adam"])))
                              for n, s in in_step.items()})
    benchmark.extra_info.update(info)
