//! One Canvas call a guest asked for, validated and ready for [`crate::decide`].
//!
//! An [`Operation`] is built once from the guest's raw method, path, query
//! and body. Building it extracts every account and course the call names, in
//! the path, the query and the JSON body, so the school boundary is checked
//! on all of them, not only on the first path segment.

use serde_json::Value;

use crate::body::Body;
use crate::decide::{Denial, Rule};
use crate::endpoint::{self, Endpoint, Field, Needs, Segment, names_an_id};
use crate::grant::AccountId;
use crate::path::{ApiPath, QueryPair, check_query};
use crate::sis_csv::{Column, SisCsv};

/// Longest SIS id value easel places (longer ones are refused).
pub const MAX_SIS_VALUE: usize = 255;

/// HTTP method of a Canvas call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Read.
    Get,
    /// Create.
    Post,
    /// Update.
    Put,
    /// Delete or conclude.
    Delete,
}

impl Method {
    /// True for POST, PUT and DELETE.
    pub fn is_write(self) -> bool {
        !matches!(self, Method::Get)
    }

    /// The method HTTP spells `s` (upper case), if easel models it.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => return None,
        })
    }

    /// The method as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// The kind of Canvas object a call names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// An account or sub-account.
    Account,
    /// A course.
    Course,
    /// A course section.
    Section,
    /// A user (placed by the courses they are enrolled in).
    User,
    /// An enrollment.
    Enrollment,
    /// An assignment (placed by its course).
    Assignment,
}

impl ObjectKind {
    /// The word used in denials and plans.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Account => "account",
            ObjectKind::Course => "course",
            ObjectKind::Section => "section",
            ObjectKind::User => "user",
            ObjectKind::Enrollment => "enrollment",
            ObjectKind::Assignment => "assignment",
        }
    }

    /// SIS id prefixes Canvas accepts for this kind.
    fn sis_prefixes(self) -> &'static [&'static str] {
        match self {
            ObjectKind::Account => &["sis_account_id"],
            ObjectKind::Course => &["sis_course_id"],
            ObjectKind::Section => &["sis_section_id"],
            ObjectKind::User => &["sis_user_id", "sis_login_id"],
            ObjectKind::Enrollment | ObjectKind::Assignment => &[],
        }
    }
}

/// Is `value` an SIS id that Canvas reads exactly as written? Canvas strips
/// whitespace from both ends of an SIS id and its router cuts a final
/// `.json` from a path segment, so `VICTIM ` or `VICTIM.json` would name
/// another object than the one placed: such values are refused.
pub fn sis_value_is_exact(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_SIS_VALUE
        && value.trim() == value
        && !value.chars().any(char::is_control)
        && !value.to_ascii_lowercase().ends_with(".json")
}

/// How the call identifies an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectKey {
    /// A numeric Canvas id.
    Id(u64),
    /// An SIS id form such as `sis_course_id:MATH-101`: (prefix, value).
    Sis(String, String),
    /// Any other form (`self`, `uuid:...`, `lti_context_id:...`); never
    /// resolvable to a school, so always denied.
    Other(String),
}

impl ObjectKey {
    /// Parse a path segment or parameter value naming an object.
    pub fn parse(raw: &str) -> Self {
        if let Ok(id) = raw.parse::<u64>() {
            return ObjectKey::Id(id);
        }
        match raw.split_once(':') {
            Some((prefix, value)) if prefix.starts_with("sis_") && sis_value_is_exact(value) => {
                ObjectKey::Sis(prefix.to_owned(), value.to_owned())
            }
            _ => ObjectKey::Other(raw.to_owned()),
        }
    }

    /// Parse `raw` as naming a `kind`: an SIS prefix Canvas does not accept
    /// for that kind (e.g. `sis_user_id:` for a course) cannot be placed.
    pub fn parse_for(kind: ObjectKind, raw: &str) -> Self {
        match Self::parse(raw) {
            ObjectKey::Sis(prefix, _) if !kind.sis_prefixes().contains(&prefix.as_str()) => {
                ObjectKey::Other(raw.to_owned())
            }
            key => key,
        }
    }
}

/// An object named by a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// Account or course.
    pub kind: ObjectKind,
    /// How it was named.
    pub key: ObjectKey,
}

