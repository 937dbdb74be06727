"""Child-process plumbing shared by the service launchers."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from anchor.errors import ServiceError

REPO_ROOT = Path(__file__).resolve().parents[2]


def spawn_service(args: list[str], log_path: Path, env: dict[str, str] | None = None
                  ) -> subprocess.Popen:
    """Start a node in its own process group, logging to `log_path`.

    The child gets SIGTERM when its parent dies, even by SIGKILL, so a crashed
    `certreg up` or test run never leaves a node holding its port.
    """
    with log_path.open("ab") as log:
        return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=die_with_parent)


def die_with_parent() -> None:
    """Ask the kernel to SIGTERM this process when its parent dies (even by SIGKILL)."""
    # prctl(PR_SET_PDEATHSIG, SIGTERM); Linux only, which is what we run on.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def find_binary(name: str, *, env_var: str, candidates: tuple[Path | None, ...],
                hint: str) -> Path:
    """A tool's executable: $env_var first, then `candidates`, then PATH."""
    for candidate in (os.environ.get(env_var), *candidates, shutil.which(name)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ServiceError(f"{name} not found: {hint} or set {env_var}")


def cache_dir() -> Path:
    """Where scripts/install_*.sh cache the binaries they build."""
    return Path(os.environ.get("CERTREG_CACHE", Path.home() / ".cache/certreg"))


def run_in_foreground(running: Callable[[], bool], stop: Callable[[], None]) -> None:
    """Keep a service started by a script's `main` up until Ctrl-C, SIGTERM or its own
    exit, then stop it (scripts/start_clique.sh, scripts/start_postgres.sh)."""
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stopping and running():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None,
               log_path: Path | None = None) -> None:
    """Poll `check` until it is true; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"{what} exited with code {proc.returncode} before it was ready",
                               log=_tail(log_path))
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.02)
    raise ServiceError(f"{what} was not ready within {timeout:.0f}s", log=_tail(log_path))


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Stop a child started with `start_new_session=True`, its whole group."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def _tail(path: Path | None, lines: int = 20) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
