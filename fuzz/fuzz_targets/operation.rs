//! `Operation::new` then `decide` on arbitrary calls, built mostly from the
//! endpoint table's words so most inputs reach `decide`. Never panics; with
//! any target outside the granted school the call is denied; with every
//! target inside it is never denied for the school boundary; an allowed
//! call respects the grant's write, masquerade and budget rules; every
//! denial reason is short.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use easel_policy::{
    Decision, Found, Grant, Masquerade, Method, ObjectKey, ObjectKind, Operation, Rule, Scope,
    SharedUsers, decide,
};
use libfuzzer_sys::fuzz_target;

/// Longest denial reason accepted (bytes).
const MAX_REASON: usize = 4096;
const SCHOOL: u64 = 10;
const ELSEWHERE: u64 = 20;

const LITERALS: &[&str] = &[
    "accounts", "courses", "sections", "users", "enrollments", "assignments",
    "sub_accounts", "terms", "admins", "reports", "sis_imports", "students",
    "submissions", "course_copy", "content_migrations", "blueprint_templates",
    "associated_courses", "update_associations", "crosslist", "profile",
    "page_views", "logins", "provisioning_csv", "self", "default",
];

const KEYS: &[&str] = &[
    "account[parent_account_id]", "account[sis_account_id]",
    "assignment[assignment_group_id]", "assignment_ids[]", "by_subaccounts[]",
    "by_teachers[]", "course[account_id]", "course[grading_standard_id]",
    "course[integration_id]", "course[sis_course_id]", "course[term_id]",
    "course_ids[]", "course_ids_to_add[]", "course_ids_to_remove[]",
    "course_section[integration_id]", "course_section[sis_section_id]",
    "enrollment[associated_user_id]", "enrollment[course_section_id]",
    "enrollment[role_id]", "enrollment[user_id]", "enrollment_role_id",
    "enrollment_term_id", "grading_period_id", "parameters[enrollment_term_id]",
    "pseudonym[authentication_provider_id]", "pseudonym[integration_id]",
    "pseudonym[sis_user_id]", "role_id", "settings[source_course_id]",
    "sis_account_id[]", "sis_course_id[]", "sis_section_id[]", "sis_user_id[]",
    "source_course", "student_ids[]", "user_id", "user_id[]", "user_ids[]",
    // bare words and traps
    "course", "account", "enrollment", "user", "section", "assignment",
    "settings", "pseudonym", "parameters", "course_section", "account_id",
    "course_id", "section_id", "id", "ids", "uuid", "event", "name", "type",
    "as_user_id", "AS_USER_ID", "as_user_id[]", " as_user_id", "access_token",
    "api_key", "per_page", "page", "include[]", "state[]", "workflow_state",
];

const SIS_PREFIXES: &[&str] = &[
    "sis_account_id", "sis_course_id", "sis_section_id", "sis_user_id",
    "sis_login_id", "sis_integration_id", "uuid", "lti_context_id",
];

#[derive(Arbitrary, Clone, Debug)]
enum Word {
    Known(u8),
    Raw(String),
}

