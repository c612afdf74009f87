"""Process helpers: identity of a process across pid reuse, parent-death signal, signal guards."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def process_start_time(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot (Linux), to tell a pid from its reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19]  # field 22 of the whole line


def is_alive(pid: int, start_time: str | None = None) -> bool:
    """Whether `pid` runs and, when `start_time` is known, is still the same process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start_time is not None and sys.platform.startswith("linux"):
        return process_start_time(pid) == start_time
    return True


def command_line(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def die_with_parent(sig: int = signal.SIGQUIT) -> Callable[[], None] | None:
    """A preexec_fn that makes the child receive `sig` when its parent dies (Linux only).

    If pgrehearse is killed with SIGKILL, the server then shuts down at once by itself;
    the next run removes the folder it left.
    """
    prctl = _prctl()
    if prctl is None:
        return None

    def _set() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return _set


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl, found without `ctypes.util.find_library`: that runs `ldconfig -p` in a
    subprocess, slow enough for a signal to land in the middle of it in a fresh child."""
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, AttributeError):
        function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return function
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    fallback: Callable[..., int] = ctypes.CDLL(libc_name, use_errno=True).prctl
    return fallback


def stop_process(pid: int, *, graceful: int, grace_seconds: float) -> None:
    """Send `graceful`, then SIGQUIT and SIGKILL, until the process is gone."""
    for sig, wait in ((graceful, grace_seconds), (signal.SIGQUIT, 3.0), (signal.SIGKILL, 3.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_alive(pid) or _is_zombie(pid):
                return
            time.sleep(0.02)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, so cleanup is never cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
