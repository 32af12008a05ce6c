"""Messages for the run log (bounded by the host)."""

from wit_world.imports import log as _host
from wit_world.imports.log import Level


def debug(message: str) -> None:
    """Debug detail."""
    _host.log(Level.DEBUG, str(message))


def info(message: str) -> None:
    """Progress an admin would want to see."""
    _host.log(Level.INFO, str(message))


def warn(message: str) -> None:
    """Something odd that did not stop the run."""
    _host.log(Level.WARN, str(message))


def error(message: str) -> None:
    """Something that failed."""
    _host.log(Level.ERROR, str(message))
