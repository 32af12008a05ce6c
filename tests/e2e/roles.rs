//! The application layer decides on the authenticated principal: what
//! each role may do, separation of duties by name, and tokens that no
//! longer sign in.

use easel_app::{Act, Actor, Kind, Role, RunRequest, SignIn};
use easel_runtime::Limits;
use easel_tests::{canary_token, connect, sim_with_token};

easel_tests::matrix!();

fn actor(name: &str, roles: Vec<Role>) -> Actor {
    Actor {
        name: name.to_owned(),
        roles,
        via: SignIn::Password,
    }
}

fn contributor(name: &str, school: u64) -> Actor {
    actor(
        name,
        vec![Role::SchoolContributor {
            schools: vec![school],
        }],
    )
}

fn request(school: u64, dry_run: bool) -> RunRequest {
    RunRequest {
        plugin: "course-report".into(),
        school,
        dry_run,
        params: Vec::new(),
        limits: Limits::default(),
        plan: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_contributor_submits_and_dry_runs_its_school_and_nothing_else() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (a, b) = sim.with_data(|d| (d.schools()[0].id, d.schools()[1].id));
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    let it = contributor("school-it", a);
    let p = &easel_bundled::COURSE_REPORT;
    easel_app::add(&h, &it, p.wasm, p.manifest, p.name).unwrap();

    // It may not approve, not even another's plugin.
    let e = easel_app::approve(&h, "course-report", &[a], false, &it).unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden, "{e}");
    let approver = actor("ana", vec![Role::Approver]);
    easel_app::approve(&h, "course-report", &[a, b], false, &approver).unwrap();

    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    // A dry run for its school, yes; live, or for another school, no.
    let dry = easel_app::execute_run_as(&h, &it, &conn, &runtime, request(a, true))
        .await
        .unwrap();
    for (school, dry_run) in [(a, false), (b, true)] {
        let e = easel_app::execute_run_as(&h, &it, &conn, &runtime, request(school, dry_run))
            .await
            .unwrap_err();
        assert_eq!(e.kind, Kind::Forbidden, "{e}");
    }
    let other = easel_app::execute_run_as(&h, &approver, &conn, &runtime, request(b, false))
        .await
        .unwrap();

    // It reads its school's runs and reports, and another school's run is
    // "not found", as if it did not exist.
    let listed = easel_app::reads::list_runs(&h, &it, 100, &Default::default()).unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [dry.run_id.as_str()]
    );
    assert!(easel_app::reads::run(&h, &it, &dry.run_id).is_ok());
    assert!(easel_app::reads::report(&h, &it, &dry.run_id, "courses.csv").is_ok());
    for e in [
        easel_app::reads::run(&h, &it, &other.run_id).unwrap_err(),
        easel_app::reads::report(&h, &it, &other.run_id, "courses.csv").unwrap_err(),
        easel_app::reads::report(&h, &it, &dry.run_id, "../../easel.db").unwrap_err(),
    ] {
        assert_eq!(e.kind, Kind::NotFound, "{e}");
    }
    assert_eq!(
        easel_app::reads::list_runs(&h, &approver, 100, &Default::default())
            .unwrap()
            .len(),
        2
    );
    // Nor may it revoke, or touch settings and credentials.
    assert_eq!(
        easel_app::revoke(&h, &it, "course-report", &[a])
            .unwrap_err()
            .kind,
        Kind::Forbidden
    );
    assert!(!it.may(Act::ChangeSettings) && !it.may(Act::ManageCredentials));
}

