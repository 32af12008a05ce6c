"""canvasapi, unmodified, over easel's stand-in for `requests`, with the
host replaced by fakes: lists walk every page through the host, objects
are read with `get`, writes become JSON bodies (planned in a dry run), the
host's refusals become the errors canvasapi raises, and the placeholder a
plugin gives canvasapi never reaches the host.

Run by tests/e2e/python.rs with the bindings, the SDK and canvasapi's pure
dependencies on sys.path (and no real `requests`).
"""

import json
import unittest

from componentize_py_types import Err
from wit_world.imports import read, types, write

import easel
import requests
from canvasapi import Canvas
from canvasapi.exceptions import Forbidden, ResourceDoesNotExist

CALLS = []


class FakePages:
    def __init__(self, pages):
        self.pages = list(pages)

    def next(self):
        return self.pages.pop(0) if self.pages else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def fake_get(path, query):
    CALLS.append(("get", path, query))
    if path == "/api/v1/accounts/7":
        return json.dumps({"id": 7, "name": "North High", "parent_account_id": 1})
    if path == "/api/v1/courses/404":
        raise Err(types.CanvasError_NotFound("no course 404"))
    if path == "/api/v1/accounts/9":
        raise Err(types.CanvasError_Denied(types.Denial("school-boundary", "account 9 is not this school's")))
    raise AssertionError(f"unexpected GET {path}")


def fake_list(path, query):
    CALLS.append(("list", path, query))
    if path == "/api/v1/accounts/7/courses":
        pages = [
            json.dumps([{"id": i, "name": f"Course {i}", "account_id": 7} for i in range(n, n + 3)])
            for n in (1, 4, 7)
        ]
        return FakePages(pages)
    raise AssertionError(f"unexpected list {path}")


PLANNED = []


def fake_send(method, path, query, body):
    CALLS.append(("send", method.name, path, query, body))
    PLANNED.append(body)
    return write.Outcome_Planned(len(PLANNED))


read.get = fake_get
read.list = fake_list
write.send = fake_send


