"""Shared fixtures and marker registration."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path
from typing import NamedTuple

import pytest

MARKERS = {
    "slow": "long-running tests (run with -m slow)",
    "network": "reaches the internet (PyPI); runs only with PYOPTIM_NETWORK_TESTS=1",
}


def pytest_configure(config: pytest.Config) -> None:
    registered = {line.split(":")[0].strip() for line in config.getini("markers")}
    for name, description in MARKERS.items():
        if name not in registered:  # pyproject.toml may declare some already
            config.addinivalue_line("markers", f"{name}: {description}")


def find_test_mnist(repository: Path) -> Path | None:
    """The real MNIST IDX files for tests and benchmarks, never downloaded:
    ``$PYOPTIM_TEST_MNIST_DIR``, else ``shared/data/mnist`` beside the repository (its
    CI's copy), else where ``pyoptim compare`` put them on this machine
    (``$PYOPTIM_DATA_DIR`` or the user cache: pyoptim.datasets.find_mnist)."""
    from pyoptim.datasets import find_mnist

    override = os.environ.get("PYOPTIM_TEST_MNIST_DIR")
    if override:
        return find_mnist(override)
    return find_mnist(repository.parent / "shared" / "data" / "mnist") or find_mnist()


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    directory = find_test_mnist(Path(__file__).resolve().parents[1])
    if directory is None:
        pytest.skip("MNIST test data not found: not in $PYOPTIM_TEST_MNIST_DIR, ../shared/data/mnist, "
                    "$PYOPTIM_DATA_DIR or the user cache (pyoptim compare puts it there)")
    return directory


class ServedMirror(NamedTuple):
    url: str  # base URL, ending in "/"
    requests: list  # paths asked for, in order


@pytest.fixture
def mirror():
    """``mirror(files, send_fraction=1.0)`` starts an HTTP server on 127.0.0.1
    serving ``files`` ({name: bytes}) and returns a :class:`ServedMirror`. It
    announces each body's full length but sends only ``send_fraction`` of it."""
    servers = []

    def start(files: dict, send_fraction: float = 1.0) -> ServedMirror:
        requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                body = files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: int(len(body) * send_fraction)])

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return ServedMirror(f"http://127.0.0.1:{server.server_address[1]}/", requests)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