/// An object named by a call, with the account chain the host resolved for
/// it (the owning account and its ancestors), or `None` when the host could
/// not place it in any granted school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The object.
    pub object: ObjectRef,
    /// Owning account first, then its ancestors up to the granted school.
    pub chain: Option<Vec<AccountId>>,
    /// The call reaches this user beyond the school's courses (a
    /// user-level endpoint, or masquerading as them).
    pub whole_user: bool,
    /// Set by the host for a user: some of their enrollments lie outside
    /// the granted schools (the user is shared with another school).
    pub shared: bool,
    /// What the object may be when it is not in the school.
    pub may_be: Outside,
    /// What the host found for an object it could not place in the school.
    pub found: Found,
}

/// What an object a call names may be, besides an object of the school.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outside {
    /// Nothing: it must lie in the school.
    #[default]
    Never,
    /// An object Canvas does not have yet: a SIS import row creates it.
    Created,
    /// Only an object Canvas does not have yet, even inside the school: a
    /// users.csv row changes a user everywhere, and easel cannot see
    /// whether an existing user administers another school.
    OnlyNew,
    /// The root account, where Canvas takes SIS imports (the grant must
    /// allow SIS imports, and each row is placed instead).
    ImportRoot,
}

impl Outside {
    /// The stricter of two allowances (an object named twice in a call).
    fn narrow(self, other: Outside) -> Outside {
        if self == other { self } else { Outside::Never }
    }
}

/// What the host found for an object outside the school (set by the host).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Found {
    /// Nothing more than that it is not the school's (it may be another's).
    #[default]
    Unknown,
    /// Canvas answered that there is no such object.
    Missing,
    /// A user Canvas has, with no enrollment in any course.
    Unenrolled,
    /// The root account of the school's Canvas.
    Root,
}

/// `as_user_id`, in whatever form the call gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Masquerade {
    /// The call acts as the token's own user.
    None,
    /// One `as_user_id` query parameter naming this user.
    User(ObjectKey),
    /// Any other form (brackets, another case, repeated, in the body):
    /// it still masquerades, and easel refuses forms it does not model.
    Malformed(String),
}

/// A validated Canvas call.
#[derive(Debug, Clone)]
pub struct Operation {
    /// HTTP method.
    pub method: Method,
    /// Normalised path: exactly the path that is sent.
    pub path: ApiPath,
    /// Query parameters, checked for credentials.
    pub query: Vec<QueryPair>,
    /// The checked body: exactly the bytes that are sent.
    pub body: Option<Body>,
    /// The endpoint table's row this call matched.
    pub endpoint: &'static Endpoint,
    /// The 1-based ordinal of this call in its run (for the call budget).
    pub seq: u32,
    /// For a write, its 1-based ordinal among the run's writes (planned
    /// ones included); 0 for a read.
    pub write_seq: u32,
    /// Whether and how the call masquerades.
    pub masquerade: Masquerade,
    /// Every object the call names; the host fills in each `chain`.
    pub targets: Vec<Target>,
    /// How many objects a write changes: 1, or a SIS import's rows (each
    /// counts against the run's write limit).
    pub changes: u32,
    /// Set by the host: a SIS import status this run's own import created.
    pub own_import: bool,
    /// SIS ids the call gives objects: `(key, value)`, e.g.
    /// `("course[sis_course_id]", "LHS-MATH-1")`.
    pub sets_sis: Vec<(String, String)>,
}

fn refuse(rule: Rule, reason: impl Into<String>) -> Denial {
    Denial {
        rule,
        reason: reason.into(),
    }
}

impl Operation {
    /// Build an operation from a guest's raw request: the body text is read
    /// as the endpoint takes it (a SIS import's CSV file, else one JSON
    /// object), then as [`Operation::new`].
    pub fn from_text(
        method: Method,
        path: &str,
        query: Vec<QueryPair>,
        body: Option<&str>,
        seq: u32,
    ) -> Result<Self, Denial> {
        let takes_csv = ApiPath::parse(path).ok().is_some_and(|p| {
            endpoint::find(method, p.resource_segments())
                .is_some_and(|e| e.needs == endpoint::Needs::SisImport)
        });
        let body = match body {
            None => None,
            Some(text) if takes_csv => Some(Body::sis_csv(SisCsv::parse(text)?)),
            Some(text) => {
                Some(Body::parse(text).map_err(|e| refuse(Rule::BodyForm, e.to_string()))?)
            }
        };
        Self::new(method, path, query, body, seq)
    }