#[test]
fn whoever_submitted_a_component_cannot_approve_it_under_any_casing_or_spacing() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    let p = &easel_bundled::COURSE_REPORT;
    let me = easel_app::process::local_actor();
    let principals = h.principals();
    principals
        .add_user(&me, "  School-IT ", vec![Role::DistrictAdmin])
        .unwrap();
    principals
        .add_user(&me, "bob", vec![Role::DistrictAdmin])
        .unwrap();
    // Two people submit the same bytes; neither may approve them.
    let first = principals
        .issue_token(&me, "SCHOOL-it", "t", None, None)
        .unwrap();
    let it = principals.authenticate(&first.token, "test").unwrap();
    assert_eq!(it.name, "school-it");
    easel_app::add(&h, &it, p.wasm, p.manifest, p.name).unwrap();
    let bob = principals
        .authenticate(
            &principals
                .issue_token(&me, "Bob", "t", None, None)
                .unwrap()
                .token,
            "test",
        )
        .unwrap();
    easel_app::add(&h, &bob, p.wasm, p.manifest, p.name).unwrap();
    for who in [&it, &bob] {
        let e = easel_app::approve(&h, "course-report", &[2], false, who).unwrap_err();
        assert_eq!(e.kind, Kind::Forbidden, "{e}");
        assert!(e.message.contains("submitted"), "{e}");
    }
    // An actor spelled differently is folded at sign-in: the name is the
    // stored one, so "School-IT" cannot slip past.
    assert!(easel_app::fold_name(" School-IT ").unwrap() == it.name);
    easel_app::approve(&h, "course-report", &[2], false, &me).unwrap();
}

#[test]
fn a_write_grant_needs_two_different_approvers_when_the_setting_says_2() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    h.store
        .set_setting(easel_app::WRITE_APPROVERS, "2")
        .unwrap();
    let p = &easel_bundled::COURSE_PUBLISHER;
    let it = contributor("school-it", 2);
    easel_app::add(&h, &it, p.wasm, p.manifest, p.name).unwrap();
    let ana = actor("ana", vec![Role::Approver]);
    let first = easel_app::approve(&h, "course-publisher", &[2], true, &ana).unwrap();
    assert!(first[0].awaiting_second);
    assert!(h.store.approval("course-publisher", 2).unwrap().is_none());
    let e = easel_app::approve(&h, "course-publisher", &[2], true, &ana).unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden, "{e}");
    let bo = actor("bo", vec![Role::Approver]);
    let second = easel_app::approve(&h, "course-publisher", &[2], true, &bo).unwrap();
    assert_eq!(second[0].second_by.as_deref(), Some("bo"));
    assert!(h.store.approval("course-publisher", 2).unwrap().is_some());
}

#[test]
fn expired_and_revoked_api_tokens_do_not_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    let me = easel_app::process::local_actor();
    let p = h.principals();
    p.add_user(&me, "ci", vec![Role::Approver]).unwrap();
    let expired = p
        .issue_token(&me, "ci", "old", Some(time::Duration::seconds(-1)), None)
        .unwrap();
    let e = p.authenticate(&expired.token, "test").unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden, "{e}");
    let live = p.issue_token(&me, "ci", "new", None, None).unwrap();
    assert!(p.authenticate(&live.token, "test").is_ok());
    p.revoke_token(&me, &live.id).unwrap();
    let e = p.authenticate(&live.token, "test").unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden, "{e}");
}

#[test]
fn an_approval_names_the_manifest_when_the_same_bytes_came_with_several() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    let it = contributor("school-it", 2);
    let p = &easel_bundled::COURSE_REPORT;
    easel_app::add(&h, &it, p.wasm, p.manifest, p.name).unwrap();
    let wider = p.manifest.replace("max_calls = ", "max_calls = 1");
    assert_ne!(wider, p.manifest, "the second manifest differs");
    easel_app::add(&h, &it, p.wasm, &wider, p.name).unwrap();
    let ana = actor("ana", vec![Role::Approver]);
    let e = easel_app::approve(&h, "course-report", &[2], false, &ana).unwrap_err();
    assert_eq!(e.kind, Kind::Invalid, "{e}");
    assert!(e.message.contains("--manifest-digest"), "{e}");
    let first = sha256(p.manifest);
    let rows = easel_app::approve_with(
        &h,
        "course-report",
        &[2],
        &ana,
        &easel_app::ApproveOptions {
            manifest_digest: Some(first[..12].to_owned()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        rows[0].manifest_digest, first,
        "the reviewed manifest, not the newest"
    );
}

fn sha256(text: &str) -> String {
    easel_tests::sha256_hex(text.as_bytes())
}

#[test]
fn a_plugin_id_is_its_submitters_and_not_another_schools_to_take() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    let p = &easel_bundled::COURSE_REPORT;
    easel_app::add(&h, &contributor("lhs-it", 2), p.wasm, p.manifest, p.name).unwrap();
    // Another school's IT person, other bytes, the same id and a higher
    // version: refused, so "approve course-report" cannot approve it.
    let q = &easel_bundled::COURSE_PUBLISHER;
    let squat = q
        .manifest
        .replace("id = \"course-publisher\"", "id = \"course-report\"");
    assert!(squat.contains("id = \"course-report\""));
    let e = easel_app::add(&h, &contributor("mhs-it", 4), q.wasm, &squat, q.name).unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden, "{e}");
    assert!(e.message.contains("belongs to lhs-it"), "{e}");
}