impl Word {
    fn text(&self, table: &[&str]) -> String {
        match self {
            Word::Known(i) => table[*i as usize % table.len()].to_owned(),
            Word::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Clone, Debug)]
enum Id {
    Num(u64),
    Small(u8),
    Sis(u8, String),
    Bool(bool),
    Word(Word),
}

impl Id {
    fn text(&self) -> String {
        match self {
            Id::Num(n) => n.to_string(),
            Id::Small(n) => n.to_string(),
            Id::Sis(p, v) => format!("{}:{v}", SIS_PREFIXES[*p as usize % SIS_PREFIXES.len()]),
            Id::Bool(b) => b.to_string(),
            Id::Word(w) => w.text(LITERALS),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum PathIn {
    Built(Vec<Id>),
    Raw(String),
}

#[derive(Arbitrary, Clone, Debug)]
enum Json {
    Null,
    Bool(bool),
    Num(u64),
    Neg(i64),
    Float(f64),
    Str(Id),
    Arr(Vec<Json>),
    Obj(Vec<(Word, Json)>),
}

impl Json {
    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(&b.to_string()),
            Json::Num(n) => out.push_str(&n.to_string()),
            Json::Neg(n) => out.push_str(&n.to_string()),
            Json::Float(f) => out.push_str(&serde_json::to_string(f).unwrap_or_default()),
            Json::Str(id) => out.push_str(&quote(&id.text())),
            Json::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&quote(&k.text(KEYS)));
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

#[derive(Arbitrary, Debug)]
enum BodyIn {
    None,
    Built(Vec<(Word, Json)>),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum MethodIn {
    Get,
    Post,
    Put,
    Delete,
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: MethodIn,
    path: PathIn,
    query: Vec<(Word, Id)>,
    body: BodyIn,
    seq: u8,
    write_seq: u8,
    max_calls: u8,
    write: bool,
    masquerade: bool,
    max_writes: Option<u8>,
    shared_read: bool,
    sis_import: bool,
    sis_id_prefix: bool,
    scopes: u8,
    /// Bit i: target i is inside the school (mixed run).
    inside: u64,
    /// Bit i: target i is shared with another school.
    shared: u64,
}

/// A few scope lists (compiled once: regexes are slow to build).
fn scope_sets() -> &'static [Option<Vec<Scope>>] {
    static SETS: OnceLock<Vec<Option<Vec<Scope>>>> = OnceLock::new();
    SETS.get_or_init(|| {
        let parse = |list: &[&str]| {
            Some(
                list.iter()
                    .map(|s| Scope::parse(s).expect("seed scope"))
                    .collect(),
            )
        };
        vec![
            None,
            parse(&["url:GET|/api/v1/courses/:id", "url:GET|/api/v1/accounts/:id/courses"]),
            parse(&["url:GET|/api/v1/*path", "url:PUT|/api/v1/*path", "url:POST|/api/v1/*path", "url:DELETE|/api/v1/*path"]),
            parse(&["url:POST|/api/v1/courses/:course_id/enrollments", "url:GET|/api/v1/users/:id(/profile)"]),
        ]
    })
}

fn check_reason(d: &Decision) {
    if let Decision::Deny(denial) = d {
        assert!(
            denial.reason.len() <= MAX_REASON,
            "denial reason of {} bytes",
            denial.reason.len()
        );
    }
}

fuzz_target!(|input: Input| {
    let method = match input.method {
        MethodIn::Get => Method::Get,
        MethodIn::Post => Method::Post,
        MethodIn::Put => Method::Put,
        MethodIn::Delete => Method::Delete,
    };
    let path = match &input.path {
        PathIn::Built(ids) => {
            let mut p = String::from("/api/v1");
            for id in ids {
                p.push('/');
                p.push_str(&id.text());
            }
            p
        }
        PathIn::Raw(s) => s.clone(),
    };
    let query: Vec<(String, String)> = input
        .query
        .iter()
        .map(|(k, v)| (k.text(KEYS), v.text()))
        .collect();
    let body = match &input.body {
        BodyIn::None => None,
        BodyIn::Built(pairs) => {
            let mut s = String::new();
            Json::Obj(pairs.clone()).write(&mut s);
            Some(s)
        }
        BodyIn::Raw(s) => Some(s.clone()),
    };
    let seq = u32::from(input.seq);
    let mut op = match Operation::from_text(method, &path, query, body.as_deref(), seq) {
        Ok(op) => op,
        Err(denial) => {
            assert!(denial.reason.len() <= MAX_REASON, "denial of {} bytes", denial.reason.len());
            return;
        }
    };
    assert_eq!(op.path.as_string(), path, "the operation's path differs from the request");
    assert!(!op.targets.is_empty(), "an accepted call names nothing to place");
    op.write_seq = u32::from(input.write_seq);
    for (i, t) in op.targets.iter_mut().enumerate() {
        t.shared = input.shared >> (i % 64) & 1 == 1;
    }

    let sets = scope_sets();
    let grant = Grant {
        schools: vec![SCHOOL],
        write: input.write,
        max_calls: u32::from(input.max_calls),
        scopes: sets[input.scopes as usize % sets.len()].clone(),
        masquerade: input.masquerade,
        max_writes: input.max_writes.map(u32::from),
        shared_users: if input.shared_read { SharedUsers::Read } else { SharedUsers::Deny },
        sis_import: input.sis_import,
        sis_id_prefix: input.sis_id_prefix.then(|| "S1-".to_owned()),
    };

    // Every target inside: never refused for the school boundary.
    for t in &mut op.targets {
        t.chain = Some(vec![SCHOOL]);
    }
    let inside = decide(&grant, &op);
    check_reason(&inside);
    // A SIS id a call sets lies in the school's prefix, or the call is
    // refused.
    if inside == Decision::Allow {
        for (key, value) in &op.sets_sis {
            let prefix = grant.sis_id_prefix.as_deref().expect("a SIS id set without a prefix");
            assert!(value.starts_with(prefix) && value.len() > prefix.len(), "{key} = {value}");
        }
    }
    if let Decision::Deny(d) = &inside {
        assert_ne!(d.rule, Rule::SchoolBoundary, "all targets inside, yet {}", d.reason);
    } else {
        assert!(!method.is_write() || grant.write, "a write allowed without write");
        assert!(seq <= grant.max_calls, "allowed past the call budget");
        assert!(
            op.masquerade == Masquerade::None || grant.masquerade,
            "masquerade allowed without the grant"
        );
        if let (Some(max), true) = (grant.max_writes, method.is_write()) {
            assert!(op.write_seq <= max, "allowed past the write limit");
        }
    }

    // Every target outside: denied.
    for t in &mut op.targets {
        t.chain = Some(vec![ELSEWHERE]);
    }
    let outside = decide(&grant, &op);
    check_reason(&outside);
    assert!(matches!(outside, Decision::Deny(_)), "allowed with every target outside");

    // Mixed, some unplaced: denied if any target is not inside.
    let mut any_outside = false;
    for (i, t) in op.targets.iter_mut().enumerate() {
        let bit = input.inside >> (i % 64) & 1 == 1;
        t.chain = match (bit, i % 3) {
            (true, 0) => Some(vec![SCHOOL]),
            (true, _) => Some(vec![30, SCHOOL]),
            (false, 0) => None,
            (false, _) => Some(vec![ELSEWHERE, 1]),
        };
        any_outside |= !bit;
    }
    let mixed = decide(&grant, &op);
    check_reason(&mixed);
    if any_outside {
        assert!(matches!(mixed, Decision::Deny(_)), "allowed with a target outside");
    }

    // Accounts inside, every other target outside and missing from Canvas
    // (what a deleted object of another school looks like): allowed only
    // when every SIS id a row would create lies in the school's prefix.
    for t in &mut op.targets {
        if t.object.kind == ObjectKind::Account {
            t.chain = Some(vec![SCHOOL]);
        } else {
            t.chain = Some(vec![ELSEWHERE, 1]);
            t.found = Found::Missing;
        }
    }
    let missing = decide(&grant, &op);
    check_reason(&missing);
    if missing == Decision::Allow {
        for t in &op.targets {
            if let ObjectKey::Sis(form, value) = &t.object.key
                && form != "sis_login_id"
                && t.object.kind != ObjectKind::Account
            {
                let prefix = grant.sis_id_prefix.as_deref().expect("allowed without a prefix");
                assert!(value.starts_with(prefix), "created {value} outside the prefix");
            }
        }
    }
});