    /// Build an operation from a guest's request: the path's form, the
    /// endpoint table's row, and every id in the path, query and body.
    /// Anything the policy cannot read is a denial (deny by default).
    pub fn new(
        method: Method,
        path: &str,
        query: Vec<QueryPair>,
        body: Option<Body>,
        seq: u32,
    ) -> Result<Self, Denial> {
        let path = ApiPath::parse(path).map_err(|e| refuse(Rule::PathForm, e.to_string()))?;
        check_query(&query).map_err(|e| refuse(Rule::PathForm, e.to_string()))?;
        let endpoint = endpoint::find(method, path.resource_segments()).ok_or_else(|| {
            refuse(
                Rule::UnmodelledEndpoint,
                format!(
                    "{} {} is not an endpoint easel models, so it cannot check what the call names; \
                     ask easel's maintainers to add it to the endpoint table",
                    method.as_str(),
                    shorten(&path.as_string(), 200),
                ),
            )
        })?;
        let import = matches!(endpoint.needs, Needs::SisImport | Needs::SisImportStatus);
        let mut refs = Refs::default();
        for (seg, got) in endpoint::segments(endpoint.template).zip(path.resource_segments()) {
            if let Segment::Placed(kind) = seg {
                let raw = percent_decode(got).unwrap_or_default();
                let may_be = if import && kind == ObjectKind::Account {
                    Outside::ImportRoot
                } else {
                    Outside::Never
                };
                refs.push(
                    kind,
                    ObjectKey::parse_for(kind, &raw),
                    endpoint.user_level,
                    may_be,
                )?;
            }
        }
        if endpoint.needs == Needs::SisImport {
            check_import_query(&query)?;
        }
        for (name, value) in &query {
            refs.query_pair(endpoint, name, value)?;
        }
        if query.len() > MAX_QUERY_PAIRS {
            return Err(refuse(
                Rule::PathForm,
                format!("a call may carry at most {MAX_QUERY_PAIRS} query parameters"),
            ));
        }
        let mut changes = 1;
        match (&body, endpoint.needs == Needs::SisImport) {
            (None, true) => {
                return Err(refuse(
                    Rule::BodyForm,
                    "a SIS import carries its CSV file's text as the body",
                ));
            }
            (None, false) => {}
            (Some(body), true) => {
                let csv = body.csv().ok_or_else(|| {
                    refuse(
                        Rule::BodyForm,
                        "a SIS import's body is its CSV file's text, not JSON",
                    )
                })?;
                refs.csv(csv)?;
                changes = u32::try_from(csv.rows()).unwrap_or(u32::MAX);
            }
            (Some(body), false) => {
                let map = body.value().ok_or_else(|| {
                    refuse(Rule::BodyForm, "only a SIS import carries a CSV file")
                })?;
                for (k, v) in map {
                    check_body_key(k)?;
                    refs.body_value(endpoint, v, k, k)?;
                }
            }
        }
        let Refs {
            targets,
            masquerade,
            sets_sis,
            ..
        } = refs;
        Ok(Self {
            method,
            path,
            query,
            body,
            endpoint,
            seq,
            write_seq: 0,
            masquerade,
            targets,
            changes,
            own_import: false,
            sets_sis,
        })
    }
}

/// Query parameters a SIS import may carry. Batch mode, diffing and the
/// rest act on objects beyond the file's rows (batch mode deletes what a
/// term's file leaves out), so they are refused.
fn check_import_query(query: &[QueryPair]) -> Result<(), Denial> {
    for (name, value) in query {
        let ok = match name.as_str() {
            "import_type" => value == "instructure_csv",
            "extension" => value == "csv",
            "override_sis_stickiness" | "add_sis_stickiness" | "clear_sis_stickiness" => {
                matches!(value.as_str(), "true" | "false")
            }
            _ => {
                return Err(refuse(
                    Rule::UnmodelledField,
                    format!(
                        "a SIS import's query parameter {} is not one easel models \
                         (batch mode and diffing act beyond the file's rows); \
                         it reads import_type, extension and the sis_stickiness switches",
                        shorten(name, 80)
                    ),
                ));
            }
        };
        if !ok {
            return Err(refuse(
                Rule::BodyForm,
                format!(
                    "a SIS import's {name} must be {}",
                    match name.as_str() {
                        "import_type" => "instructure_csv",
                        "extension" => "csv",
                        _ => "true or false",
                    }
                ),
            ));
        }
    }
    if !query.iter().any(|(k, _)| k == "extension") {
        return Err(refuse(
            Rule::BodyForm,
            "a SIS import sent as the request body needs extension=csv, so Canvas reads it as a CSV file",
        ));
    }
    Ok(())
}