#[test]
fn a_second_approval_completes_only_the_same_grant() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    h.store
        .set_setting(easel_app::WRITE_APPROVERS, "2")
        .unwrap();
    let p = &easel_bundled::COURSE_PUBLISHER;
    let it = contributor("school-it", 2);
    easel_app::add(&h, &it, p.wasm, p.manifest, p.name).unwrap();
    let narrow = p
        .manifest
        .replace("id = \"course-publisher\"", "id = \"cp-narrow\"");
    easel_app::add(&h, &it, p.wasm, &narrow, "cp-narrow").unwrap();
    let ana = actor("ana", vec![Role::Approver]);
    let bo = actor("bo", vec![Role::Approver]);
    easel_app::approve(&h, "course-publisher", &[2], true, &ana).unwrap();
    // Bo approving another plugin with the same bytes does not complete
    // Ana's grant.
    let rows = easel_app::approve(&h, "cp-narrow", &[2], true, &bo).unwrap();
    assert_eq!(rows[0].plugin_id, "cp-narrow");
    assert!(rows[0].awaiting_second);
    assert!(h.store.approval("course-publisher", 2).unwrap().is_none());
    // Nor does a read-only approval, or one with other terms.
    let read_only = easel_app::approve(&h, "course-publisher", &[2], false, &bo).unwrap_err();
    assert_eq!(read_only.kind, Kind::Conflict, "{read_only}");
    let other_terms = easel_app::approve_with(
        &h,
        "course-publisher",
        &[2],
        &bo,
        &easel_app::ApproveOptions {
            write: true,
            terms: easel_store::GrantTerms {
                dry_run_only: true,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(other_terms.kind, Kind::Conflict, "{other_terms}");
    assert!(h.store.approval("course-publisher", 2).unwrap().is_none());
    let done = easel_app::approve(&h, "course-publisher", &[2], true, &bo).unwrap();
    assert_eq!(done[0].second_by.as_deref(), Some("bo"));
    assert!(h.store.approval("course-publisher", 2).unwrap().is_some());
    assert!(
        h.store.approval("cp-narrow", 2).unwrap().is_none(),
        "still waiting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_may_tighten_the_grants_write_limit_but_not_loosen_it() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    let p = &easel_bundled::COURSE_PUBLISHER;
    easel_app::add(
        &h,
        &contributor("school-it", school),
        p.wasm,
        p.manifest,
        p.name,
    )
    .unwrap();
    easel_app::approve_with(
        &h,
        "course-publisher",
        &[school],
        &actor("ana", vec![Role::Approver]),
        &easel_app::ApproveOptions {
            write: true,
            terms: easel_store::GrantTerms {
                max_writes: Some(1),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    let req = RunRequest {
        plugin: "course-publisher".into(),
        school,
        dry_run: false,
        params: vec![("action".into(), "publish".into())],
        limits: Limits {
            max_writes: Some(1000),
            ..Limits::default()
        },
        plan: None,
    };
    let admin = actor("ana", vec![Role::Approver]);
    let r = easel_app::execute_run_as(&h, &admin, &conn, &runtime, req)
        .await
        .unwrap();
    let writes = conn
        .sim
        .as_ref()
        .unwrap()
        .requests()
        .iter()
        .filter(|q| q.method == "PUT")
        .count();
    assert!(writes <= 1, "{writes} writes went out under a grant of 1");
    assert!(
        r.report
            .outcome
            .error()
            .is_some_and(|e| e.contains("at most 1 write")),
        "{:?}",
        r.report.outcome
    );
}
