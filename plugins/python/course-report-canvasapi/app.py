"""course-report-canvasapi: the course report, written as an admin's
canvasapi script would be, running unmodified in the sandbox.

canvasapi is given easel's Canvas URL and a placeholder, not a token: its
requests go through the SDK's stand-in for `requests` to the host, which
checks each against the grant, attaches the institution's token and
follows the pages. The rows are the Rust course report's.
"""

from canvasapi import Canvas

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


def run(cx: easel.Context) -> None:
    canvas = Canvas(easel.canvas_url(), easel.PLACEHOLDER)
    account = canvas.get_account(cx.school_id)
    easel.log.info(f"listing courses of {account.name} ({account.id}) with canvasapi")
    options = {"include": ["term", "teachers", "total_students"]}
    state = cx.param("state")
    if state:
        options["state"] = [state]
    term_id = cx.param_int("term_id")
    if term_id is not None:
        options["enrollment_term_id"] = term_id
    out = easel.report.csv("courses.csv", HEADER)
    for course in account.get_courses(**options):
        term = getattr(course, "term", None) or {}
        teachers = getattr(course, "teachers", None)
        out.row(
            [
                course.id,
                getattr(course, "sis_course_id", None),
                getattr(course, "course_code", None),
                course.name,
                getattr(course, "account_id", None),
                term.get("name"),
                getattr(course, "workflow_state", None),
                None if teachers is None else len(teachers),
                getattr(course, "total_students", None),
            ]
        )
    easel.log.info(f"wrote {out.rows} courses to courses.csv")