/// Most objects one call may name: each must be placed, and placing costs
/// requests; a longer list is refused rather than worked through.
pub const MAX_TARGETS: usize = 1_000;

/// Most query parameters one call may carry.
pub const MAX_QUERY_PAIRS: usize = 1_000;

/// Objects a call names, as they are found.
struct Refs {
    targets: Vec<Target>,
    /// Index of each object in `targets`, so a repeated id costs O(1).
    seen: std::collections::HashMap<ObjectRef, usize>,
    masquerade: Masquerade,
    sets_sis: Vec<(String, String)>,
}

impl Default for Refs {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            seen: std::collections::HashMap::new(),
            masquerade: Masquerade::None,
            sets_sis: Vec::new(),
        }
    }
}

impl Refs {
    fn push(
        &mut self,
        kind: ObjectKind,
        key: ObjectKey,
        whole_user: bool,
        may_be: Outside,
    ) -> Result<(), Denial> {
        let object = ObjectRef { kind, key };
        let whole_user = whole_user && kind == ObjectKind::User;
        if let Some(&i) = self.seen.get(&object) {
            self.targets[i].whole_user |= whole_user;
            self.targets[i].may_be = self.targets[i].may_be.narrow(may_be);
            return Ok(());
        }
        if self.targets.len() >= MAX_TARGETS {
            return Err(refuse(
                Rule::BodyForm,
                format!("a call may name at most {MAX_TARGETS} objects; split it"),
            ));
        }
        self.seen.insert(object.clone(), self.targets.len());
        self.targets.push(Target {
            object,
            chain: None,
            whole_user,
            shared: false,
            may_be,
            found: Found::Unknown,
        });
        Ok(())
    }

    /// Every SIS id in a SIS import's rows, placed like any other id.
    fn csv(&mut self, csv: &SisCsv) -> Result<(), Denial> {
        let sis = |kind: ObjectKind, prefix: &str, v: &str| {
            (kind, ObjectKey::Sis(prefix.to_owned(), v.to_owned()))
        };
        let prefix = |kind: ObjectKind| match kind {
            ObjectKind::Account => "sis_account_id",
            ObjectKind::Course => "sis_course_id",
            ObjectKind::Section => "sis_section_id",
            _ => "sis_user_id",
        };
        for (_, column, value) in csv.cells() {
            let ((kind, key), whole_user, may_be) = match column {
                Column::Creates(ObjectKind::User) => (
                    sis(ObjectKind::User, prefix(ObjectKind::User), value),
                    true,
                    Outside::OnlyNew,
                ),
                Column::Creates(kind) => (sis(kind, prefix(kind), value), false, Outside::Created),
                Column::Login => (
                    sis(ObjectKind::User, "sis_login_id", value),
                    true,
                    Outside::OnlyNew,
                ),
                Column::Ref(kind) => (sis(kind, prefix(kind), value), false, Outside::Never),
                Column::Enrollee => (
                    sis(ObjectKind::User, "sis_user_id", value),
                    false,
                    Outside::Created,
                ),
                Column::Attr | Column::OneOf(_) => continue,
            };
            self.push(kind, key, whole_user, may_be)?;
        }
        Ok(())
    }

    /// A SIS id the call gives an object, checked against the school's
    /// prefix by `decide`. An empty value removes the object's SIS id.
    fn sets_sis(&mut self, key: &str, bare: &str, value: &str) -> Result<(), Denial> {
        check_attr(key, bare, value)?;
        if !value.is_empty() {
            if self.sets_sis.len() >= MAX_TARGETS {
                return Err(refuse(
                    Rule::BodyForm,
                    format!("a call may set at most {MAX_TARGETS} SIS ids; split it"),
                ));
            }
            self.sets_sis.push((key.to_owned(), value.to_owned()));
        }
        Ok(())
    }

