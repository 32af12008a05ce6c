"""{{id}}: published courses in the school, with their teachers and
student counts, as courses.csv.

easel runs `run` once per school the plugin is approved for. Every Canvas
call goes through easel, which attaches the token (the plugin never sees
one), keeps the call inside the school and records it in the audit log.
"""

import easel


def run(cx: easel.Context) -> None:
    out = easel.report.csv("courses.csv", ["course_id", "name", "teachers", "students"])
    query = [
        ("state[]", "available"),
        ("include[]", "teachers"),
        ("include[]", "total_students"),
    ]
    unstaffed = 0
    # easel.list follows Canvas's pages for you.
    for course in easel.list(f"/api/v1/accounts/{cx.school_id}/courses", query):
        teachers = [t.get("display_name") or str(t["id"]) for t in course.get("teachers", [])]
        if not teachers:
            unstaffed += 1
        out.row([course["id"], course["name"], "; ".join(teachers), course.get("total_students", 0)])
    easel.log.info(f"{out.rows} published courses in {cx.school_name}, {unstaffed} without a teacher")
