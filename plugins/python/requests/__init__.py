"""A stand-in for `requests` inside an easel plugin, so that libraries
written for it (canvasapi above all) run unmodified in the sandbox.

Nothing here opens a connection. Each request becomes a call to the host's
`read` or `write` interface, which checks it against the plugin's grant,
attaches the institution's token and follows pagination; the headers a
library sets (its ``Authorization: Bearer ...`` included) go nowhere.

- Only ``/api/v1/...`` paths under `easel.canvas_url()` are reached; any
  other URL answers 403 without a call.
- A GET whose parameters carry ``per_page`` is read as a paginated list:
  its first page comes back with a ``Link: <...>; rel="next"`` naming a
  page this module keeps, so a library following next links (canvasapi's
  `PaginatedList`) walks every page through the host.
- Form data (``course[name]=X``, ``ids[]=1``) is sent as the JSON body
  Canvas reads the same way; in a dry run a write is planned, not sent, and
  answers ``{"easel_planned_step": N}``.
- The host's refusals answer the status a library expects: 403 for a
  policy denial (with easel's reason), 404, 401, 429, 400, or Canvas's own.
"""

import json as _json
from urllib.parse import parse_qsl, urlsplit

from componentize_py_types import Err
from wit_world.imports import read as _read
from wit_world.imports import types as _t

try:
    from wit_world.imports import write as _write
except ImportError:  # built for the reader world: no write access at all
    _write = None

__version__ = "2.32.3+easel"

#: The origin libraries are given as Canvas's (`easel.canvas_url()`).
ORIGIN = "https://canvas.easel.invalid"

#: Where next pages are named: under /api/v1 so libraries keep them.
_PAGES = "/api/v1/__easel_pages__/"


class RequestException(IOError):
    """Anything that went wrong with a request."""


class HTTPError(RequestException):
    pass


class ConnectionError(RequestException):  # noqa: A001 (requests' name)
    pass


class Timeout(RequestException):
    pass


class exceptions:  # noqa: N801 (requests' module name)
    RequestException = RequestException
    HTTPError = HTTPError
    ConnectionError = ConnectionError
    Timeout = Timeout


class CaseInsensitiveDict(dict):
    """Headers, looked up whatever their case."""

    def __init__(self, data=None):
        super().__init__()
        for k, v in (data or {}).items():
            self[k] = v

    def __setitem__(self, key, value):
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def __contains__(self, key):
        return super().__contains__(key.lower())

    def get(self, key, default=None):
        return super().get(key.lower(), default)


class Response:
    """What a request answered."""

    def __init__(self, status, body, url, method, next_url=None):
        self.status_code = status
        self.url = url
        self.content = body.encode("utf-8")
        self.text = body
        self.encoding = "utf-8"
        self.reason = "OK" if status < 400 else "Error"
        self.request = type("Request", (), {"method": method, "url": url})()
        self.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        self.links = {}
        if next_url:
            self.headers["Link"] = f'<{next_url}>; rel="next"'
            self.links["next"] = {"url": next_url, "rel": "next"}

    @property
    def ok(self):
        return self.status_code < 400

    def json(self, **kwargs):
        return _json.loads(self.text or "null", **kwargs)

    def raise_for_status(self):
        if not self.ok:
            raise HTTPError(f"{self.status_code} for {self.request.method} {self.url}: {self.text}")

    def close(self):
        pass


def _pairs(params):
    """Query or form parameters as (str, str) pairs, in order."""
    if params is None:
        return []
    if isinstance(params, (str, bytes)):
        text = params.decode() if isinstance(params, bytes) else params
        return parse_qsl(text, keep_blank_values=True)
    items = params.items() if isinstance(params, dict) else params
    out = []
    for k, v in items:
        if isinstance(v, (list, tuple)):
            out.extend((str(k), _text(x)) for x in v)
        elif v is not None:
            out.append((str(k), _text(v)))
    return out


def _text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _nest(pairs):
    """Rails-style form keys as the JSON Canvas reads the same way:
    ``course[name]=X`` -> ``{"course": {"name": "X"}}``, ``ids[]=1`` ->
    ``{"ids": ["1"]}``."""
    root = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + ([p.rstrip("]") for p in ("[" + rest).split("[")[1:]] if rest else [])
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                if part == "":
                    if not isinstance(node, list):
                        raise ValueError(f"form key {key!r} mixes lists and objects")
                    node.append(value)
                elif isinstance(node, dict):
                    node[part] = value
                else:
                    raise ValueError(f"form key {key!r} mixes lists and objects")
                break
            if part == "" or not isinstance(node, dict):
                raise ValueError(f"form key {key!r}: lists of objects are not supported; send JSON")
            nxt = [] if parts[i + 1] == "" else {}
            node = node.setdefault(part, nxt)
    return root


