//! Principals: names, roles, passwords, API tokens and sign-in limits,
//! against a real SQLite store and audit log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use easel_app::{Act, Actor, Kind, MAX_FAILURES_PER_NAME, Principals, Role, SignIn, fold_name};
use easel_store::{AuditFilter, AuditKeys, AuditLog, Store};

struct World {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    store: Store,
    audit: AuditLog,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("easel.db");
    let store = Store::open(&db).unwrap();
    let audit = AuditLog::open(&db, AuditKeys::derive(&[7u8; 32]).unwrap()).unwrap();
    World {
        _dir: dir,
        db,
        store,
        audit,
    }
}

fn root() -> Actor {
    Principals::local("root")
}

#[test]
fn names_are_trimmed_and_case_folded_and_an_empty_name_is_refused() {
    assert_eq!(fold_name("  School-IT ").unwrap(), "school-it");
    for bad in ["", "   ", "a b", "x\u{1b}[2J", &"n".repeat(65)] {
        assert_eq!(fold_name(bad).unwrap_err().kind, Kind::Invalid, "{bad:?}");
    }
    let w = world();
    let p = Principals::new(&w.store, &w.audit);
    let new = p
        .add_user(&root(), " School-IT ", vec![Role::Approver])
        .unwrap();
    assert_eq!(new.name, "school-it");
    let again = p
        .add_user(&root(), "SCHOOL-it", vec![Role::Approver])
        .unwrap_err();
    assert_eq!(again.kind, Kind::Conflict);
    let actor = p.sign_in("SCHOOL-IT", &new.password, "127.0.0.1").unwrap();
    assert_eq!(actor.name, "school-it");
    assert_eq!(actor.via, SignIn::Password);
}

#[test]
fn what_each_role_may_do() {
    let actor = |roles| Actor {
        name: "x".into(),
        roles,
        via: SignIn::Password,
    };
    let contributor = actor(vec![Role::SchoolContributor { schools: vec![2] }]);
    assert!(contributor.may(Act::Submit));
    assert!(contributor.may(Act::RunDry(2)));
    assert!(contributor.may(Act::ReadRuns(2)));
    for no in [
        Act::Approve,
        Act::Revoke,
        Act::RunLive(2),
        Act::RunDry(4),
        Act::ReadRuns(4),
        Act::ReadAllRuns,
        Act::ReadAudit,
        Act::ManageUsers,
        Act::ManageCredentials,
        Act::ChangeSettings,
    ] {
        assert!(!contributor.may(no), "contributor may {no:?}");
    }
    let approver = actor(vec![Role::Approver]);
    assert!(
        approver.may(Act::Approve) && approver.may(Act::RunLive(4)) && approver.may(Act::ReadAudit)
    );
    assert!(!approver.may(Act::ManageCredentials) && !approver.may(Act::ManageUsers));
    assert!(!approver.may(Act::Submit));
    let auditor = actor(vec![Role::Auditor]);
    assert!(auditor.may(Act::ReadAudit) && auditor.may(Act::ReadRuns(9)));
    assert!(!auditor.may(Act::RunDry(9)) && !auditor.may(Act::Approve));
    let e = contributor.require(Act::Approve).unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden);
    assert!(e.message.contains("may not approve plugins"), "{e}");
    assert!(actor(vec![Role::DistrictAdmin]).may(Act::ManageCredentials));
}

#[test]
fn only_a_user_manager_adds_users() {
    let w = world();
    let p = Principals::new(&w.store, &w.audit);
    let approver = Actor {
        name: "ana".into(),
        roles: vec![Role::Approver],
        via: SignIn::Password,
    };
    let e = p
        .add_user(&approver, "mallory", vec![Role::DistrictAdmin])
        .unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden);
    assert!(w.store.user("mallory").unwrap().is_none());
}

#[test]
fn a_brute_force_is_slowed_and_audited() {
    let w = world();
    let p = Principals::new(&w.store, &w.audit);
    let new = p.add_user(&root(), "ana", vec![Role::Approver]).unwrap();
    for _ in 0..MAX_FAILURES_PER_NAME {
        let e = p.sign_in("ana", "guess", "203.0.113.9").unwrap_err();
        assert_eq!(e.message, "wrong name or password");
    }
    // Past the limit even the right password is refused from there...
    let e = p.sign_in("ana", &new.password, "203.0.113.9").unwrap_err();
    assert!(e.message.contains("too many failed sign-ins"), "{e}");
    // ...but whoever guessed cannot lock ana out from her own address.
    p.sign_in("ana", &new.password, "198.51.100.1").unwrap();
    // An unknown name reads the same as a wrong password.
    let e = p.sign_in("nobody", "guess", "198.51.100.2").unwrap_err();
    assert_eq!(e.message, "wrong name or password");
    let failures = w
        .audit
        .records(&AuditFilter::default(), None)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "sign-in-failed")
        .count();
    assert_eq!(failures, MAX_FAILURES_PER_NAME as usize + 2);
}

