"""unstaffed-courses: published courses in the school (sub-accounts
included) with no active teacher, written as unstaffed_courses.csv.

One paged list call per 100 courses (``state[]=available``,
``include[]=teachers``), so a school with 2,000 courses costs 20 calls.
"""

import easel

HEADER = ["course_id", "sis_course_id", "course_code", "name", "account_id", "students"]


def run(cx: easel.Context) -> None:
    easel.log.info(f"listing published courses of {cx.school_name} ({cx.school_id})")
    out = easel.report.csv("unstaffed_courses.csv", HEADER)
    query = [
        ("state[]", "available"),
        ("include[]", "teachers"),
        ("include[]", "total_students"),
    ]
    seen = 0
    for course in easel.list(f"/api/v1/accounts/{cx.school_id}/courses", query):
        seen += 1
        if course.get("workflow_state") != "available" or course.get("teachers"):
            continue
        out.row(
            [
                course["id"],
                course.get("sis_course_id"),
                course.get("course_code"),
                course.get("name"),
                course.get("account_id"),
                course.get("total_students", 0),
            ]
        )
    easel.log.info(f"{out.rows} of {seen} published courses have no teacher")
