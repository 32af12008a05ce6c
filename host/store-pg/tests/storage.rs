//! The PostgreSQL store's ports of the SQLite store's methods, against a
//! real PostgreSQL: plugins and approvals, users and sign-ins, SIS-id
//! prefixes, schedules, the vault's records and run records, each with
//! the answers SQLite's gives (the same refusals, states and orders).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Barrier};

use easel_pgtest::Cluster;
use easel_store::{
    ApiTokenRow, ApprovalRow, DenialRow, GrantTerms, InstanceRow, NewRun, PluginRow, RunFilter,
    RunFinish, RunStatus, ScheduleRow, SignInKeyRow, TokenRow,
};
use easel_store_pg::{Claim, PgStore};

fn store(cluster: &Cluster) -> (String, PgStore) {
    let url = cluster.database();
    let s = PgStore::connect(&url, 4).expect("connect");
    (url, s)
}

fn plugin(digest: &str, id: &str, version: &str, manifest_digest: &str, at: &str) -> PluginRow {
    PluginRow {
        digest: digest.into(),
        id: id.into(),
        version: version.into(),
        manifest: format!("id = \"{id}\"\nversion = \"{version}\""),
        manifest_digest: manifest_digest.into(),
        size: 1234,
        added_at: at.into(),
        added_by: "alice".into(),
    }
}

fn approval(p: &PluginRow, school: u64, waiting: bool) -> ApprovalRow {
    ApprovalRow {
        plugin_id: p.id.clone(),
        digest: p.digest.clone(),
        manifest_digest: p.manifest_digest.clone(),
        school,
        write: waiting,
        approved_by: "alice".into(),
        approved_at: "2026-01-01T00:00:00Z".into(),
        instance: Some("prod".into()),
        token_id: Some("t1".into()),
        terms: GrantTerms {
            max_calls: Some(50),
            ..GrantTerms::default()
        },
        awaiting_second: waiting,
        second_by: None,
    }
}

fn new_run(id: &str) -> NewRun {
    NewRun {
        id: id.into(),
        plugin_id: "course-report".into(),
        digest: "d".repeat(64),
        school: 7,
        instance: "prod".into(),
        dry_run: false,
        params: vec![("term".into(), "fall".into())],
        applies: None,
        owner: None,
        batch: None,
        token: None,
    }
}

fn schedule(id: &str, created_at: &str) -> ScheduleRow {
    ScheduleRow {
        id: id.into(),
        plugin_id: "course-report".into(),
        schools: vec![2, 3],
        all_schools: false,
        cron: "0 2 * * *".into(),
        tz: "UTC".into(),
        dry_run: true,
        params: vec![("term".into(), "fall".into())],
        overlap: "skip".into(),
        misfire: "run-once".into(),
        created_at: created_at.into(),
        created_by: "alice".into(),
        paused_at: None,
        paused_why: None,
        handled_until: "2026-01-01T00:00:00Z".into(),
        creator_local: false,
        retry_interrupted: true,
    }
}

fn token(id: &str, sealed: &[u8]) -> TokenRow {
    TokenRow {
        id: id.into(),
        instance: "prod".into(),
        kind: "user".into(),
        fingerprint: format!("fp-{id}"),
        client_id: None,
        sealed: sealed.to_vec(),
        generation: 1,
        created_at: "2026-01-01T00:00:00Z".into(),
        rotated_at: None,
        last_used_at: None,
        expires_at: None,
    }
}

