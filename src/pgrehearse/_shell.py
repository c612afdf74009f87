"""What every command of the command line shares: signals as exceptions, errors as one
screen and an exit code, unexpected exceptions as an internal error with a saved traceback,
and the parameter types of its options."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from pgrehearse.errors import ExitCode, InternalError, Interrupted, PgRehearseError

if TYPE_CHECKING:
    from rich.console import Console

    from pgrehearse._console import ConsoleProgress

_SIGNAL_EXIT = {signal.SIGTERM: ExitCode.TERMINATED, signal.SIGHUP: ExitCode.HANGUP}


@contextmanager
def signals_raise() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception, so cleanup runs as it does for Ctrl-C."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        raise Interrupted(name, _SIGNAL_EXIT[signal.Signals(signum)])

    previous = {sig: signal.signal(sig, handler) for sig in _SIGNAL_EXIT}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Scale(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """A finite number above 0 (not nan, not inf)."""

    name = "float"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        import math

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r}: give a finite number above 0, e.g. 0.1", param, ctx)
        return number


@contextmanager
def reported_errors(progress: ConsoleProgress, err: Console) -> Iterator[None]:
    """Errors as one screen on stderr and their exit code; SIGTERM/SIGHUP handled as Ctrl-C."""
    try:
        with signals_raise():
            yield
    except PgRehearseError as exc:
        progress.close()
        print_error(err, exc)
        sys.exit(int(exc.exit_code))
    except (KeyboardInterrupt, Interrupted) as exc:
        progress.close()
        name = exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"
        code = exc.exit_code if isinstance(exc, Interrupted) else ExitCode.INTERRUPTED
        cleaned = ": the server and its files were removed" if progress.server_started else ""
        err.print(f"interrupted by {name}{cleaned}", markup=False)
        sys.exit(int(code))
    except Exception as exc:  # a bug: one line, the traceback in a file, its own exit code
        progress.close()
        print_error(err, internal_error(exc))
        sys.exit(int(ExitCode.INTERNAL))
    progress.close()


def internal_error(exc: BaseException) -> InternalError:
    """An unexpected exception as an `InternalError` whose message names the file holding
    its traceback (under the cache folder's `logs/`)."""
    import datetime as dt
    import traceback

    from pgrehearse.paths import cache_root

    text = "".join(traceback.format_exception(exc))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    log = cache_root() / "logs" / f"internal-error-{stamp}.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text, encoding="utf-8")
        where = f"the traceback is in {log}"
    except OSError:
        where = "the traceback could not be saved:\n" + text
    return InternalError(
        f"internal error (a bug in pgrehearse): {type(exc).__name__}: {exc}\n"
        f"{where}; please report it"
    )


def print_error(console: Console | None, error: PgRehearseError) -> None:
    """A one-screen error on stderr: what is wrong, where, and what to do."""
    if console is None:
        click.echo(f"error: {error.render()}", err=True)
    else:
        console.print(f"error: {error.render()}", highlight=False, markup=False, soft_wrap=True)