    fn masquerading(&mut self, form: String) {
        self.masquerade = Masquerade::Malformed(form);
    }

    fn query_pair(&mut self, endpoint: &Endpoint, name: &str, value: &str) -> Result<(), Denial> {
        let bare = check_key(name).map_err(|e| refuse(Rule::PathForm, e))?;
        if is_as_user_id(bare) {
            if name == "as_user_id" && self.masquerade == Masquerade::None {
                let key = ObjectKey::parse_for(ObjectKind::User, value);
                self.masquerade = Masquerade::User(key.clone());
                self.push(ObjectKind::User, key, true, Outside::Never)?;
            } else {
                self.masquerading(format!("query parameter {}", shorten(name, 80)));
            }
            return Ok(());
        }
        if !names_an_id(bare, !is_boolean(value)) && !any_component_names_an_id(name) {
            return Ok(());
        }
        match endpoint.field(name) {
            Some(Field::Ref(kind)) => self.push(
                kind,
                ObjectKey::parse_for(kind, value),
                false,
                Outside::Never,
            ),
            Some(Field::Attr) => check_attr(name, bare, value),
            Some(Field::SetsSis) => self.sets_sis(name, bare, value),
            None => Err(unmodelled(endpoint, "query parameter", name)),
        }
    }

    /// Walk a body value found at bracket path `at`, whose last key is
    /// `bare`.
    fn body_value(
        &mut self,
        endpoint: &Endpoint,
        value: &Value,
        at: &str,
        bare: &str,
    ) -> Result<(), Denial> {
        if is_as_user_id(bare) {
            self.masquerading(format!("body key {}", shorten(at, 80)));
            return Ok(());
        }
        match value {
            Value::Object(map) => {
                if names_an_id(bare, false) {
                    return Err(refuse(
                        Rule::BodyForm,
                        format!(
                            "body key {} names an id but holds an object",
                            shorten(at, 120)
                        ),
                    ));
                }
                for (k, v) in map {
                    check_body_key(k)?;
                    self.body_value(endpoint, v, &format!("{at}[{k}]"), k)?;
                }
                Ok(())
            }
            Value::Array(items) => {
                let inner = format!("{at}[]");
                for item in items {
                    if item.is_array() && names_an_id(bare, false) {
                        return Err(refuse(
                            Rule::BodyForm,
                            format!("body key {} holds nested arrays of ids", shorten(at, 120)),
                        ));
                    }
                    self.body_value(endpoint, item, &inner, bare)?;
                }
                Ok(())
            }
            Value::Null => Ok(()),
            Value::Bool(_) if !names_an_id(bare, false) => Ok(()),
            scalar => {
                let is_id_like = any_component_names_an_id(at)
                    || match scalar {
                        Value::String(s) => names_an_id(bare, !is_boolean(s)),
                        _ => names_an_id(bare, true),
                    };
                if !is_id_like {
                    return Ok(());
                }
                match endpoint.field(at) {
                    Some(Field::Attr) => match scalar {
                        Value::String(v) => check_attr(at, bare, v),
                        _ => Ok(()),
                    },
                    Some(Field::SetsSis) => match scalar {
                        Value::String(v) => self.sets_sis(at, bare, v),
                        Value::Null => Ok(()),
                        // A number is a SIS id too, as Canvas reads it.
                        Value::Number(n) => self.sets_sis(at, bare, &n.to_string()),
                        _ => Err(not_an_id(at)),
                    },
                    Some(Field::Ref(kind)) => {
                        let key = match scalar {
                            Value::Number(n) => match n.as_u64() {
                                Some(id) => ObjectKey::Id(id),
                                None => return Err(not_an_id(at)),
                            },
                            Value::String(s) => ObjectKey::parse_for(kind, s),
                            _ => return Err(not_an_id(at)),
                        };
                        self.push(kind, key, false, Outside::Never)
                    }
                    None => Err(unmodelled(endpoint, "body key", at)),
                }
            }
        }
    }
}