fn instance(name: &str) -> InstanceRow {
    InstanceRow {
        name: name.into(),
        url: format!("https://{name}.instructure.com"),
        copy_of: None,
        created_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn sign_in_key(instance: &str, client_id: &str) -> SignInKeyRow {
    SignInKeyRow {
        instance: instance.into(),
        client_id: client_id.into(),
        sealed: vec![1, 2, 3],
        root_admins_are_district_admins: true,
        root_account_id: Some(1),
        set_at: "2026-01-01T00:00:00Z".into(),
        set_by: "alice".into(),
    }
}

// ---- plugins, approvals, denials, settings ----

#[test]
fn a_component_is_stored_once_and_each_new_manifest_is_a_new_version() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let d = "ab".repeat(32);
    let v1 = plugin(&d, "course-report", "1.0.0", "m1", "2026-01-01T00:00:00Z");
    assert!(s.add_plugin(&v1).unwrap());
    assert!(!s.add_plugin(&v1).unwrap(), "the same bytes twice");
    // The same component under a second manifest (added the same second:
    // arrival decides).
    let v1b = plugin(&d, "course-report", "1.0.1", "m2", "2026-01-01T00:00:00Z");
    assert!(s.add_plugin(&v1b).unwrap());
    assert!(!s.add_plugin(&v1b).unwrap());
    let other = "cd".repeat(32);
    let v2 = plugin(
        &other,
        "course-report",
        "2.0.0",
        "m3",
        "2026-02-01T00:00:00Z",
    );
    assert!(s.add_plugin(&v2).unwrap());

    let all: Vec<(String, String)> = s
        .plugins()
        .unwrap()
        .into_iter()
        .map(|p| (p.version, p.manifest_digest))
        .collect();
    assert_eq!(
        all,
        [
            ("2.0.0".into(), "m3".into()),
            ("1.0.1".into(), "m2".into()),
            ("1.0.0".into(), "m1".into())
        ],
        "newest first"
    );
    assert_eq!(
        s.plugin_version(&d, "m2").unwrap().unwrap().version,
        "1.0.1"
    );
    assert_eq!(s.plugin_version(&d, "m1").unwrap().unwrap(), v1);
    assert!(s.plugin_version(&d, "m3").unwrap().is_none());
    assert_eq!(s.manifests_of("course-report", &d).unwrap(), ["m1", "m2"]);

    let found = |name: &str| s.find_plugin(name).unwrap().map(|p| p.version);
    assert_eq!(found("course-report").as_deref(), Some("2.0.0"), "newest");
    assert_eq!(found("course-report@abab").as_deref(), Some("1.0.1"));
    assert_eq!(found("cdcdcdcd").as_deref(), Some("2.0.0"));
    assert_eq!(found("other-plugin"), None);
}

#[test]
fn approvals_are_live_revoked_disabled_or_awaiting_a_second_admin() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let p = plugin(
        &"ab".repeat(32),
        "roster",
        "1.0.0",
        "m1",
        "2026-01-01T00:00:00Z",
    );
    s.add_plugin(&p).unwrap();
    s.approve(&approval(&p, 2, false)).unwrap();
    s.approve(&approval(&p, 3, true)).unwrap();

    let live = s.approval("roster", 2).unwrap().unwrap();
    assert_eq!(live.terms.max_calls, Some(50));
    assert_eq!(live.token_id.as_deref(), Some("t1"));
    assert!(s.approval("roster", 3).unwrap().is_none(), "not live yet");
    let history = s.approval_history("roster", 3).unwrap().unwrap();
    assert_eq!(history.awaiting_second_after.as_deref(), Some("alice"));
    assert!(s.approval_history("roster", 9).unwrap().is_none());
    assert_eq!(s.live_schools("roster", &[]).unwrap(), [2]);
    // One waiting grant per plugin and school.
    assert!(s.approve(&approval(&p, 3, true)).is_err());

    let (seq, waiting) = s
        .awaiting_second("roster", &p.digest, "m1", 3)
        .unwrap()
        .unwrap();
    assert!(waiting.awaiting_second && waiting.write);
    assert!(s.approve_second(seq, "bob").unwrap());
    assert!(!s.approve_second(seq, "carol").unwrap(), "approved once");
    assert!(
        s.awaiting_second("roster", &p.digest, "m1", 3)
            .unwrap()
            .is_none()
    );
    let second = s.approval("roster", 3).unwrap().unwrap();
    assert_eq!(second.second_by.as_deref(), Some("bob"));
    assert!(!second.awaiting_second);
    assert_eq!(
        s.approvals()
            .unwrap()
            .iter()
            .map(|a| a.school)
            .collect::<Vec<_>>(),
        [3, 2],
        "newest first"
    );

    assert_eq!(s.revoke("roster", &[2, 5]).unwrap(), [2]);
    assert!(s.approval("roster", 2).unwrap().is_none());
    assert!(
        s.approval_history("roster", 2)
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert_eq!(s.live_schools("roster", &[]).unwrap(), [3]);
    assert!(s.revoke("roster", &[2]).unwrap().is_empty(), "revoked once");

    s.approve(&approval(&p, 4, true)).unwrap();
    assert_eq!(s.approvals_using_token("t1").unwrap(), 2, "live or waiting");
    assert_eq!(s.disable_approvals_using_token("t1").unwrap(), 3);
    assert_eq!(s.approvals_using_token("t1").unwrap(), 0);
    assert!(s.approval_history("roster", 3).unwrap().unwrap().disabled);
    assert_eq!(
        s.approval_states(&p.digest, "m1").unwrap(),
        [(4, "disabled"), (3, "disabled"), (2, "revoked")]
    );
    assert!(s.approvals().unwrap().is_empty());
}

#[test]
fn approval_states_name_each_row_newest_first() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let p = plugin(
        &"ab".repeat(32),
        "roster",
        "1.0.0",
        "m1",
        "2026-01-01T00:00:00Z",
    );
    s.add_plugin(&p).unwrap();
    s.approve(&approval(&p, 2, false)).unwrap();
    s.revoke("roster", &[2]).unwrap();
    s.approve(&approval(&p, 3, false)).unwrap();
    s.approve(&approval(&p, 4, true)).unwrap();
    assert_eq!(
        s.approval_states(&p.digest, "m1").unwrap(),
        [(4, "awaiting-second"), (3, "live"), (2, "revoked")]
    );
    assert!(s.approval_states(&p.digest, "m2").unwrap().is_empty());
}

#[test]
fn a_newer_approved_version_is_found_by_arrival() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let old = plugin(
        &"aa".repeat(32),
        "roster",
        "1.0.0",
        "m1",
        "2026-01-01T00:00:00Z",
    );
    let new = plugin(
        &"bb".repeat(32),
        "roster",
        "2.0.0",
        "m2",
        "2026-01-01T00:00:00Z",
    );
    let unrelated = plugin(
        &"cc".repeat(32),
        "grades",
        "9.0.0",
        "m3",
        "2026-03-01T00:00:00Z",
    );
    for p in [&old, &new, &unrelated] {
        s.add_plugin(p).unwrap();
    }
    assert_eq!(s.newer_version_approved(&old.digest).unwrap(), None);
    s.approve(&approval(&unrelated, 2, false)).unwrap();
    assert_eq!(s.newer_version_approved(&old.digest).unwrap(), None);
    s.approve(&approval(&new, 2, false)).unwrap();
    assert_eq!(
        s.newer_version_approved(&old.digest).unwrap(),
        Some(new.digest.clone())
    );
    assert_eq!(s.newer_version_approved(&new.digest).unwrap(), None);
}

#[test]
fn denials_are_listed_newest_first_even_within_one_second() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let denial = |by: &str, reason: &str| DenialRow {
        plugin_id: "roster".into(),
        digest: "ab".repeat(32),
        manifest_digest: "m1".into(),
        denied_by: by.into(),
        denied_at: "2026-01-01T00:00:00Z".into(),
        reason: reason.into(),
    };
    for (by, reason) in [
        ("alice", "too broad"),
        ("bob", "writes grades"),
        ("carol", "no"),
    ] {
        s.add_denial(&denial(by, reason)).unwrap();
    }
    let got: Vec<String> = s
        .denials(&"ab".repeat(32), "m1")
        .unwrap()
        .into_iter()
        .map(|d| d.denied_by)
        .collect();
    assert_eq!(got, ["carol", "bob", "alice"]);
    assert!(s.denials(&"ab".repeat(32), "m2").unwrap().is_empty());
}