#[test]
fn api_tokens_prove_their_user_until_revoked_or_expired() {
    let w = world();
    let p = Principals::new(&w.store, &w.audit);
    let user = p
        .add_user(&root(), "ci", vec![Role::Approver, Role::Auditor])
        .unwrap();
    let ci = p.sign_in("ci", &user.password, "127.0.0.1").unwrap();
    let t = p.issue_token(&ci, "ci", "nightly", None, None).unwrap();
    assert!(t.token.starts_with("easel_pat_"));
    let actor = p.authenticate(&t.token, "127.0.0.1").unwrap();
    assert_eq!(actor.name, "ci");
    assert_eq!(actor.via, SignIn::ApiToken(t.id.clone()));
    assert_eq!(actor.roles.len(), 2);

    // Fewer roles than the user's; never more.
    let narrow = p
        .issue_token(&ci, "ci", "read", None, Some(vec![Role::Auditor]))
        .unwrap();
    let a = p.authenticate(&narrow.token, "127.0.0.1").unwrap();
    assert_eq!(a.roles, vec![Role::Auditor]);
    assert!(!a.may(Act::Approve));
    let e = p
        .issue_token(&ci, "ci", "wide", None, Some(vec![Role::DistrictAdmin]))
        .unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden);

    // A tampered secret, a revoked token, an expired one: refused.
    let mut tampered = t.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        p.authenticate(&tampered, "x").unwrap_err().kind,
        Kind::Forbidden
    );
    p.revoke_token(&ci, &t.id).unwrap();
    assert!(
        p.authenticate(&t.token, "x")
            .unwrap_err()
            .message
            .contains("revoked")
    );
    let expired = p
        .issue_token(&ci, "ci", "old", Some(time::Duration::seconds(-1)), None)
        .unwrap();
    assert!(
        p.authenticate(&expired.token, "x")
            .unwrap_err()
            .message
            .contains("expired")
    );
    assert!(p.authenticate("Bearer nonsense", "x").is_err());
}

#[test]
fn no_password_or_token_secret_is_stored() {
    let w = world();
    let p = Principals::new(&w.store, &w.audit);
    let user = p.add_user(&root(), "ana", vec![Role::Approver]).unwrap();
    let ana = p.sign_in("ana", &user.password, "127.0.0.1").unwrap();
    p.set_password(&ana, "ana", "correct horse battery staple")
        .unwrap();
    let t = p.issue_token(&ana, "ana", "laptop", None, None).unwrap();
    let secret = t.token.rsplit('_').next().unwrap().to_owned();
    // The database and its write-ahead log.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(w.db.parent().unwrap()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&bytes);
    for s in [
        user.password.as_str(),
        "correct horse battery staple",
        &secret,
        &t.token,
    ] {
        assert!(!text.contains(s), "{s} is in the database");
    }
    assert!(
        text.contains("$argon2id$"),
        "the password is stored as an argon2id hash"
    );
}

#[test]
fn guesses_made_at_the_same_moment_all_count_against_the_limit() {
    let w = world();
    let p = Principals::new(&w.store, &w.audit);
    p.add_user(&root(), "ana", vec![Role::Approver]).unwrap();
    let db = w.db.clone();
    // Eight guessers at once, each on its own connection, as a server's
    // requests are: no more than the limit get a password check.
    let checked: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                s.spawn(move || {
                    let store = Store::open(&db).unwrap();
                    let audit =
                        AuditLog::open(&db, AuditKeys::derive(&[7u8; 32]).unwrap()).unwrap();
                    let p = Principals::new(&store, &audit);
                    let e = p.sign_in("ana", "guess", "203.0.113.9").unwrap_err();
                    usize::from(e.message == "wrong name or password")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(
        checked <= MAX_FAILURES_PER_NAME as usize,
        "{checked} guesses were checked"
    );
}

#[test]
fn a_narrowed_token_cannot_mint_a_wider_one_or_change_the_password() {
    let w = world();
    let p = Principals::new(&w.store, &w.audit);
    p.add_user(&root(), "ana", vec![Role::Approver, Role::Auditor])
        .unwrap();
    let narrow = p
        .issue_token(&root(), "ana", "ci", None, Some(vec![Role::Auditor]))
        .unwrap();
    let ci = p.authenticate(&narrow.token, "test").unwrap();
    assert_eq!(ci.roles, vec![Role::Auditor]);
    // Its own new token carries no more than it does.
    let minted = p.issue_token(&ci, "ana", "more", None, None).unwrap();
    let again = p.authenticate(&minted.token, "test").unwrap();
    assert_eq!(again.roles, vec![Role::Auditor]);
    let e = p
        .issue_token(&ci, "ana", "more", None, Some(vec![Role::Approver]))
        .unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden, "{e}");
    // Nor may it set the password, which signs in with every role.
    let e = p
        .set_password(&ci, "ana", "a long new password")
        .unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden, "{e}");
    let full = p.issue_token(&root(), "ana", "full", None, None).unwrap();
    let ana = p.authenticate(&full.token, "test").unwrap();
    p.set_password(&ana, "ana", "a long new password").unwrap();
}
