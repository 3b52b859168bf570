"""End to end: seconds per training epoch on MNIST (forward, loss, backward and
update) with pyoptim's training loop and with PyTorch, same network, optimizer
(Adam, lr 1e-3; torch with fused=True), batch size and threads; and the test
accuracy each reaches."""

import time

import numpy as np
import pytest

import pyoptim
from pyoptim import nn, train

EPOCHS = 3  # timed epochs per run; the median is reported
MODELS = {"mlp 784-128-10": (128,), "logistic regression": ()}


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return train.load_mnist_splits(mnist_dir)


def pyoptim_run(data, test, hidden, batch, threads):
    pyoptim.set_num_threads(threads)
    net = nn.mlp(784, hidden, 10) if hidden else nn.logistic_regression(784, 10)
    opt = pyoptim.Adam(net.parameters(), lr=1e-3)
    history = train.fit(net, opt, data, epochs=EPOCHS, batch_size=batch, seed=0)
    return history.train_seconds, net.evaluate(test.x, test.y)[1]


def torch_run(data, test, hidden, batch, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    sizes = (784, *hidden, 10)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y.astype(np.int64))
    generator = torch.Generator().manual_seed(0)
    seconds = []
    for _ in range(EPOCHS):
        start = time.perf_counter()
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), batch):
            index = order[i:i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[index]), y[index])
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        accuracy = (net(torch.from_numpy(test.x)).argmax(1).numpy() == test.y).mean()
    return seconds, float(accuracy)


@pytest.mark.parametrize("impl", ["pyoptim", "torch"])
@pytest.mark.parametrize("threads", [2])
@pytest.mark.parametrize("batch", [32, 128])
@pytest.mark.parametrize("model", list(MODELS))
def test_epoch(benchmark, mnist, model, batch, threads, impl):
    if impl == "torch":
        pytest.importorskip("torch")
    data, test = mnist
    run = pyoptim_run if impl == "pyoptim" else torch_run
    result = {}

    def one_run():
        result["seconds"], result["accuracy"] = run(data, test, MODELS[model], batch, threads)

    benchmark.pedantic(one_run, rounds=1, iterations=1)
    # The stats pytest-benchmark keeps are of the whole run; the per-epoch median goes in extra_info.
    benchmark.extra_info.update(kind="mnist", model=model, batch=batch, threads=threads, impl=impl,
                                epoch_seconds=float(np.median(result["seconds"])), accuracy=result["accuracy"],
                                epochs=EPOCHS)