#[test]
fn settings_are_replaced_and_submitters_kept_once_each() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    assert_eq!(s.setting("two-admins").unwrap(), None);
    s.set_setting("two-admins", "true").unwrap();
    s.set_setting("two-admins", "false").unwrap();
    assert_eq!(s.setting("two-admins").unwrap().as_deref(), Some("false"));

    let d = "ab".repeat(32);
    for name in ["carol", "alice", "carol", "Bob"] {
        s.record_submitter(&d, name).unwrap();
    }
    assert_eq!(
        s.submitters(&d).unwrap(),
        ["Bob", "alice", "carol"],
        "once each, in byte order as on SQLite"
    );
    assert!(s.submitters("other").unwrap().is_empty());
}

// ---- users, API tokens, sign-ins, Sign in with Canvas ----

#[test]
fn a_taken_user_name_is_refused_and_an_unknown_user_is_named() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    s.add_user("alice", r#"["admin"]"#, "root").unwrap();
    let err = s.add_user("alice", "[]", "root").unwrap_err().to_string();
    assert_eq!(err, "there is a user alice already");
    s.add_user("Bob", "[]", "alice").unwrap();

    let alice = s.user("alice").unwrap().unwrap();
    assert_eq!(
        (alice.roles.as_str(), alice.created_by.as_str()),
        (r#"["admin"]"#, "root")
    );
    assert_eq!(alice.password_hash, None);
    assert!(s.user("nobody").unwrap().is_none());
    let names: Vec<String> = s.users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["Bob", "alice"], "byte order, as on SQLite");

    s.set_password_hash("alice", "$argon2id$x").unwrap();
    assert_eq!(
        s.user("alice").unwrap().unwrap().password_hash.as_deref(),
        Some("$argon2id$x")
    );
    s.set_user_roles("alice", r#"["auditor"]"#).unwrap();
    assert_eq!(s.user("alice").unwrap().unwrap().roles, r#"["auditor"]"#);
    let err = s.set_password_hash("nobody", "h").unwrap_err().to_string();
    assert_eq!(err, "no user nobody");
    let err = s.set_user_roles("nobody", "[]").unwrap_err().to_string();
    assert_eq!(err, "no user nobody");
}

#[test]
fn api_tokens_are_listed_newest_first_and_revoked_once() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    s.add_user("alice", "[]", "root").unwrap();
    s.add_user("bob", "[]", "root").unwrap();
    let tok = |id: &str, user: &str, at: &str, console: bool| ApiTokenRow {
        id: id.into(),
        user_name: user.into(),
        label: "ci".into(),
        secret_sha256: "00".repeat(32),
        roles: "[]".into(),
        created_at: at.into(),
        expires_at: None,
        revoked_at: None,
        console,
    };
    s.add_api_token(&tok("old", "alice", "2026-01-01T00:00:00Z", false))
        .unwrap();
    s.add_api_token(&tok("new", "alice", "2026-02-01T00:00:00Z", false))
        .unwrap();
    s.add_api_token(&tok("web", "alice", "2026-01-15T00:00:00Z", true))
        .unwrap();
    s.add_api_token(&tok("bobs", "bob", "2026-01-01T00:00:00Z", false))
        .unwrap();
    assert!(
        s.add_api_token(&tok("x", "nobody", "2026-01-01T00:00:00Z", false))
            .is_err(),
        "a token needs its user"
    );
    let ids: Vec<String> = s
        .api_tokens("alice")
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["new", "web", "old"]);
    let web = s.api_token("web").unwrap().unwrap();
    assert!(web.console && web.revoked_at.is_none());

    assert_eq!(s.revoke_console_tokens().unwrap(), 1);
    assert!(s.api_token("web").unwrap().unwrap().revoked_at.is_some());
    assert!(s.api_token("new").unwrap().unwrap().revoked_at.is_none());
    assert!(s.revoke_api_token("old").unwrap());
    assert!(!s.revoke_api_token("old").unwrap(), "revoked once");
    assert!(!s.revoke_api_token("unknown").unwrap());
    assert_eq!(
        s.revoke_user_tokens("alice").unwrap(),
        1,
        "only `new` was live"
    );
    assert!(s.api_token("new").unwrap().unwrap().revoked_at.is_some());
    assert!(s.api_token("bobs").unwrap().unwrap().revoked_at.is_none());
}

#[test]
fn sign_in_failures_are_counted_since_a_time_by_name_and_by_address() {
    let cluster = Cluster::shared();
    let (url, s) = store(&cluster);
    // Any time after the old attempt below (RFC 3339 text compares as
    // text, so a time within this second would be a coin toss).
    let before = "2021-01-01T00:00:00Z";
    let a = s.record_sign_in_failure("alice", "10.0.0.1").unwrap();
    let b = s.record_sign_in_failure("alice", "10.0.0.1").unwrap();
    assert_ne!(a, b);
    s.record_sign_in_failure("bob", "10.0.0.1").unwrap();
    s.record_sign_in_failure("alice", "10.0.0.2").unwrap();
    s.record_sign_in_failure("api-token abc", "10.0.0.1")
        .unwrap();
    s.record_sign_in_failure("api-token def", "10.0.0.1")
        .unwrap();
    // An old attempt does not count.
    cluster.psql(
        &url,
        "INSERT INTO sign_in_failures (name, address, at) VALUES ('alice', '10.0.0.1', '2020-01-01T00:00:00Z')",
    );

    assert_eq!(
        s.sign_in_failures_since("alice", "10.0.0.1", before)
            .unwrap(),
        (2, 3),
        "alice from .1; anyone from .1 (API tokens apart)"
    );
    assert_eq!(s.token_failures_since("10.0.0.1", before).unwrap(), 2);
    assert_eq!(
        s.sign_in_failures_since("alice", "10.0.0.1", "2019-01-01")
            .unwrap(),
        (3, 4)
    );
    s.forget_sign_in_attempt(b).unwrap();
    assert_eq!(
        s.sign_in_failures_since("alice", "10.0.0.1", before)
            .unwrap(),
        (1, 2)
    );
    assert_eq!(
        s.sign_in_failures_since("alice", "10.0.0.1", "2999-01-01")
            .unwrap(),
        (0, 0)
    );
    assert_eq!(s.token_failures_since("10.0.0.2", before).unwrap(), 0);
}

