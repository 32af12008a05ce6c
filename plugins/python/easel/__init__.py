"""Write easel plugins in Python.

A plugin is a module ``app.py`` with a function ``run(cx)`` taking an
`easel.Context` (parameters, school, dry run). It reaches Canvas only through
`easel.get`/`list`/`put`/`post`/`delete`, which the host checks against the
plugin's grant and sends with the institution's token (never visible here).

    import easel

    def run(cx):
        out = easel.report.csv("courses.csv", ["id", "name"])
        for c in easel.list(f"/api/v1/accounts/{cx.school_id}/courses"):
            out.row([c["id"], c["name"]])

The same surface as the Rust SDK (plugins/sdk), under the same policy.
"""

from . import log, report
from .canvas import Planned, Sent, Written, delete, get, list, post, put
from .context import Context
from .errors import (
    BudgetExhausted,
    CanvasError,
    Denied,
    Error,
    Invalid,
    NotFound,
    ParamError,
    ReportError,
    Throttled,
    Unauthorized,
    Upstream,
)

#: What to give a library that wants a Canvas token (canvasapi's
#: ``Canvas(url, token)``): not a credential. Requests go through the host,
#: which attaches the institution's token; whatever a library puts in its
#: headers is never sent.
PLACEHOLDER = "easel-placeholder-not-a-token"


def canvas_url() -> str:
    """The Canvas URL to give a library written for `requests` (canvasapi's
    ``Canvas(easel.canvas_url(), easel.PLACEHOLDER)``): easel's stand-in for
    `requests` sends what it asks of ``/api/v1`` through the host."""
    import requests

    return requests.ORIGIN


_context = None


def context() -> Context:
    """The run's context (read from the host once)."""
    global _context
    if _context is None:
        _context = Context()
    return _context
