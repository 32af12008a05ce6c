"""The `easel` SDK against its generated bindings with the host replaced by
fakes: pages, errors, writes, context and CSV quoting, without wasm.

Run by tests/e2e/python.rs with the bindings directory first on sys.path.
"""

import json
import sys
import unittest

from componentize_py_types import Err
from wit_world.imports import context, log, read, report, types, write

import easel

LOGS = []
FILES = {}


class FakeFile:
    def __init__(self, name):
        self.name = name
        FILES[name] = b""

    def write(self, data):
        FILES[self.name] += data


class FakePages:
    def __init__(self, pages):
        self.pages = list(pages)

    def next(self):
        return self.pages.pop(0) if self.pages else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def fail_with(error):
    def call(*args):
        raise Err(error)

    return call


log.log = lambda level, message: LOGS.append((level.name, message))
report.create = FakeFile
context.params = lambda: [("n", "12"), ("empty", ""), ("flag", "true")]
context.school = lambda: context.SchoolInfo(account_id=80000000007, name="North")
context.instance = lambda: "sim"
context.dry_run = lambda: True
context.run_id = lambda: "run-1"


class Sdk(unittest.TestCase):
    def test_list_yields_every_item_of_every_page_and_stops_at_an_empty_one(self):
        seen = []
        read.list = lambda path, query: (
            seen.append((path, query))
            or FakePages([json.dumps([1, 2]), json.dumps([3]), json.dumps([]), json.dumps([4])])
        )
        self.assertEqual(list(easel.list("/api/v1/x", [("a", 1)])), [1, 2, 3])
        self.assertEqual(seen, [("/api/v1/x", [("a", "1")])])

    def test_a_wrapped_list_passes_its_key(self):
        read.list_wrapped = lambda path, query, key: FakePages([json.dumps([key])])
        self.assertEqual(list(easel.list("/t", key="enrollment_terms")), ["enrollment_terms"])

    def test_each_canvas_error_raises_its_own_exception(self):
        cases = [
            (types.CanvasError_Denied(types.Denial("school-boundary", "outside")), easel.Denied),
            (types.CanvasError_NotFound("gone"), easel.NotFound),
            (types.CanvasError_Unauthorized("no"), easel.Unauthorized),
            (types.CanvasError_Throttled("slow"), easel.Throttled),
            (types.CanvasError_Invalid("bad"), easel.Invalid),
            (types.CanvasError_Upstream(types.UpstreamError(502, "oops")), easel.Upstream),
            (types.CanvasError_BudgetExhausted("spent"), easel.BudgetExhausted),
        ]
        for error, exception in cases:
            read.get = fail_with(error)
            with self.assertRaises(exception) as caught:
                easel.get("/api/v1/courses/1")
            self.assertIsInstance(caught.exception, easel.CanvasError)
            self.assertEqual(caught.exception.call, "GET /api/v1/courses/1")
        read.get = fail_with(cases[0][0])
        with self.assertRaises(easel.Denied) as caught:
            easel.get("/x")
        self.assertEqual((caught.exception.rule, caught.exception.reason), ("school-boundary", "outside"))
        read.get = fail_with(cases[5][0])
        with self.assertRaises(easel.Upstream) as caught:
            easel.get("/x")
        self.assertEqual((caught.exception.status, caught.exception.body), (502, "oops"))

    def test_a_failing_page_raises_from_the_iterator(self):
        class Failing(FakePages):
            def next(self):
                raise Err(types.CanvasError_Throttled("later"))

        read.list = lambda path, query: Failing([])
        with self.assertRaises(easel.Throttled):
            list(easel.list("/x"))

    def test_writes_send_json_and_report_planned_or_sent(self):
        sent = []
        write.send = lambda method, path, query, body: (
            sent.append((method, path, query, body)) or write.Outcome_Planned(3)
        )
        self.assertEqual(easel.put("/api/v1/courses/1", {"course": {"event": "offer"}}), easel.Planned(3))
        self.assertEqual(sent[-1], (write.Method.PUT, "/api/v1/courses/1", [], '{"course": {"event": "offer"}}'))
        write.send = lambda method, path, query, body: (
            sent.append((method, path, query, body)) or write.Outcome_Sent('{"id": 1}')
        )
        self.assertEqual(easel.post("/p", {}), easel.Sent({"id": 1}))
        self.assertEqual(sent[-1][0], write.Method.POST)
        write.send = lambda method, path, query, body: (
            sent.append((method, path, query, body)) or write.Outcome_Sent("")
        )
        self.assertEqual(easel.delete("/d", [("event", "conclude")]), easel.Sent(None))
        self.assertEqual(sent[-1], (write.Method.DELETE, "/d", [("event", "conclude")], None))

    def test_the_context_reads_the_host_once(self):
        cx = easel.context()
        self.assertIs(cx, easel.context())
        self.assertEqual((cx.school_id, cx.school_name, cx.instance, cx.dry_run, cx.run_id),
                         (80000000007, "North", "sim", True, "run-1"))
        self.assertEqual(cx.param_int("n"), 12)
        self.assertIsNone(cx.param("empty"))
        self.assertTrue(cx.param_bool("flag"))
        with self.assertRaises(easel.ParamError):
            cx.require("missing")

    def test_csv_rows_are_quoted_and_counted(self):
        out = easel.report.csv("t.csv", ["a", "b"])
        out.row([1, 'say "hi", then go'])
        out.row([None, "x\ny"])
        with self.assertRaises(easel.ReportError):
            out.row([1])
        self.assertEqual(out.rows, 2)
        self.assertEqual(FILES["t.csv"], b'a,b\r\n1,"say ""hi"", then go"\r\n,"x\ny"\r\n')

    def test_log_levels(self):
        easel.log.warn("careful")
        self.assertEqual(LOGS[-1], ("WARN", "careful"))


if __name__ == "__main__":
    unittest.main()