#[test]
fn sign_in_keys_are_replaced_and_a_canvas_user_is_added_with_its_link_or_not_at_all() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    s.set_sign_in_key(&sign_in_key("prod", "170000000000001"))
        .unwrap();
    s.set_sign_in_key(&sign_in_key("beta", "170000000000002"))
        .unwrap();
    let mut replaced = sign_in_key("prod", "170000000000009");
    replaced.sealed = vec![9, 9];
    replaced.root_account_id = None;
    s.set_sign_in_key(&replaced).unwrap();
    assert!(s.sign_in_key("prod").unwrap().unwrap() == replaced);
    let instances: Vec<String> = s
        .sign_in_keys()
        .unwrap()
        .into_iter()
        .map(|k| k.instance)
        .collect();
    assert_eq!(instances, ["beta", "prod"]);
    assert!(s.remove_sign_in_key("beta").unwrap());
    assert!(!s.remove_sign_in_key("beta").unwrap());
    assert!(s.sign_in_key("beta").unwrap().is_none());

    s.add_canvas_user("prod", 42, "jane@prod", r#"["teacher"]"#)
        .unwrap();
    s.add_canvas_user("prod", 7, "al@prod", "[]").unwrap();
    assert_eq!(
        s.user("jane@prod").unwrap().unwrap().created_by,
        "sign in with canvas (prod)"
    );
    assert_eq!(
        s.canvas_identity("prod", 42).unwrap().as_deref(),
        Some("jane@prod")
    );
    assert_eq!(s.canvas_identity("beta", 42).unwrap(), None);
    assert_eq!(s.canvas_users("prod").unwrap(), ["al@prod", "jane@prod"]);
    assert!(s.is_canvas_user("jane@prod").unwrap());

    s.add_user("taken", "[]", "root").unwrap();
    let err = s
        .add_canvas_user("prod", 43, "taken", "[]")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "there is a user taken already");
    assert_eq!(s.canvas_identity("prod", 43).unwrap(), None);
    assert!(!s.is_canvas_user("taken").unwrap());
    // A Canvas user linked already: the whole addition is undone.
    assert!(s.add_canvas_user("prod", 42, "jane2@prod", "[]").is_err());
    assert!(s.user("jane2@prod").unwrap().is_none());
}

// ---- SIS-id prefixes (ported from host/store/src/schools.rs) ----

#[test]
fn overlapping_prefixes_are_refused_in_either_order_and_any_case() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    s.set_sis_prefix("prod", 2, "LHS-", "alice").unwrap();
    for (school, p) in [(3, "LHS-A"), (3, "lhs-"), (3, "L"), (3, "Lhs")] {
        let e = s.set_sis_prefix("prod", school, p, "alice").unwrap_err();
        assert!(e.to_string().contains("overlaps"), "{p}: {e}");
    }
    let e = s
        .set_sis_prefix("prod", 3, "LHS-A", "alice")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "school 2 has (or had) the SIS-id prefix \"LHS-\", which overlaps \"LHS-A\"; \
         each school's SIS ids must start with a prefix no other school's start with, \
         and a prefix given up stays its school's"
    );
    s.set_sis_prefix("prod", 3, "MHS-", "alice").unwrap();
    // Another instance is another namespace.
    s.set_sis_prefix("other", 3, "LHS-", "alice").unwrap();
    // A school may change its own prefix, even to one that extends it.
    s.set_sis_prefix("prod", 2, "LHS-2026-", "bob").unwrap();
    assert_eq!(
        s.sis_prefix("prod", 2).unwrap().as_deref(),
        Some("LHS-2026-")
    );
    let all = s.sis_prefixes("prod").unwrap();
    assert_eq!(
        all.iter()
            .map(|r| (r.school, r.prefix.as_str()))
            .collect::<Vec<_>>(),
        [(2, "LHS-2026-"), (3, "MHS-")]
    );
    assert_eq!(all[0].set_by, "bob");
    // What it gave up stays its own: its old ids (LHS-MATH-101) are
    // not another school's to take.
    let e = s.set_sis_prefix("prod", 3, "LHS-M", "alice").unwrap_err();
    assert!(e.to_string().contains("had"), "{e}");
    assert!(s.clear_sis_prefix("prod", 2).unwrap());
    assert_eq!(s.sis_prefix("prod", 2).unwrap(), None);
    assert!(!s.clear_sis_prefix("prod", 2).unwrap());
    for p in ["LHS-2026-X", "LHS-", "lhs"] {
        assert!(s.set_sis_prefix("prod", 4, p, "alice").is_err(), "{p}");
    }
    // And it may take its old prefix back.
    s.set_sis_prefix("prod", 2, "LHS-", "bob").unwrap();
}

#[test]
fn a_prefix_canvas_would_read_differently_is_refused() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    // Greek capital sigma folds two ways (σ, ς): non-ASCII is refused.
    for p in [
        "",
        " LHS",
        "LHS ",
        "L\u{7}",
        "A,B",
        "A\"B",
        "A\u{3a3}",
        "L H",
        &"x".repeat(65),
    ] {
        assert!(s.set_sis_prefix("prod", 2, p, "alice").is_err(), "{p:?}");
    }
    assert_eq!(s.sis_prefix("prod", 2).unwrap(), None);
}