class CanvasapiOverTheHost(unittest.TestCase):
    def setUp(self):
        CALLS.clear()
        self.canvas = Canvas(easel.canvas_url(), easel.PLACEHOLDER)

    def test_a_paginated_list_walks_every_page_through_the_host(self):
        account = self.canvas.get_account(7)
        self.assertEqual(account.name, "North High")
        courses = list(account.get_courses(include=["term", "teachers"]))
        self.assertEqual([c.id for c in courses], list(range(1, 10)))
        self.assertEqual(courses[0].name, "Course 1")
        kinds = [(c[0], c[1]) for c in CALLS]
        self.assertEqual(
            kinds,
            [("get", "/api/v1/accounts/7"), ("list", "/api/v1/accounts/7/courses")],
            "one list call: the next pages come from the host's pages",
        )
        query = CALLS[1][2]
        self.assertIn(("include[]", "term"), query)
        self.assertIn(("include[]", "teachers"), query)

    def test_the_placeholder_never_reaches_the_host(self):
        list(self.canvas.get_account(7).get_courses())
        self.assertNotIn(easel.PLACEHOLDER, repr(CALLS))

    def test_refusals_become_canvasapis_errors(self):
        with self.assertRaises(ResourceDoesNotExist):
            self.canvas.get_course(404)
        with self.assertRaises(Forbidden) as e:
            self.canvas.get_account(9)
        self.assertIn("school-boundary", str(e.exception))

    def test_a_write_is_sent_as_json_and_planned_in_a_dry_run(self):
        PLANNED.clear()
        course = self.canvas.get_account(7).get_courses()[0]
        course.update(course={"event": "offer", "name": "Renamed"})
        sent = [c for c in CALLS if c[0] == "send"]
        self.assertEqual(len(sent), 1)
        _, method, path, _, body = sent[0]
        self.assertEqual((method, path), ("PUT", "/api/v1/courses/1"))
        self.assertEqual(json.loads(body), {"course": {"event": "offer", "name": "Renamed"}})

    def test_other_origins_and_paths_are_refused_without_a_call(self):
        s = requests.Session()
        r = s.get("https://evil.example/api/v1/users/self")
        self.assertEqual(r.status_code, 403)
        r = s.get(easel.canvas_url() + "/login/oauth2/token")
        self.assertEqual(r.status_code, 403)
        self.assertEqual(CALLS, [])

    def test_rails_form_keys_nest_as_canvas_reads_them(self):
        self.assertEqual(
            requests._nest([("course[name]", "X"), ("course[term][id]", "2"), ("ids[]", "1"), ("ids[]", "2"), ("flag", "true")]),
            {"course": {"name": "X", "term": {"id": "2"}}, "ids": ["1", "2"], "flag": "true"},
        )
        with self.assertRaises(ValueError):
            requests._nest([("a[][b]", "1")])

    def test_arrow_answers_as_before_only_sooner(self):
        import arrow

        real = arrow.get.__wrapped__
        samples = [
            "Math 101", "available", "True", "None", "", "12", "101", "1234",
            "2024-01-15T08:00:00Z", "2024-01-15", "2024", "2024-W05-3",
            "Fall\t2024", "(2024-01-15", "SCH001-C0001", "id 99999", "٢٠٢٤-٠١-١٥",
            "{'id': 1, 'name': 'Term'}", "a3f1c0de-5b2e-4c1a-9f00-0000aaaa1111",
            # ids, and where a year may and may not start
            "10234", "123456", "1234567", "2024001", "2024366", "12345678",
            "20240115", "20241315", "123456789", "2024-001", "x2024-01-15",
            ".2024-01-15", "a.2024-01-15", "(2024-01-15)", "2024-01-15,",
            "2024-01-15x", "C0001", "SCH001-2024", "sis 2024-01-15", "2024W053",
            "٢٠٢٤٠١١٥", "Fall 2024T08", "[2024]", "'2024'", "..2024", ",2024-01-15", "<2024>", "!2024",
        ]
        for text in samples:
            try:
                expected = ("date", real(text))
            except arrow.ParserError:
                expected = ("not a date", None)
            except ValueError:
                expected = ("ValueError", None)
            try:
                got = ("date", arrow.get(text))
            except arrow.ParserError:
                got = ("not a date", None)
            except ValueError:
                got = ("ValueError", None)
            self.assertEqual(got, expected, text)
        # The early answer is arrow's own error, which canvasapi catches.
        with self.assertRaises(arrow.ParserError):
            arrow.get("Math 101")

    def test_arrow_parses_as_before_with_its_patterns_built_once(self):
        import arrow
        from arrow.parser import DateTimeParser

        calls = [
            (("2024-01-15T08:00:00Z",), {}),
            (("2024-01-15T08:00:00.123+02:00",), {}),
            (("2024-01-15 08:00",), {}),
            (("20240115T0800Z",), {}),
            (("2024-W05-3",), {}),
            (("2024.1.5",), {}),
            (("2024-13-45",), {}),
            (("SCH001-C0001",), {}),
            (("10234",), {}),
            (("2024-01-15T25:00:00Z",), {}),
            (("15 janvier 2024", "D MMMM YYYY"), {"locale": "fr"}),
            (("January 15 2024", "MMMM D YYYY"), {}),
            (("15 janvier 2024", "D MMMM YYYY"), {}),
            (("January 15 2024", "MMMM D YYYY"), {"locale": "fr"}),
            (("15. Januar 2024", "D. MMMM YYYY"), {"locale": "de"}),
            (("Monday 2024-01-15", "dddd YYYY-MM-DD"), {}),
            (("lundi 2024-01-15", "dddd YYYY-MM-DD"), {"locale": "fr"}),
            (("8:00 pm 2024-01-15", "h:mm a YYYY-MM-DD"), {}),
            (("[at] 2024-01-15", "[at] YYYY-MM-DD"), {}),
        ]

        def outcome(args, kwargs):
            try:
                return ("date", arrow.get(*args, **kwargs))
            except (arrow.ParserError, ValueError) as e:
                return (type(e).__name__, str(e))

        def unpatched():
            built_init = DateTimeParser.__init__
            built_pattern = DateTimeParser._generate_pattern_re
            DateTimeParser.__init__ = built_init.__wrapped__
            DateTimeParser._generate_pattern_re = built_pattern.__wrapped__
            try:
                return [outcome(a, k) for a, k in calls]
            finally:
                DateTimeParser.__init__ = built_init
                DateTimeParser._generate_pattern_re = built_pattern

        expected = unpatched()
        # Twice: the second time every pattern comes from what was built.
        self.assertEqual([outcome(a, k) for a, k in calls], expected)
        self.assertEqual([outcome(a, k) for a, k in calls], expected)
        self.assertEqual(sum(e[0] == "date" for e in expected), 12, expected)
        # A parser whose map was changed, or a subclass, builds its own.
        import re

        DateTimeParser("es").parse("2024-01-05", "YYYY-MM-DD")
        loose = DateTimeParser("es")
        loose._input_re_map["YYYY"] = re.compile(r"\d{2}")
        self.assertEqual(loose.parse("24-01-05", "YYYY-MM-DD").year, 24)

        class TwoDigitYears(DateTimeParser):
            _BASE_INPUT_RE_MAP = {**DateTimeParser._BASE_INPUT_RE_MAP, "YYYY": re.compile(r"\d{2}")}

        self.assertEqual(TwoDigitYears("es").parse("24-01-05", "YYYY-MM-DD").year, 24)
        with self.assertRaises(arrow.parser.ParserMatchError):
            arrow.get("24-01-05", "YYYY-MM-DD", locale="es")
        # A parser asked to keep its own patterns (arrow's cache_size) does.
        parser = DateTimeParser("en-us", cache_size=8)
        parser.parse("2024-01-15", "YYYY-MM-DD")
        self.assertEqual(parser._generate_pattern_re.cache_info().currsize, 1)


if __name__ == "__main__":
    unittest.main()
