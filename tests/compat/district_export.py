"""The district course export the way admins script it today, with canvasapi.

Usage: CANVAS_URL=... CANVAS_TOKEN=... district_export.py THREADS BACKOFF OUT_CSV

Lists the root account's sub-accounts (the schools); for each school lists
its courses with term, teachers and total students, and each course's
sections; writes one CSV, the same columns as easel's course-report with
sections=true. THREADS 1 is a plain loop over schools; more runs the schools
on a thread pool. A throttled call (canvasapi's RateLimitExceeded) is retried
after BACKOFF seconds. Prints one JSON line: rows and throttled calls.
"""
import csv
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from canvasapi import Canvas
from canvasapi.exceptions import RateLimitExceeded

threads, backoff, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
canvas = Canvas(os.environ["CANVAS_URL"], os.environ["CANVAS_TOKEN"])
throttled = 0
lock = threading.Lock()


def retrying(call):
    global throttled
    while True:
        try:
            return call()
        except RateLimitExceeded:
            with lock:
                throttled += 1
            time.sleep(backoff)


def school_rows(school):
    courses = retrying(
        lambda: list(
            school.get_courses(include=["term", "teachers", "total_students"], per_page=100)
        )
    )
    rows = []
    for c in courses:
        sections = retrying(lambda: list(c.get_sections(per_page=100)))
        term = getattr(c, "term", None) or {}
        # As course-report: a count Canvas did not send is empty, not 0.
        teachers = getattr(c, "teachers", None)
        students = getattr(c, "total_students", None)
        rows.append(
            [
                c.id,
                getattr(c, "sis_course_id", None) or "",
                getattr(c, "course_code", ""),
                c.name,
                c.account_id,
                term.get("name", ""),
                getattr(c, "workflow_state", ""),
                "" if teachers is None else len(teachers),
                "" if students is None else students,
                len(sections),
                "; ".join(s.name for s in sections),
            ]
        )
    return rows


root = retrying(lambda: canvas.get_account(1))
schools = retrying(lambda: list(root.get_subaccounts(per_page=100)))
if threads == 1:
    results = [school_rows(s) for s in schools]
else:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(school_rows, schools))
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(
        ["course_id", "sis_course_id", "course_code", "name", "account_id", "term", "state",
         "teachers", "students", "sections", "section_names"]
    )
    for rows in results:
        w.writerows(rows)
print(json.dumps({"rows": sum(len(r) for r in results), "throttled": throttled}))
