"""The course report with the easel SDK alone (no canvasapi): the rows of
the Rust course report, for the benchmark that compares the three."""

import easel

HEADER = [
    "course_id",
    "sis_course_id",
    "course_code",
    "name",
    "account_id",
    "term",
    "state",
    "teachers",
    "students",
]


def _cell(v):
    return "" if v is None else v


def run(cx: easel.Context) -> None:
    query = [("include[]", "term"), ("include[]", "teachers"), ("include[]", "total_students")]
    out = easel.report.csv("courses.csv", HEADER)
    for c in easel.list(f"/api/v1/accounts/{cx.school_id}/courses", query):
        teachers = c.get("teachers")
        out.row(
            [
                c["id"],
                _cell(c.get("sis_course_id")),
                _cell(c.get("course_code")),
                c.get("name", ""),
                _cell(c.get("account_id")),
                _cell((c.get("term") or {}).get("name")),
                _cell(c.get("workflow_state")),
                "" if teachers is None else len(teachers),
                _cell(c.get("total_students")),
            ]
        )
    easel.log.info(f"wrote {out.rows} courses to courses.csv")
