"""End to end: seconds per training epoch on MNIST (forward, loss, backward and
update) with pyoptim's training loop and with PyTorch, same network, optimizer
(Adam, lr 1e-3; torch with fused=True), batch size and threads, epochs
alternating between the two so that both see the same machine; and the test
accuracy each reaches."""

import time

import numpy as np
import pytest

import pyoptim
from pyoptim import nn, train

EPOCHS = 5  # alternating epochs per framework; medians are reported
MODELS = {"mlp 784-128-10": (128,), "logistic regression": ()}


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return train.load_mnist_splits(mnist_dir)


class PyoptimRun:
    def __init__(self, data, hidden, batch, threads):
        pyoptim.set_num_threads(threads)
        self.net = nn.mlp(784, hidden, 10) if hidden else nn.logistic_regression(784, 10)
        self.opt = pyoptim.Adam(self.net.parameters(), lr=1e-3)
        self.data, self.batch, self.epochs = data, batch, 0

    def epoch(self) -> float:
        self.epochs += 1
        history = train.fit(self.net, self.opt, self.data, epochs=1, batch_size=self.batch, seed=self.epochs)
        return history.train_seconds[0]

    def accuracy(self, test) -> float:
        return self.net.evaluate(test.x, test.y)[1]


class TorchRun:
    def __init__(self, data, hidden, batch, threads):
        import torch

        self.torch = torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        sizes = (784, *hidden, 10)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.net = torch.nn.Sequential(*layers)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3, fused=True)
        self.x, self.y = torch.from_numpy(data.x), torch.from_numpy(data.y.astype(np.int64))
        self.generator = torch.Generator().manual_seed(0)
        self.batch = batch

    def epoch(self) -> float:
        torch, batch = self.torch, self.batch
        start = time.perf_counter()
        order = torch.randperm(len(self.x), generator=self.generator)
        for i in range(0, len(self.x), batch):
            index = order[i:i + batch]
            self.opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.net(self.x[index]), self.y[index])
            loss.backward()
            self.opt.step()
        return time.perf_counter() - start

    def accuracy(self, test) -> float:
        with self.torch.no_grad():
            predicted = self.net(self.torch.from_numpy(test.x)).argmax(1).numpy()
        return float((predicted == test.y).mean())


@pytest.mark.parametrize("threads", [2])
@pytest.mark.parametrize("batch", [32, 128])
@pytest.mark.parametrize("model", list(MODELS))
def test_epoch(benchmark, mnist, model, batch, threads):
    data, test = mnist
    runs = {"pyoptim": PyoptimRun(data, MODELS[model], batch, threads)}
    try:
        runs["torch"] = TorchRun(data, MODELS[model], batch, threads)
    except ImportError:
        pass
    seconds = {name: [] for name in runs}

    def alternate():
        for _ in range(EPOCHS):
            for name, run in runs.items():
                seconds[name].append(run.epoch())

    benchmark.pedantic(alternate, rounds=1, iterations=1)
    info = dict(kind="mnist", model=model, batch=batch, threads=threads, epochs=EPOCHS)
    for name, run in runs.items():
        info[f"{name}_seconds"] = float(np.median(seconds[name]))
        info[f"{name}_accuracy"] = run.accuracy(test)
    if "torch" in runs:
        info["speedup"] = float(np.median(np.array(seconds["torch"]) / np.array(seconds["pyoptim"])))
    benchmark.extra_info.update(info)
