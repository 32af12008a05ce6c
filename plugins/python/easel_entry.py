"""The component's entry point: calls ``app.run(cx)`` and turns whatever it
raises into the run's error string (a traceback for unexpected exceptions).

The component has no WASI (every WASI import is a trapping stub), so
`print` and anything written to stdout/stderr go to the run log instead.
"""

import sys
import traceback

import wit_world
from componentize_py_types import Err

import easel


class _LogStream:
    """A text stream whose lines go to the run log at one level."""

    def __init__(self, write_line) -> None:
        self._write_line = write_line
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._write_line(line)
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self._write_line(self._buffer)
            self._buffer = ""

    def isatty(self) -> bool:
        return False


sys.stdout = _LogStream(easel.log.info)
sys.stderr = _LogStream(easel.log.warn)

import app  # noqa: E402  (after the streams, so import-time prints are logged)


class WitWorld(wit_world.WitWorld):
    def run(self) -> None:
        try:
            app.run(easel.context())
        except easel.Error as e:
            raise Err(str(e))
        except Exception:
            raise Err(traceback.format_exc(limit=8))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