def _status_of(e):
    """A `canvas-error` as the HTTP status and body a library expects."""
    if isinstance(e, _t.CanvasError_Denied):
        message = f"easel denied this call (rule {e.value.rule}): {e.value.reason}"
        return 403, message
    if isinstance(e, _t.CanvasError_NotFound):
        return 404, e.value
    if isinstance(e, _t.CanvasError_Unauthorized):
        return 401, e.value
    if isinstance(e, _t.CanvasError_Throttled):
        return 429, e.value
    if isinstance(e, _t.CanvasError_Invalid):
        return 400, e.value
    if isinstance(e, _t.CanvasError_Upstream):
        return e.value.status, e.value.body
    if isinstance(e, _t.CanvasError_BudgetExhausted):
        # Not something to catch and go on from: the run ends.
        from easel.errors import BudgetExhausted

        raise BudgetExhausted("canvas", e.value)
    return 500, str(e)


def _error(status, message, url, method):
    body = _json.dumps({"errors": [{"message": message}]})
    return Response(status, body, url, method)


class Session:
    """A `requests.Session` whose requests go through the easel host."""

    def __init__(self):
        self.headers = CaseInsensitiveDict()
        self._pages = {}
        self._next_page = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for pages in self._pages.values():
            try:
                pages.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 (closing is best effort)
                pass
        self._pages.clear()

    def mount(self, prefix, adapter):
        pass

    def get(self, url, params=None, **kwargs):
        return self.request("GET", url, params=params, **kwargs)

    def post(self, url, data=None, json=None, **kwargs):
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url, data=None, **kwargs):
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url, data=None, **kwargs):
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url, **kwargs):
        return self.request("DELETE", url, **kwargs)

    def request(self, method, url, params=None, data=None, json=None, headers=None, files=None, **_):
        method = method.upper()
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin != ORIGIN or not parts.path.startswith("/api/v1/"):
            return _error(
                403,
                f"easel plugins reach only Canvas's /api/v1 through easel.canvas_url(), not {url}",
                url,
                method,
            )
        if files:
            return _error(400, "file uploads do not go through easel", url, method)
        path = parts.path
        query = parse_qsl(parts.query, keep_blank_values=True) + _pairs(params)
        if method == "GET":
            return self._get(path, query, url)
        if method not in ("POST", "PUT", "DELETE"):
            return _error(405, f"easel sends GET, POST, PUT and DELETE, not {method}", url, method)
        if json is not None:
            body = _json.dumps(json)
        else:
            form = _pairs(data)
            try:
                body = _json.dumps(_nest(form)) if form else None
            except ValueError as e:
                return _error(400, str(e), url, method)
        return self._write(method, path, query, body, url)

    def _get(self, path, query, url):
        if path.startswith(_PAGES):
            pages = self._pages.get(path[len(_PAGES):])
            if pages is None:
                return _error(404, "that page was read already, or never listed", url, "GET")
            return self._page(path[len(_PAGES):], pages, url)
        if any(k == "per_page" for k, _ in query):
            try:
                pages = _read.list(path, query)
            except Err as e:
                status, message = _status_of(e.value)
                return _error(status, message, url, "GET")
            self._next_page += 1
            key = str(self._next_page)
            self._pages[key] = pages
            return self._page(key, pages, url)
        try:
            body = _read.get(path, query)
        except Err as e:
            status, message = _status_of(e.value)
            return _error(status, message, url, "GET")
        return Response(200, body, url, "GET")

    def _page(self, key, pages, url):
        try:
            page = pages.next()
        except Err as e:
            del self._pages[key]
            status, message = _status_of(e.value)
            return _error(status, message, url, "GET")
        if page is None or page.strip() in ("", "[]"):
            del self._pages[key]
            return Response(200, "[]", url, "GET")
        return Response(200, page, url, "GET", next_url=f"{ORIGIN}{_PAGES}{key}")

    def _write(self, method, path, query, body, url):
        if _write is None:
            return _error(
                403,
                "this plugin was built read-only: set write = true under [capabilities] in easel.toml to write",
                url,
                method,
            )
        try:
            outcome = _write.send(getattr(_write.Method, method), path, query, body)
        except Err as e:
            status, message = _status_of(e.value)
            return _error(status, message, url, method)
        if isinstance(outcome, _write.Outcome_Planned):
            return Response(200, _json.dumps({"easel_planned_step": outcome.value}), url, method)
        return Response(200, outcome.value or "{}", url, method)


_default = None


def _session():
    global _default
    if _default is None:
        _default = Session()
    return _default


def request(method, url, **kwargs):
    return _session().request(method, url, **kwargs)


def get(url, params=None, **kwargs):
    return _session().get(url, params=params, **kwargs)


def post(url, data=None, json=None, **kwargs):
    return _session().post(url, data=data, json=json, **kwargs)


def put(url, data=None, **kwargs):
    return _session().put(url, data=data, **kwargs)


def delete(url, **kwargs):
    return _session().delete(url, **kwargs)


def session():
    return Session()


