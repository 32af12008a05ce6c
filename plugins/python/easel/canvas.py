"""Canvas access through the host.

Paths are Canvas's own ``/api/v1/...`` form. The host checks every call
against the plugin's grant, adds the credential and follows pagination;
`list` yields items a page at a time, so a plugin holds one page at most.
"""

import json
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence, Tuple, Union

from componentize_py_types import Err
from wit_world.imports import read as _read

try:
    from wit_world.imports import write as _write
except ImportError:  # built for the reader world: no write access at all
    _write = None

from .errors import Error, from_wit

Query = Sequence[Tuple[str, str]]


def _query(query: Optional[Query]) -> list:
    return [(str(k), str(v)) for k, v in (query or [])]


def _parse(what: str, body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as e:
        raise Error(f"unexpected JSON in {what}: {e}") from None


def get(path: str, query: Optional[Query] = None) -> Any:
    """GET one object and parse its JSON."""
    try:
        body = _read.get(path, _query(query))
    except Err as e:
        raise from_wit(f"GET {path}", e.value) from None
    return _parse(path, body)


def list(path: str, query: Optional[Query] = None, key: Optional[str] = None) -> Iterator[Any]:
    """Every item of a paginated list, fetched lazily page by page.

    `key` names the array of a list Canvas wraps in an object, e.g.
    ``list("/api/v1/accounts/1/terms", key="enrollment_terms")``.
    """
    call = f"GET {path}"
    try:
        if key is None:
            pages = _read.list(path, _query(query))
        else:
            pages = _read.list_wrapped(path, _query(query), key)
    except Err as e:
        raise from_wit(call, e.value) from None
    with pages:
        while True:
            try:
                page = pages.next()
            except Err as e:
                raise from_wit(call, e.value) from None
            if page is None:
                return
            items = _parse(path, page)
            if not items:
                return
            yield from items


@dataclass(frozen=True)
class Sent:
    """Canvas applied the write and answered with this JSON (`None` if empty)."""

    value: Any


@dataclass(frozen=True)
class Planned:
    """Dry run: recorded as step `step` of the run's plan; nothing was sent."""

    step: int


Written = Union[Sent, Planned]


def _send(name: str, path: str, query: Optional[Query], body: Optional[str]) -> Written:
    if _write is None:
        raise Error(
            f"{name} {path}: this plugin was built read-only; "
            "set write = true under [capabilities] in easel.toml to write"
        )
    try:
        outcome = _write.send(getattr(_write.Method, name), path, _query(query), body)
    except Err as e:
        raise from_wit(f"{name} {path}", e.value) from None
    if isinstance(outcome, _write.Outcome_Planned):
        return Planned(outcome.value)
    text = outcome.value
    return Sent(None if not text.strip() else _parse(path, text))


def put(path: str, body: Any) -> Written:
    """PUT a JSON body, e.g. ``put("/api/v1/courses/1", {"course": {"event": "offer"}})``."""
    return _send("PUT", path, None, json.dumps(body))


def post(path: str, body: Any) -> Written:
    """POST a JSON body."""
    return _send("POST", path, None, json.dumps(body))


def delete(path: str, query: Optional[Query] = None) -> Written:
    """DELETE with query parameters, e.g. ``delete("/api/v1/courses/1", [("event", "conclude")])``."""
    return _send("DELETE", path, query, None)