/// Does any bracket component of `key` (not only the last) name an id, as
/// in `course_ids_to_add[0]` or `settings[source_course_id][x]`?
fn any_component_names_an_id(key: &str) -> bool {
    key.split(['[', ']'])
        .filter(|c| !c.is_empty())
        .any(|c| names_an_id(c, false))
}

/// An id-shaped attribute being set: an SIS or integration id Canvas would
/// read differently (trimmed, `.json` cut) is refused, so a plugin cannot
/// give its own object another school's SIS id by a near-miss.
fn check_attr(key: &str, bare: &str, value: &str) -> Result<(), Denial> {
    let b = bare.to_ascii_lowercase();
    if (b.starts_with("sis_") || b.ends_with("integration_id"))
        && !value.is_empty()
        && !sis_value_is_exact(value)
    {
        return Err(refuse(
            Rule::BodyForm,
            format!(
                "{} must not start or end with whitespace or end in .json (Canvas would read it differently)",
                shorten(key, 120)
            ),
        ));
    }
    Ok(())
}

fn not_an_id(at: &str) -> Denial {
    refuse(
        Rule::BodyForm,
        format!(
            "body key {} must name an object by a number or an SIS id",
            shorten(at, 120)
        ),
    )
}

fn unmodelled(endpoint: &Endpoint, what: &str, key: &str) -> Denial {
    refuse(
        Rule::UnmodelledField,
        format!(
            "{what} {} looks like it names an object, but easel does not model it for {}; \
             easel cannot check which school it belongs to",
            shorten(key, 120),
            endpoint.template
        ),
    )
}

/// `as_user_id` in any case, with any brackets or spaces around it.
fn is_as_user_id(bare: &str) -> bool {
    bare.trim().eq_ignore_ascii_case("as_user_id")
}

/// Rails reads these as booleans, never as ids.
fn is_boolean(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "false" | ""
    )
}

/// Check a parameter or body key's form (`name`, `a[b][]`): letters,
/// digits, `_`, `-`, `.` and balanced brackets. Returns its last non-empty
/// component (the bare name).
fn check_key(key: &str) -> Result<&str, String> {
    let bad = || {
        format!(
            "parameter name {:?} is not a form easel reads (letters, digits, _ - . and [brackets])",
            shorten(key, 80)
        )
    };
    let word = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    if key.is_empty() || key.len() > 256 {
        return Err(bad());
    }
    let (head, mut rest) = key.split_once('[').map_or((key, ""), |(h, r)| (h, r));
    if head.is_empty() || !word(head) {
        return Err(bad());
    }
    let mut bare = head;
    if !rest.is_empty() || key.contains('[') {
        // `rest` is everything after the first '[': "b][c][]"
        loop {
            let Some((inner, after)) = rest.split_once(']') else {
                return Err(bad());
            };
            if !word(inner) {
                return Err(bad());
            }
            if !inner.is_empty() {
                bare = inner;
            }
            if after.is_empty() {
                break;
            }
            rest = after.strip_prefix('[').ok_or_else(bad)?;
        }
    }
    Ok(bare)
}

/// A JSON body key: a plain name (nesting is JSON's, not brackets').
fn check_body_key(key: &str) -> Result<(), Denial> {
    let plain = !key.is_empty()
        && key.len() <= 256
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if plain {
        Ok(())
    } else {
        Err(refuse(
            Rule::BodyForm,
            format!(
                "body key {:?} is not a plain name (letters, digits, _ - .); nest objects instead of brackets",
                shorten(key, 80)
            ),
        ))
    }
}

/// Decode `%XX` escapes of a path segment already checked by
/// [`ApiPath::parse`]; `None` if the result is not UTF-8.
fn percent_decode(seg: &str) -> Option<String> {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// At most `n` characters of `s`, with an ellipsis when cut.
pub(crate) fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(n).collect();
    out.push('…');
    out
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectKey::Id(id) => write!(f, "{id}"),
            ObjectKey::Sis(prefix, value) => {
                write!(f, "{prefix}:{}", shorten(value, MAX_SIS_VALUE))
            }
            ObjectKey::Other(s) => write!(f, "{}", shorten(s, MAX_SIS_VALUE)),
        }
    }
}
