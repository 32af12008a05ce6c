"""Drive easel's Canvas simulator with the real `canvasapi` client.

Usage: canvasapi_compat.py URL TOKEN MODE EXPECTED_JSON
MODE "main" exercises reads, writes and errors; MODE "throttle" expects the
token's bucket to be full. Prints one line per check; exits non-zero on the
first mismatch.
"""
import json
import sys
import time

from canvasapi import Canvas
from canvasapi.exceptions import Forbidden, InvalidAccessToken, RateLimitExceeded, ResourceDoesNotExist, Unauthorized
from canvasapi.progress import Progress
from canvasapi.util import combine_kwargs

url, token, mode, expected = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
canvas = Canvas(url, token)


def check(name, got, want):
    if got != want:
        print(f"FAIL {name}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok {name}")


if mode == "throttle":
    try:
        for _ in range(20):
            canvas.get_account(expected["school"])
    except RateLimitExceeded:
        print("ok throttle raises RateLimitExceeded")
        sys.exit(0)
    print("FAIL throttle: no RateLimitExceeded")
    sys.exit(1)

root = canvas.get_account(1)
subs = list(root.get_subaccounts(recursive=True))
check("recursive sub-accounts", sorted(a.id for a in subs), expected["subaccounts"])

school = canvas.get_account(expected["school"])
courses = list(school.get_courses(per_page=5))
check("courses of a school across pages", sorted(c.id for c in courses), expected["courses"])

course = canvas.get_course(expected["course"])
enrollments = list(course.get_enrollments(per_page=3))
check("enrollments over bookmark pages", sorted(e.id for e in enrollments), expected["enrollments"])

user = canvas.get_user(expected["user"])
check("get a user", user.name, expected["user_name"])

created = school.create_course(course={"name": "Compat 101", "course_code": "COMPAT-101", "sis_course_id": "COMPAT-101"})
check("create a course", canvas.get_course(created.id).name, "Compat 101")
check("the new course is unpublished", canvas.get_course(created.id).workflow_state, "unpublished")

enrollment = canvas.get_course(created.id).enroll_user(expected["user"], "StudentEnrollment", enrollment={"enrollment_state": "active"})
check("enroll a user", (enrollment.user_id, enrollment.type), (expected["user"], "StudentEnrollment"))

# canvasapi has no helper for the batch update; admins call its requester.
requester = canvas._Canvas__requester
response = requester.request(
    "PUT", f"accounts/{school.id}/courses", _kwargs=combine_kwargs(course_ids=[created.id], event="offer")
)
progress = Progress(requester, response.json())
for _ in range(20):
    if progress.workflow_state == "completed":
        break
    time.sleep(0.05)
    progress = progress.query()
check("batch update progress completes", progress.workflow_state, "completed")
check("the batch update applied", canvas.get_course(created.id).workflow_state, "available")

try:
    canvas.get_course(999999)
    check("404 raises ResourceDoesNotExist", "no exception", "ResourceDoesNotExist")
except ResourceDoesNotExist:
    print("ok 404 raises ResourceDoesNotExist")

try:
    Canvas(url, "7~not-a-token").get_current_user()
    check("bad token raises InvalidAccessToken", "no exception", "InvalidAccessToken")
except InvalidAccessToken:
    print("ok bad token raises InvalidAccessToken")

try:
    Canvas(url, expected["nobody_token"]).get_account(expected["school"])
    check("permission denial raises Forbidden", "no exception", "Forbidden")
except (Forbidden, Unauthorized):
    print("ok permission denial raises Forbidden")
