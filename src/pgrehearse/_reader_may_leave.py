"""stdout and stderr whose reader may go away mid-run (`pgrehearse run … 2>&1 | head`).

Python raises BrokenPipeError on the next write, which would stop a rehearsal halfway
for want of an audience. Here that write and all after it are dropped: the rehearsal goes
on, cleans up, writes its reports and keeps its exit code."""

from __future__ import annotations

import contextlib
import os
from typing import IO, TextIO, cast


class ReaderMayLeave:
    """A text stream's writes, until its reader leaves; nothing after."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.left = False

    def write(self, text: str) -> int:
        if not self.left:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._reader_left()
        return len(text)

    def flush(self) -> None:
        if not self.left:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._reader_left()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return self._stream.encoding

    def _reader_left(self) -> None:
        self.left = True
        # the interpreter flushes the stream once more at exit: into /dev/null, that flush
        # neither fails nor turns the exit status into 120
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def as_text_stream(self) -> IO[str]:
        return cast(IO[str], self)
