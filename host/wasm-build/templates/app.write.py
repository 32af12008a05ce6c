"""{{id}}: publish the school's unpublished courses whose name starts with
the `prefix` parameter, writing changes.csv.

Run it dry first (`easel run {{id}} --school ID --dry-run`): easel sends
nothing and records each write as a step of the run's plan, which an
approver reviews and applies.
"""

import easel


def run(cx: easel.Context) -> None:
    prefix = cx.require("prefix")
    path = f"/api/v1/accounts/{cx.school_id}/courses"
    # Collect first: publishing while paging a state-filtered list would
    # shift the pages under us.
    targets = [
        c
        for c in easel.list(path, [("state[]", "unpublished")])
        if c["name"].startswith(prefix) and c.get("workflow_state") == "unpublished"
    ]
    out = easel.report.csv("changes.csv", ["course_id", "name", "outcome"])
    for course in targets:
        result = easel.put(f"/api/v1/courses/{course['id']}", {"course": {"event": "offer"}})
        if isinstance(result, easel.Planned):
            outcome = f"planned (step {result.step})"
        else:
            outcome = f"now {result.value.get('workflow_state')}"
        out.row([course["id"], course["name"], outcome])
    verb = "would publish" if cx.dry_run else "published"
    easel.log.info(f"{verb} {len(targets)} course(s) starting with {prefix!r}")
