"""The component's entry point: calls ``app.run(cx)`` and turns whatever it
raises into the run's error string (a traceback for unexpected exceptions).

The component has no WASI (every WASI import is a trapping stub), so
`print` and anything written to stdout/stderr go to the run log instead.
"""

import sys

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


# The plugin is imported when the component is built (componentize-py
# snapshots it), so an import that fails (a syntax error, a missing
# package) fails the build with Python's own message, on the builder's
# stderr. Output streams go to the run log only after that.
import app  # noqa: E402

if not callable(getattr(app, "run", None)):
    raise AttributeError(
        "app.py defines no run(cx): a plugin's app.py defines `def run(cx: easel.Context) -> None`, "
        "which easel calls once per school"
    )

sys.stdout = _LogStream(easel.log.info)
sys.stderr = _LogStream(easel.log.warn)


def _describe(e: BaseException) -> str:
    """The exception and where it was raised, innermost frame last.

    Not `traceback.format_exc`: that reads source lines from files, and
    file access traps in the sandbox."""
    frames = []
    tb = e.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append(f"  {code.co_filename}:{tb.tb_lineno} in {code.co_name}")
        tb = tb.tb_next
    return "\n".join([f"{type(e).__name__}: {e}", *frames[-8:]])


class WitWorld(wit_world.WitWorld):
    def run(self) -> None:
        try:
            app.run(easel.context())
        except easel.Error as e:
            raise Err(str(e))
        except Exception as e:
            raise Err(_describe(e))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
