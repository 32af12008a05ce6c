"""Report files in the run's output folder."""

import json as _json
from typing import Any, Sequence

from componentize_py_types import Err
from wit_world.imports import report as _report

from .errors import ReportError


def _create(name: str):
    try:
        return _report.create(name)
    except Err as e:
        raise ReportError(f"report {name}: {e.value}") from None


def _write(file, name: str, data: bytes) -> None:
    try:
        file.write(data)
    except Err as e:
        raise ReportError(f"report {name}: {e.value}") from None


class Csv:
    """A CSV file with a header row; fields are quoted as RFC 4180 requires."""

    def __init__(self, name: str, header: Sequence[str]):
        self.name = name
        self._file = _create(name)
        self._columns = len(header)
        self.rows = 0
        self._record(header)

    def row(self, fields: Sequence[Any]) -> None:
        """Append one row (values are turned into text; None is empty)."""
        if len(fields) != self._columns:
            raise ReportError(f"row has {len(fields)} fields, header has {self._columns}")
        self.rows += 1
        self._record(fields)

    def _record(self, fields: Sequence[Any]) -> None:
        out = []
        for f in fields:
            text = "" if f is None else str(f)
            if any(c in text for c in ',"\n\r'):
                text = '"' + text.replace('"', '""') + '"'
            out.append(text)
        _write(self._file, self.name, (",".join(out) + "\r\n").encode())


def csv(name: str, header: Sequence[str]) -> Csv:
    """Create `name` (e.g. ``courses.csv``) and write the header."""
    return Csv(name, header)


def json(name: str, value: Any) -> None:
    """Write `value` as pretty JSON to `name` (e.g. ``summary.json``)."""
    _write(_create(name), name, _json.dumps(value, indent=2).encode())