#[test]
fn overlapping_prefixes_set_at_once_from_two_nodes_cannot_both_pass() {
    let cluster = Cluster::shared();
    let (url, _s) = store(&cluster);
    let nodes: Vec<Arc<PgStore>> = (0..2)
        .map(|_| Arc::new(PgStore::connect(&url, 2).unwrap()))
        .collect();
    for round in 0..20u64 {
        let barrier = Arc::new(Barrier::new(2));
        let ok: Vec<bool> = std::thread::scope(|sc| {
            let hs: Vec<_> = nodes
                .iter()
                .enumerate()
                .map(|(i, node)| {
                    let (node, barrier) = (node.clone(), barrier.clone());
                    sc.spawn(move || {
                        let school = 100 + round * 2 + i as u64;
                        let prefix = format!("R{round}-{}", "X".repeat(i));
                        barrier.wait();
                        node.set_sis_prefix("prod", school, &prefix, "alice")
                            .is_ok()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            ok.iter().filter(|b| **b).count(),
            1,
            "round {round}: {ok:?}"
        );
    }
}

// ---- schedules and fires ----

#[test]
fn schedules_are_listed_oldest_first_paused_resumed_and_removed() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let later = schedule("weekly", "2026-02-01T00:00:00Z");
    let first = schedule("nightly", "2026-01-01T00:00:00Z");
    s.add_schedule(&later).unwrap();
    s.add_schedule(&first).unwrap();
    assert!(s.add_schedule(&first).is_err(), "ids are unique");
    assert_eq!(s.schedules().unwrap(), [first.clone(), later.clone()]);
    assert_eq!(s.schedule("nightly").unwrap().unwrap(), first);
    assert!(s.schedule("none").unwrap().is_none());

    assert!(
        s.set_schedule_paused("nightly", Some("token expired"), None)
            .unwrap()
    );
    let paused = s.schedule("nightly").unwrap().unwrap();
    assert_eq!(paused.paused_why.as_deref(), Some("token expired"));
    assert!(paused.paused_at.is_some());
    // Resumed without skipping: the handled mark stays.
    assert!(s.set_schedule_paused("nightly", None, None).unwrap());
    let resumed = s.schedule("nightly").unwrap().unwrap();
    assert_eq!((resumed.paused_at, resumed.paused_why), (None, None));
    assert_eq!(resumed.handled_until, first.handled_until);
    // Resumed counting the paused stretch as handled.
    s.set_schedule_paused("nightly", Some("again"), None)
        .unwrap();
    assert!(
        s.set_schedule_paused("nightly", None, Some("2026-03-01T00:00:00Z"))
            .unwrap()
    );
    assert_eq!(
        s.schedule("nightly").unwrap().unwrap().handled_until,
        "2026-03-01T00:00:00Z"
    );
    assert!(!s.set_schedule_paused("none", Some("x"), None).unwrap());
    assert!(!s.set_schedule_paused("none", None, None).unwrap());

    assert!(s.remove_schedule("weekly").unwrap());
    assert!(!s.remove_schedule("weekly").unwrap());
    assert_eq!(s.schedules().unwrap().len(), 1);
}

#[test]
fn missed_fires_are_recorded_once_and_fires_are_listed_newest_first() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    s.add_schedule(&schedule("nightly", "2026-01-01T00:00:00Z"))
        .unwrap();
    let day = |d: u32| format!("2026-01-{d:02}T02:00:00Z");
    assert!(
        s.claim_fire("nightly", &day(2), "fired", None, "n1")
            .unwrap()
    );
    let missed = s
        .record_missed(
            "nightly",
            &[day(2), day(3), day(4)],
            &day(4),
            "easel was down",
        )
        .unwrap();
    assert_eq!(missed, 2, "the fired one is not missed");
    assert_eq!(
        s.record_missed("nightly", &[day(4), day(5)], &day(5), "down")
            .unwrap(),
        1
    );
    assert_eq!(
        s.schedule("nightly").unwrap().unwrap().handled_until,
        day(5)
    );
    // The mark never moves back.
    s.record_missed("nightly", &[], &day(1), "late").unwrap();
    assert_eq!(
        s.schedule("nightly").unwrap().unwrap().handled_until,
        day(5)
    );

    s.finish_fire("nightly", &day(2), "succeeded", Some("b-1"), None)
        .unwrap();
    let fires = s.fires("nightly", 10).unwrap();
    let times: Vec<&str> = fires.iter().map(|f| f.fire_at.as_str()).collect();
    assert_eq!(times, [day(5), day(4), day(3), day(2)]);
    let outcomes: Vec<&str> = fires.iter().map(|f| f.outcome.as_str()).collect();
    assert_eq!(outcomes, ["missed", "missed", "missed", "succeeded"]);
    assert_eq!(fires[3].batch.as_deref(), Some("b-1"));
    assert_eq!(fires[1].detail.as_deref(), Some("easel was down"));
    assert_eq!(s.fires("nightly", 2).unwrap().len(), 2);
    assert!(s.fires("other", 10).unwrap().is_empty());
}

// ---- instances, tokens, the vault's records ----

#[test]
fn tokens_are_resealed_with_a_new_generation_and_touched() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    s.add_instance(&instance("prod")).unwrap();
    s.add_instance(&instance("beta")).unwrap();
    assert!(s.add_instance(&instance("prod")).is_err());
    let names: Vec<String> = s.instances().unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["beta", "prod"]);
    assert_eq!(s.instance("prod").unwrap().unwrap(), instance("prod"));
    assert!(s.instance("none").unwrap().is_none());

    s.add_token(&token("t2", b"sealed-2")).unwrap();
    s.add_token(&token("t1", b"sealed-1")).unwrap();
    let ids: Vec<String> = s.tokens().unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(ids, ["t1", "t2"]);
    assert!(s.token("t1").unwrap().unwrap() == token("t1", b"sealed-1"));

    // A refresh: new secret, same rotation time.
    assert_eq!(
        s.reseal_token("t1", "fp-b", b"refreshed", false).unwrap(),
        2
    );
    let t = s.token("t1").unwrap().unwrap();
    assert_eq!(
        (t.sealed.as_slice(), t.fingerprint.as_str()),
        (&b"refreshed"[..], "fp-b")
    );
    assert_eq!((t.generation, t.rotated_at), (2, None));
    // A rotation.
    assert_eq!(s.reseal_token("t1", "fp-c", b"rotated", true).unwrap(), 3);
    assert!(s.token("t1").unwrap().unwrap().rotated_at.is_some());
    assert!(s.reseal_token("none", "fp", b"x", true).is_err());

    assert!(s.token("t2").unwrap().unwrap().last_used_at.is_none());
    s.touch_token("t2").unwrap();
    assert!(s.token("t2").unwrap().unwrap().last_used_at.is_some());

    assert!(s.remove_token("t2").unwrap());
    assert!(!s.remove_token("t2").unwrap());
    assert!(s.token("t2").unwrap().is_none());
}

#[test]
fn removing_an_instance_forgets_its_canvas_users() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    s.add_instance(&instance("prod")).unwrap();
    s.add_instance(&instance("beta")).unwrap();
    s.add_canvas_user("prod", 42, "jane@prod", "[]").unwrap();
    s.add_canvas_user("beta", 42, "jane@beta", "[]").unwrap();
    assert!(s.remove_instance("prod").unwrap());
    assert!(!s.remove_instance("prod").unwrap());
    assert_eq!(s.canvas_identity("prod", 42).unwrap(), None);
    assert_eq!(
        s.canvas_identity("beta", 42).unwrap().as_deref(),
        Some("jane@beta")
    );
    assert!(s.user("jane@prod").unwrap().is_some(), "the user stays");
    s.add_token(&{
        let mut t = token("t1", b"s");
        t.instance = "beta".into();
        t
    })
    .unwrap();
    assert!(
        s.remove_instance("beta").is_err(),
        "an instance with tokens stays"
    );
    assert!(s.instance("beta").unwrap().is_some());
    assert_eq!(
        s.canvas_identity("beta", 42).unwrap().as_deref(),
        Some("jane@beta"),
        "undone with it"
    );
}

