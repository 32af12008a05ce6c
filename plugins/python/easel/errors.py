"""Errors a plugin sees: one exception class per `canvas-error` case.

A call the host refused or Canvas failed raises a subclass of `CanvasError`
naming the call (`e.call`, e.g. ``"GET /api/v1/courses/1"``). Catch the
specific case you can handle (`NotFound`, `Denied`); let the rest end the run.
"""

from wit_world.imports import types as _t


class Error(Exception):
    """Anything that can go wrong in a plugin; the message ends the run."""


class ParamError(Error):
    """A parameter is missing or malformed."""


class ReportError(Error):
    """A report file could not be created or written."""


class CanvasError(Error):
    """The host or Canvas refused or failed a call."""

    def __init__(self, call: str, detail: str):
        super().__init__(f"{call}: {detail}")
        self.call = call


class Denied(CanvasError):
    """easel's policy refused the call before anything was sent."""

    def __init__(self, call: str, rule: str, reason: str):
        super().__init__(call, f"denied by rule {rule}: {reason}")
        self.rule = rule
        self.reason = reason


class NotFound(CanvasError):
    """Canvas answered 404."""


class Unauthorized(CanvasError):
    """Canvas refused the credential or the permission (401/403)."""


class Throttled(CanvasError):
    """Canvas throttled the token and retries were exhausted."""


class Invalid(CanvasError):
    """The request is malformed (bad path, bad JSON body, 400/422)."""


class Upstream(CanvasError):
    """Any other answer from Canvas."""

    def __init__(self, call: str, status: int, body: str):
        super().__init__(call, f"Canvas answered {status}: {body}")
        self.status = status
        self.body = body


class BudgetExhausted(CanvasError):
    """The run's budget of Canvas calls is spent."""


def from_wit(call: str, e) -> CanvasError:
    """The exception for a `canvas-error` value from the bindings."""
    if isinstance(e, _t.CanvasError_Denied):
        return Denied(call, e.value.rule, e.value.reason)
    if isinstance(e, _t.CanvasError_NotFound):
        return NotFound(call, f"not found: {e.value}")
    if isinstance(e, _t.CanvasError_Unauthorized):
        return Unauthorized(call, f"unauthorized: {e.value}")
    if isinstance(e, _t.CanvasError_Throttled):
        return Throttled(call, f"throttled: {e.value}")
    if isinstance(e, _t.CanvasError_Invalid):
        return Invalid(call, f"invalid: {e.value}")
    if isinstance(e, _t.CanvasError_Upstream):
        return Upstream(call, e.value.status, e.value.body)
    if isinstance(e, _t.CanvasError_BudgetExhausted):
        return BudgetExhausted(call, f"budget exhausted: {e.value}")
    return CanvasError(call, repr(e))