def _reject_dateless_strings_early():
    """canvasapi calls ``arrow.get(str(value))`` on every attribute of every
    object it reads, to find dates, and arrow takes about a millisecond to
    reject a string that is not one: most of a canvasapi plugin's time.
    A string arrow cannot parse gets arrow's own ParserError at once, which
    canvasapi catches; any other call goes to arrow unchanged. canvasapi's
    code is not touched; this module is only loaded for it.

    What arrow (1.3.0) can parse from one string: every format its ISO
    parser tries, with or without a time, starts with a four-digit year
    (``\\d{4}``), and each is searched for with a custom word boundary in
    front: no two non-space characters before it, and the one there, if
    any, one of ``,.;:?!"'`[]{}()<>``. So a string with no such year, like
    ``SCH001-C0001`` or ``Math 101``, never parses. Nor does a string of
    ASCII digits other than 4, 7 or 8 long, like the id ``10234``: with no
    separator, the boundary at each end makes a format match all of it,
    and only ``YYYY``, ``YYYYDDDD`` and ``YYYYMMDD`` are all digits. Any
    other arrow runs as it is (before 0.15, arrow read numbers such as
    ``123`` as timestamps)."""
    try:
        import re

        import arrow
        from arrow.parser import ParserError
    except ImportError:
        return
    real = arrow.get
    if getattr(real, "__wrapped__", None) is not None:
        return
    if getattr(arrow, "__version__", None) != "1.3.0":
        return
    year = re.compile(
        r"(?<!\S\S)(?<![^\,\.\;\:\?\!\"\'\`\[\]\{\}\(\)<>\s])\d{4}",
        flags=re.IGNORECASE,
    )

    def cannot_parse(text):
        if year.search(text) is None:
            return True
        return text.isascii() and text.isdigit() and len(text) not in (4, 7, 8)

    def get(*args, **kwargs):
        if len(args) == 1 and not kwargs and type(args[0]) is str and cannot_parse(args[0]):
            raise ParserError(f"{args[0]!r} has no year arrow could read: not a date")
        return real(*args, **kwargs)

    get.__wrapped__ = real
    get.__doc__ = real.__doc__
    arrow.get = get


def _build_arrow_patterns_once():
    """arrow builds a parser for every ``arrow.get`` call: the locale's
    regular expressions (month and day names), then one regular expression
    per format it tries, about seven per string canvasapi hands it. arrow
    can keep those patterns itself (``DateTimeParser(cache_size=N)``), but
    ``arrow.get`` makes a new parser each time, so nothing is kept: building
    them was most of what is left of a canvasapi plugin's time.

    For arrow's own parser class, both are functions of the locale and the
    format, so they are built once per locale and format here and shared;
    each parser still gets its own copy of the map and of the token list,
    as before. A subclass of the parser, or a parser whose map was changed
    after it was made, builds its own, as arrow does. (A locale class whose
    names are changed after its first use would keep the old patterns:
    nothing easel bundles does that.) Only arrow 1.3.0, whose
    ``DateTimeParser.__init__`` this mirrors line for line, is touched; any
    other version runs as it is."""
    try:
        from functools import lru_cache

        import arrow
        from arrow import locales
        from arrow.parser import DEFAULT_LOCALE, DateTimeParser
    except ImportError:
        return
    if getattr(arrow, "__version__", None) != "1.3.0":
        return
    if getattr(DateTimeParser.__init__, "__wrapped__", None) is not None:
        return
    real_init = DateTimeParser.__init__
    real_pattern = DateTimeParser._generate_pattern_re
    maps = {}
    patterns = {}

    def __init__(self, locale=DEFAULT_LOCALE, cache_size=0):
        if type(self) is not DateTimeParser:
            real_init(self, locale, cache_size)
            return
        self.locale = locales.get_locale(locale)
        kind = type(self.locale)
        base = maps.get(kind)
        if base is None:
            real_init(self, locale)
            maps[kind] = self._input_re_map.copy()
        else:
            self._input_re_map = base.copy()
        if cache_size > 0:
            self._generate_pattern_re = lru_cache(maxsize=cache_size)(self._generate_pattern_re)

    def _generate_pattern_re(self, fmt):
        kind = type(self.locale)
        if type(self) is not DateTimeParser or self._input_re_map != maps.get(kind):
            return real_pattern(self, fmt)
        key = (kind, fmt)
        built = patterns.get(key)
        if built is None:
            built = real_pattern(self, fmt)
            if len(patterns) >= 512:  # formats a plugin passes are its own
                patterns.clear()
            patterns[key] = built
        tokens, pattern = built
        return list(tokens), pattern

    __init__.__wrapped__ = real_init
    _generate_pattern_re.__wrapped__ = real_pattern
    DateTimeParser.__init__ = __init__
    DateTimeParser._generate_pattern_re = _generate_pattern_re


_reject_dateless_strings_early()
_build_arrow_patterns_once()