#[test]
fn a_rekey_reseals_every_record_and_a_reset_forgets_them() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    assert_eq!(s.vault_meta("check").unwrap(), None);
    s.set_vault_meta("check", "k1").unwrap();
    s.set_vault_meta("check", "k2").unwrap();
    assert_eq!(s.vault_meta("check").unwrap().as_deref(), Some("k2"));

    s.add_instance(&instance("prod")).unwrap();
    s.add_token(&token("t1", b"old-1")).unwrap();
    s.add_token(&token("t2", b"old-2")).unwrap();
    s.set_sign_in_key(&sign_in_key("prod", "170000000000001"))
        .unwrap();
    s.reseal_all(
        &[
            ("t1".into(), b"new-1".to_vec(), "fp-1".into()),
            ("t2".into(), b"new-2".to_vec(), "fp-2".into()),
        ],
        &[("prod".into(), b"new-key".to_vec())],
        ("check", "k3"),
    )
    .unwrap();
    let tokens = s.tokens().unwrap();
    assert_eq!(
        tokens
            .iter()
            .map(|t| (t.sealed.clone(), t.fingerprint.clone(), t.generation))
            .collect::<Vec<_>>(),
        [
            (b"new-1".to_vec(), "fp-1".to_string(), 1),
            (b"new-2".to_vec(), "fp-2".to_string(), 1)
        ],
        "resealed, same generation"
    );
    assert_eq!(s.sign_in_key("prod").unwrap().unwrap().sealed, b"new-key");
    assert_eq!(s.vault_meta("check").unwrap().as_deref(), Some("k3"));

    assert_eq!(s.forget_sealed(("check", "k4")).unwrap(), (2, 1));
    assert!(s.tokens().unwrap().is_empty());
    assert!(s.sign_in_keys().unwrap().is_empty());
    assert_eq!(s.vault_meta("check").unwrap().as_deref(), Some("k4"));
    assert!(s.instance("prod").unwrap().is_some(), "instances stay");
}

#[test]
fn nodes_claiming_the_vault_check_at_once_all_get_the_first_value() {
    let cluster = Cluster::shared();
    let (url, s) = store(&cluster);
    let barrier = Arc::new(Barrier::new(4));
    let got: Vec<(String, String)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let (url, barrier) = (url.clone(), barrier.clone());
                sc.spawn(move || {
                    let node = PgStore::connect(&url, 1).unwrap();
                    let mine = format!("key-{i}");
                    barrier.wait();
                    (mine.clone(), node.claim_vault_meta("check", &mine).unwrap())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stored = s.vault_meta("check").unwrap().unwrap();
    assert!(got.iter().all(|(_, v)| *v == stored), "{got:?}");
    assert_eq!(got.iter().filter(|(mine, _)| *mine == stored).count(), 1);
    assert_eq!(s.claim_vault_meta("check", "later").unwrap(), stored);
}

// ---- run records ----

fn finish(status: RunStatus) -> RunFinish {
    RunFinish {
        status: Some(status),
        duration_ms: 1500,
        calls: 12,
        denied: 1,
        error: None,
        outputs: vec!["report.csv".into()],
        log: "done\n".into(),
        plan: vec![serde_json::json!({"method": "PUT", "path": "/x"})],
        plan_result: vec![],
    }
}

#[test]
fn a_run_ends_once_with_its_outputs_and_plan() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    s.start_run(&new_run("r1")).unwrap();
    s.finish_run("r1", &finish(RunStatus::Succeeded)).unwrap();
    let r = s.run("r1").unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!((r.duration_ms, r.calls, r.denied), (Some(1500), 12, 1));
    assert_eq!(r.outputs, ["report.csv"]);
    assert_eq!(r.log, "done\n");
    assert_eq!(r.plan.len(), 1);
    assert_eq!(r.params, [("term".to_string(), "fall".to_string())]);
    assert!(r.finished_at.is_some());
    // Ended: a second ending changes nothing.
    s.finish_run("r1", &finish(RunStatus::Failed)).unwrap();
    assert_eq!(s.run("r1").unwrap().unwrap().status, RunStatus::Succeeded);

    // A queued run may be ended before it is claimed (as on SQLite); no
    // status reads as failed.
    s.enqueue_run(&new_run("r2"), "{}").unwrap();
    s.finish_run(
        "r2",
        &RunFinish {
            error: Some("no worker".into()),
            ..RunFinish::default()
        },
    )
    .unwrap();
    let r2 = s.run("r2").unwrap().unwrap();
    assert_eq!(r2.status, RunStatus::Failed);
    assert_eq!(r2.error.as_deref(), Some("no worker"));
}

#[test]
fn a_run_is_found_by_its_id_or_an_id_prefix() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    for id in ["abcd-1111", "abce-2222", "ab", "z_9"] {
        s.start_run(&new_run(id)).unwrap();
    }
    let found = |q: &str| s.run(q).unwrap().map(|r| r.id);
    assert_eq!(found("abcd-1111").as_deref(), Some("abcd-1111"));
    assert_eq!(found("abcd").as_deref(), Some("abcd-1111"));
    assert_eq!(found("abce").as_deref(), Some("abce-2222"));
    assert_eq!(
        found("ABCE").as_deref(),
        Some("abce-2222"),
        "ASCII case ignored"
    );
    assert_eq!(found("ab").as_deref(), Some("ab"), "an exact id first");
    assert_eq!(
        found("abc").as_deref(),
        Some("abcd-1111"),
        "the oldest match"
    );
    assert_eq!(found("z_").as_deref(), Some("z_9"));
    assert_eq!(found("%2222"), None, "wildcards are not wildcards");
    assert_eq!(found("q"), None);
}

