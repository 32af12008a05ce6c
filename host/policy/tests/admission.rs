//! Table tests of run admission: each row changes one fact of an
//! admissible run and names the refusal (or none).

#![allow(clippy::expect_used, clippy::panic)]

use easel_policy::{ApprovalState, Refusal, RunFacts, admit};

const NOW: i64 = 1_800_000_000;

fn admissible() -> RunFacts {
    RunFacts {
        plugin: "course-report".into(),
        school: 2,
        approval: ApprovalState::Live,
        expires_at: None,
        expires_text: None,
        now: NOW,
        dry_run_only: false,
        dry_run: false,
        runs_per_day: None,
        runs_last_day: 0,
        grant_token: Some("tok-1".into()),
        run_token: Some("tok-1".into()),
    }
}

type Case = (&'static str, fn(&mut RunFacts), Option<Refusal>);

const CASES: &[Case] = &[
    (
        "a_live_approval_with_nothing_else_is_admitted",
        |_| {},
        None,
    ),
    (
        "no_approval_is_refused",
        |f| f.approval = ApprovalState::Missing,
        Some(Refusal::NotApproved),
    ),
    (
        "a_grant_waiting_for_its_second_approver_says_so",
        |f| {
            f.approval = ApprovalState::AwaitingSecond {
                first_by: "ana".into(),
            }
        },
        Some(Refusal::AwaitingSecondApprover),
    ),
    (
        "a_revoked_grant_says_revoked",
        |f| {
            f.approval = ApprovalState::Revoked {
                at: "2026-12-01T00:00:00Z".into(),
            }
        },
        Some(Refusal::Revoked),
    ),
    (
        "a_disabled_grant_is_refused",
        |f| f.approval = ApprovalState::Disabled,
        Some(Refusal::Disabled),
    ),
    (
        "an_expired_grant_is_refused",
        |f| f.expires_at = Some(NOW - 1),
        Some(Refusal::Expired),
    ),
    (
        "a_grant_expiring_now_is_refused",
        |f| f.expires_at = Some(NOW),
        Some(Refusal::Expired),
    ),
    (
        "a_grant_expiring_later_is_admitted",
        |f| f.expires_at = Some(NOW + 1),
        None,
    ),
    (
        "a_live_run_of_a_dry_run_only_grant_is_refused",
        |f| f.dry_run_only = true,
        Some(Refusal::DryRunOnly),
    ),
    (
        "a_dry_run_of_a_dry_run_only_grant_is_admitted",
        |f| {
            f.dry_run_only = true;
            f.dry_run = true;
        },
        None,
    ),
    (
        "the_last_run_of_the_day_is_admitted",
        |f| {
            f.runs_per_day = Some(3);
            f.runs_last_day = 2;
        },
        None,
    ),
    (
        "a_run_past_the_days_budget_is_refused",
        |f| {
            f.runs_per_day = Some(3);
            f.runs_last_day = 3;
        },
        Some(Refusal::RunsPerDay),
    ),
    (
        "another_token_is_refused",
        |f| f.run_token = Some("tok-2".into()),
        Some(Refusal::WrongToken),
    ),
    (
        "the_simulator_for_a_real_grant_is_refused",
        |f| f.run_token = None,
        Some(Refusal::WrongToken),
    ),
    (
        "the_simulator_for_a_simulator_grant_is_admitted",
        |f| {
            f.grant_token = None;
            f.run_token = None;
        },
        None,
    ),
    (
        "a_revoked_grant_says_revoked_before_it_says_expired",
        |f| {
            f.approval = ApprovalState::Revoked { at: "x".into() };
            f.expires_at = Some(NOW - 1);
        },
        Some(Refusal::Revoked),
    ),
];

#[test]
fn every_admission_case_decides_as_expected() {
    let mut failures = Vec::new();
    for (name, change, expected) in CASES {
        let mut f = admissible();
        change(&mut f);
        let got = admit(&f).err();
        if got.as_ref().map(|n| n.refusal) != *expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
        if let Some(n) = got {
            assert!(
                !n.reason.is_empty() && n.reason.contains("course-report"),
                "{name}: {}",
                n.reason
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_refusal_has_a_case() {
    for r in [
        Refusal::NotApproved,
        Refusal::AwaitingSecondApprover,
        Refusal::Revoked,
        Refusal::Disabled,
        Refusal::Expired,
        Refusal::DryRunOnly,
        Refusal::RunsPerDay,
        Refusal::WrongToken,
    ] {
        assert!(
            CASES.iter().any(|(_, _, e)| *e == Some(r)),
            "{r} has no case"
        );
    }
}
