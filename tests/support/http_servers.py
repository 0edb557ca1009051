"""The service under test on real uvicorn: in a thread of the test process, or as an
`llmops serve` process (for signals and real restarts), on a free loopback port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from llmops.config import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str, alive=lambda: True, timeout_s: float = 180) -> None:
    """Poll `/readyz` until 200 (the models load in the background meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert alive(), "the service stopped before it was ready"
        assert time.monotonic() < deadline, "the service did not become ready"
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)


class InThread:
    """uvicorn serving `app` in a thread; the context gives its base URL once it is ready (or
    once it listens, with `wait_ready=False`)."""

    def __init__(self, app, wait_ready: bool = True) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.wait_ready = wait_ready

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn stopped"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        if self.wait_ready:
            wait_ready(url, self.thread.is_alive)
        return url

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class Served:
    """`llmops serve` in its own process, its output in `log`; start and stop it at will."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.url = ""
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "llmops.entrypoints.cli", "serve", "--port", str(port)],
                env=self.env,
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_ready(self.url, lambda: self.process.poll() is None)

    def stop(self) -> int:
        """SIGTERM, then the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
