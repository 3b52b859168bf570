"""Shared fixtures and marker registration."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path
from typing import NamedTuple

import pytest

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


MARKERS = {
    "slow": "long-running tests (run with -m slow)",
    "network": "reaches the internet (PyPI); runs only with PYOPTIM_NETWORK_TESTS=1",
}


def pytest_configure(config: pytest.Config) -> None:
    registered = {line.split(":")[0].strip() for line in config.getini("markers")}
    for name, description in MARKERS.items():
        if name not in registered:  # pyproject.toml may declare some already
            config.addinivalue_line("markers", f"{name}: {description}")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST IDX files, never downloaded by tests: ``shared/data/mnist``
    beside the repository, or ``$PYOPTIM_TEST_MNIST_DIR``."""
    override = os.environ.get("PYOPTIM_TEST_MNIST_DIR")
    directory = Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    missing = [name for name in MNIST_FILES
               if not (directory / name).is_file() and not (directory / f"{name}.gz").is_file()]
    if missing:
        pytest.skip(f"MNIST test data not found: {directory} lacks {', '.join(missing)} (raw or .gz); "
                    "set PYOPTIM_TEST_MNIST_DIR to a directory holding the four IDX files")
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