#[test]
fn runs_are_filtered_and_listed_newest_first() {
    let cluster = Cluster::shared();
    let (url, s) = store(&cluster);
    let mk = |id: &str, plugin: &str, school: u64, inst: &str, batch: Option<&str>| {
        let mut r = new_run(id);
        r.plugin_id = plugin.into();
        r.school = school;
        r.instance = inst.into();
        r.batch = batch.map(Into::into);
        s.start_run(&r).unwrap();
    };
    mk("r1", "roster", 2, "prod", Some("b1"));
    mk("r2", "roster", 3, "prod", Some("b1"));
    mk("r3", "grades", 2, "beta", None);
    mk("r4", "roster", 2, "prod", None);
    // r4 started in the same second as r3: arrival breaks the tie.
    cluster.psql(
        &url,
        "UPDATE runs SET started_at = CASE id
             WHEN 'r1' THEN '2026-01-01T00:00:00Z' WHEN 'r2' THEN '2026-01-02T00:00:00Z'
             ELSE '2026-01-03T00:00:00Z' END",
    );
    s.finish_run("r2", &finish(RunStatus::Failed)).unwrap();

    let ids = |f: RunFilter| -> Vec<String> {
        s.runs_where(10, &f)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(ids(RunFilter::default()), ["r4", "r3", "r2", "r1"]);
    let by = |f: fn(&mut RunFilter)| {
        let mut filter = RunFilter::default();
        f(&mut filter);
        ids(filter)
    };
    assert_eq!(by(|f| f.plugin = Some("roster".into())), ["r4", "r2", "r1"]);
    assert_eq!(by(|f| f.school = Some(2)), ["r4", "r3", "r1"]);
    assert_eq!(by(|f| f.status = Some("failed".into())), ["r2"]);
    assert_eq!(
        by(|f| f.since = Some("2026-01-02".into())),
        ["r4", "r3", "r2"]
    );
    assert_eq!(by(|f| f.batch = Some("b1".into())), ["r2", "r1"]);
    assert_eq!(by(|f| f.instance = Some("beta".into())), ["r3"]);
    assert_eq!(
        by(|f| {
            f.plugin = Some("roster".into());
            f.school = Some(2);
            f.since = Some("2026-01-01T12".into());
        }),
        ["r4"]
    );
    assert_eq!(
        s.runs(2)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        ["r4", "r3"]
    );
    assert_eq!(s.runs_since("roster", 2, "2026-01-01").unwrap(), 2);
    assert_eq!(s.runs_since("roster", 2, "2026-01-02").unwrap(), 1);
    assert_eq!(s.runs_since("roster", 9, "2026-01-01").unwrap(), 0);
}

#[test]
fn a_refused_run_frees_its_plan_and_each_failure_is_reported_and_retried_once() {
    let cluster = Cluster::shared();
    let (url, s) = store(&cluster);
    let mut applying = new_run("live-1");
    applying.applies = Some("dry-1".into());
    s.enqueue_run(&applying, r#"{"schedule":"nightly"}"#)
        .unwrap();
    assert_eq!(
        s.run_request("live-1").unwrap().as_deref(),
        Some(r#"{"schedule":"nightly"}"#)
    );
    s.refuse_run("live-1", "the approval was revoked").unwrap();
    let refused = s.run("live-1").unwrap().unwrap();
    assert_eq!(refused.status, RunStatus::Refused);
    assert_eq!(refused.error.as_deref(), Some("the approval was revoked"));
    assert_eq!(refused.applies, None);
    let mut again = new_run("live-2");
    again.applies = Some("dry-1".into());
    s.start_run(&again).unwrap();

    // Failing a claimed run: only a running one.
    s.enqueue_run(&new_run("q1"), "{}").unwrap();
    s.fail_claimed_run("q1", "no").unwrap();
    assert_eq!(s.run("q1").unwrap().unwrap().status, RunStatus::Queued);
    s.claim_run("w", easel_store::now_ms() + 60_000, &Claim::default())
        .unwrap()
        .unwrap();
    s.fail_claimed_run("q1", "could not start").unwrap();
    assert_eq!(s.run("q1").unwrap().unwrap().status, RunStatus::Failed);
    // Not queued: never reported.
    s.start_run(&new_run("direct")).unwrap();
    s.finish_run("direct", &finish(RunStatus::Failed)).unwrap();

    assert_eq!(s.unreported_failures("2001", 10).unwrap().len(), 2);
    assert_eq!(s.unreported_failures("2999", 10).unwrap().len(), 0);
    cluster.psql(
        &url,
        "UPDATE runs SET finished_at = '2000-01-01T00:00:00Z' WHERE id = 'q1'",
    );
    assert_eq!(
        s.unreported_failures("2000", 10).unwrap(),
        ["q1", "live-1"],
        "oldest first"
    );
    assert_eq!(s.unreported_failures("2000", 1).unwrap(), ["q1"]);
    assert_eq!(s.unreported_failures("2001", 10).unwrap(), ["live-1"]);
    assert!(s.claim_report("q1").unwrap());
    assert!(!s.claim_report("q1").unwrap(), "reported once");
    assert!(!s.claim_report("direct").unwrap());
    assert!(!s.claim_report("live-2").unwrap(), "still going");
    assert_eq!(s.unreported_failures("2000", 10).unwrap(), ["live-1"]);

    // Interrupted runs a schedule queued, until retried.
    cluster.psql(
        &url,
        "UPDATE runs SET status = 'interrupted' WHERE id IN ('live-1', 'q1')",
    );
    let unretried: Vec<(String, String)> = s
        .interrupted_unretried()
        .unwrap()
        .into_iter()
        .map(|(r, req)| (r.id, req))
        .collect();
    assert_eq!(
        unretried,
        [(
            "live-1".to_string(),
            r#"{"schedule":"nightly"}"#.to_string()
        )]
    );
    assert!(s.mark_retried("live-1", "live-3").unwrap());
    assert!(!s.mark_retried("live-1", "live-4").unwrap(), "once");
    assert!(s.interrupted_unretried().unwrap().is_empty());

    s.set_run_outputs("q1", &["partial.csv".into()]).unwrap();
    assert_eq!(s.run("q1").unwrap().unwrap().outputs, ["partial.csv"]);
}

/// Append an audit record of run `run` (the chain is not checked here).
fn audit(
    cluster: &Cluster,
    url: &str,
    seq: i64,
    run: &str,
    action: &str,
    call: &str,
    detail: &str,
) {
    let (method, path) = call.split_once(' ').unwrap();
    let detail = if detail.is_empty() {
        "NULL".to_string()
    } else {
        format!("'{}'", detail.replace('\'', "''"))
    };
    cluster.psql(
        url,
        &format!(
            "INSERT INTO audit (seq, at, actor, action, run, method, path, detail, prev_hash, hash)
             VALUES ({seq}, '2026-01-01T00:00:00Z', 'alice', '{action}', '{run}', '{method}',
                     '{path}', {detail}, 'p', 'h')"
        ),
    );
}

#[test]
fn an_interrupted_run_is_counted_from_the_audit_log_with_its_unanswered_writes() {
    let cluster = Cluster::shared();
    let (url, s) = store(&cluster);
    let calls = [
        ("canvas-request-allowed", "GET /api/v1/courses", ""),
        ("canvas-response", "GET /api/v1/courses", ""),
        ("canvas-request-allowed", "PUT /api/v1/courses/1", ""),
        ("canvas-response", "PUT /api/v1/courses/1", ""),
        ("canvas-request-allowed", "POST /api/v1/courses/1/pages", ""),
        ("canvas-request-allowed", "GET /api/v1/users/9", ""),
        ("canvas-request-denied", "DELETE /api/v1/courses/1", ""),
        (
            "canvas-request-allowed",
            "PUT /api/v1/x",
            "easel's lookup of the school",
        ),
        ("run-started", "GET /ignored", ""),
    ];
    let mut seq = 0;
    for run in ["live", "dry"] {
        for (action, call, detail) in calls {
            seq += 1;
            audit(&cluster, &url, seq, run, action, call, detail);
        }
    }
    let audited = s.audited_calls("live").unwrap();
    assert_eq!(
        (audited.answered, audited.writes, audited.denied),
        (2, 1, 1)
    );
    assert_eq!(
        audited.unanswered,
        [
            ("POST".to_string(), "/api/v1/courses/1/pages".to_string()),
            ("GET".to_string(), "/api/v1/users/9".to_string())
        ]
    );
    assert_eq!(s.audited_calls("none").unwrap(), Default::default());

    let mut live = new_run("live");
    live.owner = Some("me".into());
    s.start_run(&live).unwrap();
    let mut dry = new_run("dry");
    dry.owner = Some("me".into());
    dry.dry_run = true;
    s.start_run(&dry).unwrap();
    let mut other = new_run("other");
    other.owner = Some("someone".into());
    s.start_run(&other).unwrap();
    s.start_run(&new_run("orphan")).unwrap();

    assert_eq!(
        s.interrupt_runs(Some("me"), &|_| panic!("not asked"))
            .unwrap(),
        ["live", "dry"]
    );
    let r = s.run("live").unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Interrupted);
    assert_eq!((r.calls, r.denied, r.writes), (2, 1, Some(1)));
    assert_eq!(
        r.unknown,
        [
            serde_json::json!({"method": "POST", "path": "/api/v1/courses/1/pages", "outcome": "unknown"})
        ]
    );
    let error = r.error.unwrap();
    assert!(
        error.contains("records 2 answered call(s), 1 of them write(s)")
            && error.contains("1 write(s) were sent with no answer recorded")
            && error.contains("(POST /api/v1/courses/1/pages)"),
        "{error}"
    );
    let d = s.run("dry").unwrap().unwrap();
    assert!(d.unknown.is_empty(), "a dry run wrote nothing");
    assert!(!d.error.unwrap().contains("no answer recorded"));
    // Its ending recorded, a late finish does not undo it.
    s.finish_run("live", &finish(RunStatus::Succeeded)).unwrap();
    assert_eq!(
        s.run("live").unwrap().unwrap().status,
        RunStatus::Interrupted
    );

    // Without an owner: runs whose owner has ended, and runs with none.
    assert!(s.interrupt_runs(None, &|o| o == "someone").unwrap() == ["orphan"]);
    assert_eq!(s.run("other").unwrap().unwrap().status, RunStatus::Running);
    assert_eq!(s.interrupt_runs(None, &|_| false).unwrap(), ["other"]);
    assert!(s.interrupt_runs(None, &|_| false).unwrap().is_empty());
}

#[test]
fn run_stats_count_by_plugin_and_status_and_sum_calls() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let empty = s.run_stats().unwrap();
    assert!(empty.counts.is_empty() && empty.durations_ms.is_empty());
    assert_eq!((empty.calls, empty.denied), (0, 0));
    for (id, plugin) in [
        ("a", "roster"),
        ("b", "roster"),
        ("c", "grades"),
        ("d", "roster"),
    ] {
        let mut r = new_run(id);
        r.plugin_id = plugin.into();
        s.start_run(&r).unwrap();
    }
    s.finish_run("a", &finish(RunStatus::Succeeded)).unwrap();
    s.finish_run("b", &finish(RunStatus::Succeeded)).unwrap();
    s.finish_run("c", &finish(RunStatus::Failed)).unwrap();
    let stats = s.run_stats().unwrap();
    assert_eq!(
        stats.counts,
        [
            ("grades".to_string(), "failed".to_string(), 1),
            ("roster".to_string(), "running".to_string(), 1),
            ("roster".to_string(), "succeeded".to_string(), 2)
        ]
    );
    assert_eq!(stats.durations_ms, [1500, 1500, 1500]);
    assert_eq!((stats.calls, stats.denied), (36, 3));
}
