//! Placing the objects a call names inside (or outside) the run's school.
//!
//! Threat: a plugin naming another school's object. Accounts and courses
//! are placed by listing the school's own subtree (sub-accounts, then
//! courses) once, on first need: anything not found there is outside.
//! Enrollments are looked up under the school's account (Canvas answers 404
//! for one outside it). Sections and users are placed through their
//! courses: the host reads a section's course id, or a user's enrollments,
//! and the object is inside when one of those courses is. An assignment is
//! placed by a course of the school that the same call names and that lists
//! it. What the host reads for a lookup never reaches the plugin.
//!
//! Threat: the lookups themselves. They carry the institution's token, so
//! they are built only from validated ids (a number, or an SIS value
//! percent-encoded as one path segment) into fixed path templates, never by
//! pasting plugin text; each one is audited before it is sent and counts
//! against the run's call budget; the cache of placed objects is bounded.
//! A user is also marked `shared` when some of their enrollments lie
//! outside the school, for the policy's shared-user rule.

use std::collections::HashMap;
use std::sync::Arc;

use easel_canvas::{CallTag, CanvasClient};
use easel_policy::{AccountId, Found, ObjectKey, ObjectKind, ObjectRef, Outside};
use serde::Deserialize;

use crate::audit::{AuditSink, CanvasEvent};

/// Most objects (sections, enrollments, users) whose placement is cached.
pub const MAX_PLACED: usize = 10_000;

/// Why the directory could not place an object. Never holds what a lookup
/// answered beyond its status.
#[derive(Debug, thiserror::Error)]
#[error("cannot look up the school's {what}: {message}")]
pub(crate) struct DirectoryError {
    pub(crate) what: &'static str,
    pub(crate) message: String,
    /// Canvas's status, when Canvas answered with an error.
    pub(crate) status: Option<u16>,
}

const NOT_JSON: &str = "Canvas's answer was not the JSON easel expected";

const BUDGET: &str = "the run's call budget is spent";

impl DirectoryError {
    pub(crate) fn is_budget(&self) -> bool {
        self.message == BUDGET
    }
}

/// Where an object lies.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placed {
    /// Its account chain, when it is in the school.
    pub(crate) chain: Option<Vec<AccountId>>,
    /// A user with enrollments outside the school too.
    pub(crate) shared: bool,
    /// For an object outside the school: what Canvas said of it.
    pub(crate) found: Found,
}

/// `key` as one path segment of a lookup: a number, or a known SIS prefix
/// and its value percent-encoded; `None` for anything else.
fn segment(key: &ObjectKey) -> Option<String> {
    match key {
        ObjectKey::Id(id) => Some(id.to_string()),
        ObjectKey::Sis(prefix, value)
            if prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
        {
            Some(format!(
                "{prefix}:{}",
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
            ))
        }
        _ => None,
    }
}

/// Canvas sends ids as numbers, or as strings (`canvas-string-ids`, and
/// some fields always): the lookups read both.
mod id {
    use serde::{Deserialize, Deserializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }

    fn parse<E: Error>(raw: Raw) -> Result<u64, E> {
        match raw {
            Raw::Number(n) => Ok(n),
            Raw::Text(s) => s
                .parse()
                .map_err(|_| E::custom("an id that is not a number")),
        }
    }

    pub(super) fn one<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        parse(Raw::deserialize(d)?)
    }

    pub(super) fn maybe<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<Raw>::deserialize(d)?.map(parse).transpose()
    }
}

#[derive(Deserialize)]
struct AccountItem {
    #[serde(deserialize_with = "id::one")]
    id: u64,
    #[serde(default, deserialize_with = "id::maybe")]
    parent_account_id: Option<u64>,
    sis_account_id: Option<String>,
    #[serde(default, deserialize_with = "id::maybe")]
    root_account_id: Option<u64>,
}

#[derive(Deserialize)]
struct CourseOf {
    #[serde(deserialize_with = "id::one")]
    course_id: u64,
    /// A cross-listed section's original course: the section belongs to
    /// that course's school as much as to the one it was moved into.
    #[serde(default, deserialize_with = "id::maybe")]
    nonxlist_course_id: Option<u64>,
}

/// Every enrollment state Canvas has: without `state[]` it lists only active
/// and invited ones, and a user who finished a course in another school
/// would not count as shared.
const ALL_ENROLLMENT_STATES: &[&str] = &[
    "active",
    "invited",
    "creation_pending",
    "completed",
    "inactive",
    "rejected",
    "deleted",
];

#[derive(Deserialize)]
struct CourseItem {
    #[serde(deserialize_with = "id::one")]
    id: u64,
    #[serde(deserialize_with = "id::one")]
    account_id: u64,
    sis_course_id: Option<String>,
}

/// The school's subtree, loaded lazily.
#[derive(Default)]
pub(crate) struct Directory {
    school: AccountId,
    /// account → parent, for accounts below the school.
    parents: Option<HashMap<u64, u64>>,
    sis_accounts: HashMap<String, u64>,
    /// course → owning account.
    courses: Option<HashMap<u64, u64>>,
    sis_courses: HashMap<String, u64>,
    /// Sections, enrollments and users already placed, by kind and key
    /// (at most [`MAX_PLACED`]).
    placed: HashMap<(ObjectKind, ObjectKey), Placed>,
    /// The school's root account (`Some(None)`: the school is a root), once
    /// the school's own account was read.
    root: Option<Option<u64>>,
    /// Assignment ids of the school's courses listed so far.
    assignments: HashMap<u64, Vec<u64>>,
    /// course → owning account, for courses Canvas listed in answer to
    /// the run's own listing of the school's courses (at most
    /// [`MAX_PLACED`]): placed without a lookup. Only ever says "inside";
    /// a course not here is looked for in the full listing.
    learned: HashMap<u64, u64>,
    learned_sis: HashMap<String, u64>,
    /// Where each lookup is recorded (before it is sent, and its answer).
    audit: Option<Arc<dyn AuditSink>>,
    pub(crate) lookups: u32,
    /// Requests the run may still make; set before each placement.
    pub(crate) allowance: u32,
}

impl Directory {
    pub(crate) fn new(school: AccountId, audit: Arc<dyn AuditSink>) -> Self {
        Self {
            school,
            audit: Some(audit),
            ..Self::default()
        }
    }

    /// Record a lookup (`status` `None`: about to be sent). A lookup that
    /// cannot be recorded is not sent.
    fn record(
        &self,
        what: &'static str,
        path: &str,
        answer: Option<&easel_canvas::Response>,
    ) -> Result<(), DirectoryError> {
        let Some(audit) = &self.audit else {
            return Ok(());
        };
        audit
            .record(CanvasEvent::Lookup {
                path,
                status: answer.map(|r| r.status),
                cost: answer.and_then(|r| r.request_cost),
            })
            .map_err(|e| DirectoryError {
                what,
                message: format!(
                    "the audit log could not be written ({e}); the lookup was not made"
                ),
                status: None,
            })
    }

    /// Where `object` lies: its account chain (owner first, up to the
    /// school), or `None` when it is not in the school's subtree.
    pub(crate) async fn resolve(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
        object: &ObjectRef,
    ) -> Result<Placed, DirectoryError> {
        let chain = match (object.kind, &object.key) {
            (ObjectKind::Account, ObjectKey::Id(id)) if *id == self.school => {
                Some(vec![self.school])
            }
            (ObjectKind::Account, ObjectKey::Id(id)) => {
                self.load_accounts(client, tag).await?;
                self.chain(*id)
            }
            (ObjectKind::Account, ObjectKey::Sis(prefix, value)) if prefix == "sis_account_id" => {
                self.load_accounts(client, tag).await?;
                if !self.sis_accounts.contains_key(value) {
                    // The school's own SIS id is not among its sub-accounts'.
                    self.load_school(client, tag).await?;
                }
                self.sis_accounts
                    .get(value)
                    .copied()
                    .and_then(|id| self.chain(id))
            }
            (ObjectKind::Course, ObjectKey::Id(id)) if self.learned.contains_key(id) => {
                Some(self.learned_chain(self.learned[id]))
            }
            (ObjectKind::Course, ObjectKey::Id(id)) => {
                self.load_courses(client, tag).await?;
                let owner = self.courses.as_ref().and_then(|c| c.get(id)).copied();
                self.course_chain(client, tag, owner).await?
            }
            (ObjectKind::Course, ObjectKey::Sis(prefix, value))
                if prefix == "sis_course_id" && self.learned_sis.contains_key(value) =>
            {
                let id = self.learned_sis[value];
                self.learned
                    .get(&id)
                    .map(|owner| self.learned_chain(*owner))
            }
            (ObjectKind::Course, ObjectKey::Sis(prefix, value)) if prefix == "sis_course_id" => {
                self.load_courses(client, tag).await?;
                let id = self.sis_courses.get(value).copied();
                let owner =
                    id.and_then(|id| self.courses.as_ref().and_then(|c| c.get(&id)).copied());
                self.course_chain(client, tag, owner).await?
            }
            (kind @ (ObjectKind::Section | ObjectKind::Enrollment | ObjectKind::User), key) => {
                return self.place_through_courses(client, tag, kind, key).await;
            }
            _ => None,
        };
        Ok(Placed {
            chain,
            ..Placed::default()
        })
    }

    /// Learn where courses lie from Canvas's answer to the run's own
    /// listing of the school's courses: `path` is the listing's path as
    /// sent, `body` one page of Canvas's answer. Only
    /// `/api/v1/accounts/{the run's school}/courses`, read as the token's
    /// own user, teaches anything: Canvas lists there only courses in the
    /// school's subtree, whatever the query. What a plugin sends never
    /// does: the path is the one the policy allowed and sent, and the
    /// courses are Canvas's. A page that is not the JSON expected teaches
    /// nothing.
    pub(crate) fn learn_courses(&mut self, path: &[String], masqueraded: bool, body: &str) {
        let school = self.school.to_string();
        let listing = matches!(path, [accounts, id, courses]
            if accounts == "accounts" && *id == school && courses == "courses");
        if !listing || masqueraded || self.learned.len() >= MAX_PLACED {
            return;
        }
        let Ok(page) = serde_json::from_str::<Vec<CourseItem>>(body) else {
            return;
        };
        for c in page {
            if self.learned.len() >= MAX_PLACED {
                break;
            }
            self.learned.insert(c.id, c.account_id);
            if let Some(sis) = c.sis_course_id {
                self.learned_sis.insert(sis, c.id);
            }
        }
    }

    /// For an object not in the school that a SIS import may name anyway,
    /// what Canvas says of it: the root account, or an object it does not
    /// have (yet). Sections and users were looked at while placing them.
    pub(crate) async fn outside(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
        object: &ObjectRef,
        may_be: Outside,
        placed: &mut Placed,
    ) -> Result<(), DirectoryError> {
        match (may_be, object.kind, &object.key) {
            (Outside::ImportRoot, ObjectKind::Account, ObjectKey::Id(id)) => {
                self.load_school(client, tag).await?;
                if self.root == Some(Some(*id)) {
                    placed.found = Found::Root;
                }
            }
            (Outside::Created | Outside::OnlyNew, ObjectKind::Course, key) => {
                let Some(seg) = segment(key) else {
                    return Ok(());
                };
                #[derive(Deserialize)]
                struct Any {}
                let path = format!("/api/v1/courses/{seg}");
                if self
                    .get_one::<Any>(client, tag, "courses", &path)
                    .await?
                    .is_none()
                {
                    placed.found = Found::Missing;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Read the school's own account once: its SIS id, and its root.
    async fn load_school(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
    ) -> Result<(), DirectoryError> {
        if self.root.is_some() {
            return Ok(());
        }
        let path = format!("/api/v1/accounts/{}", self.school);
        let school = self
            .get_one::<AccountItem>(client, tag, "the school's account", &path)
            .await?;
        self.root = Some(school.as_ref().and_then(|a| a.root_account_id));
        if let Some(sis) = school.and_then(|a| a.sis_account_id) {
            self.sis_accounts.insert(sis, self.school);
        }
        Ok(())
    }

    /// Sections, enrollments and users: placed through the courses Canvas
    /// says they belong to.
    async fn place_through_courses(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
        kind: ObjectKind,
        key: &ObjectKey,
    ) -> Result<Placed, DirectoryError> {
        let Some(seg) = segment(key) else {
            return Ok(Placed::default());
        };
        let cache_key = (kind, key.clone());
        if let Some(placed) = self.placed.get(&cache_key) {
            return Ok(placed.clone());
        }
        let mut found = Found::Unknown;
        let courses: Vec<u64> = match kind {
            ObjectKind::Section => {
                let path = format!("/api/v1/sections/{seg}");
                let section = self
                    .get_one::<CourseOf>(client, tag, "sections", &path)
                    .await?;
                if section.is_none() {
                    found = Found::Missing;
                }
                section
                    .map(|s| {
                        // Both the course it is in and, if cross-listed,
                        // the one it came from must be in the school.
                        std::iter::once(s.course_id).chain(s.nonxlist_course_id)
                    })
                    .into_iter()
                    .flatten()
                    .collect()
            }
            ObjectKind::Enrollment => {
                let path = format!("/api/v1/accounts/{}/enrollments/{seg}", self.school);
                self.get_one::<CourseOf>(client, tag, "enrollments", &path)
                    .await?
                    .map(|e| e.course_id)
                    .into_iter()
                    .collect()
            }
            _ => {
                let path = format!("/api/v1/users/{seg}/enrollments");
                let states: Vec<(&str, &str)> = ALL_ENROLLMENT_STATES
                    .iter()
                    .map(|s| ("state[]", *s))
                    .collect();
                match self
                    .list_all::<CourseOf>(client, tag, "users", &path, &states)
                    .await
                {
                    Ok(items) => {
                        if items.is_empty() {
                            found = Found::Unenrolled;
                        }
                        items.into_iter().map(|e| e.course_id).collect()
                    }
                    Err(e) if e.is_budget() => return Err(e),
                    Err(e) => {
                        if e.status == Some(404) {
                            found = Found::Missing;
                        }
                        Vec::new()
                    }
                }
            }
        };
        let mut placed = Placed {
            found,
            ..Placed::default()
        };
        for course in courses {
            self.load_courses(client, tag).await?;
            let owner = self.courses.as_ref().and_then(|c| c.get(&course)).copied();
            match self.course_chain(client, tag, owner).await? {
                Some(chain) if placed.chain.is_none() => placed.chain = Some(chain),
                Some(_) => {}
                None => placed.shared = true,
            }
        }
        // A section is in one school or none: one cross-listed in from
        // another school is outside.
        if kind == ObjectKind::Section && placed.shared {
            placed.chain = None;
        }
        if self.placed.len() < MAX_PLACED {
            self.placed.insert(cache_key, placed.clone());
        }
        Ok(placed)
    }

    /// Place an assignment through a course the same call names (a course
    /// of the school): it is inside when that course lists it.
    pub(crate) async fn resolve_assignment(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
        courses: &[ObjectKey],
        assignment: &ObjectKey,
    ) -> Result<Placed, DirectoryError> {
        let ObjectKey::Id(aid) = assignment else {
            return Ok(Placed::default());
        };
        for key in courses {
            let course = ObjectRef {
                kind: ObjectKind::Course,
                key: key.clone(),
            };
            let Some(chain) = self.resolve(client, tag, &course).await?.chain else {
                continue;
            };
            let id = match key {
                ObjectKey::Id(id) => Some(*id),
                ObjectKey::Sis(_, value) => self.sis_courses.get(value).copied(),
                ObjectKey::Other(_) => None,
            };
            let Some(id) = id else { continue };
            if !self.assignments.contains_key(&id) {
                #[derive(Deserialize)]
                struct Item {
                    #[serde(deserialize_with = "id::one")]
                    id: u64,
                }
                let path = format!("/api/v1/courses/{id}/assignments");
                let items: Vec<Item> = self
                    .list_all(client, tag, "assignments", &path, &[])
                    .await?;
                self.assignments
                    .insert(id, items.into_iter().map(|i| i.id).collect());
            }
            if self.assignments.get(&id).is_some_and(|a| a.contains(aid)) {
                return Ok(Placed {
                    chain: Some(chain),
                    ..Placed::default()
                });
            }
        }
        Ok(Placed::default())
    }

    /// The number of an account or course the directory placed by SIS id.
    pub(crate) fn numeric_id(&self, kind: ObjectKind, key: &ObjectKey) -> Option<u64> {
        match (kind, key) {
            (_, ObjectKey::Id(id)) => Some(*id),
            (ObjectKind::Account, ObjectKey::Sis(p, v)) if p == "sis_account_id" => {
                self.sis_accounts.get(v).copied()
            }
            (ObjectKind::Course, ObjectKey::Sis(p, v)) if p == "sis_course_id" => {
                self.sis_courses.get(v).copied()
            }
            _ => None,
        }
    }

    /// Take one request from the run's allowance before sending it.
    fn spend(&mut self, what: &'static str) -> Result<(), DirectoryError> {
        if self.allowance == 0 {
            return Err(DirectoryError {
                what,
                message: BUDGET.into(),
                status: None,
            });
        }
        self.allowance -= 1;
        self.lookups += 1;
        Ok(())
    }

    /// GET one object for a lookup; `None` when Canvas has no such object
    /// (or none the token can see).
    async fn get_one<T: for<'de> Deserialize<'de>>(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
        what: &'static str,
        path: &str,
    ) -> Result<Option<T>, DirectoryError> {
        let err = |message: String| DirectoryError {
            what,
            message,
            status: None,
        };
        self.spend(what)?;
        self.record(what, path, None)?;
        let resp = client
            .send(tag, http::Method::GET, path, &[], None)
            .await
            .map_err(|e| err(e.to_string()))?;
        self.record(what, path, Some(&resp))?;
        match resp.status {
            200..=299 => serde_json::from_slice(&resp.body)
                .map(Some)
                .map_err(|_| err(NOT_JSON.into())),
            // Only a 404 says there is no such object: a refusal (401,
            // 403, a throttle) proves nothing, and a SIS import row must
            // not take it for "new".
            404 => Ok(None),
            s => Err(err(format!("Canvas answered {s}"))),
        }
    }

    async fn course_chain(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
        owner: Option<u64>,
    ) -> Result<Option<Vec<AccountId>>, DirectoryError> {
        match owner {
            None => Ok(None),
            Some(a) if a == self.school => Ok(Some(vec![a])),
            Some(a) => {
                self.load_accounts(client, tag).await?;
                Ok(self.chain(a))
            }
        }
    }

    /// The chain of a course Canvas listed among the school's own: its
    /// account, then the school (with the accounts between them when the
    /// sub-accounts were already listed). Canvas listed it under the
    /// school, so it is inside; only the school matters to the grant.
    fn learned_chain(&self, owner: u64) -> Vec<AccountId> {
        if owner == self.school {
            return vec![self.school];
        }
        self.chain(owner)
            .unwrap_or_else(|| vec![owner, self.school])
    }

    fn chain(&self, mut id: u64) -> Option<Vec<AccountId>> {
        let parents = self.parents.as_ref()?;
        let mut chain = vec![id];
        while id != self.school {
            id = *parents.get(&id)?;
            chain.push(id);
            if chain.len() > 64 {
                return None;
            }
        }
        Some(chain)
    }

    async fn load_accounts(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
    ) -> Result<(), DirectoryError> {
        if self.parents.is_some() {
            return Ok(());
        }
        let path = format!("/api/v1/accounts/{}/sub_accounts", self.school);
        let items: Vec<AccountItem> = self
            .list_all(client, tag, "sub-accounts", &path, &[("recursive", "true")])
            .await?;
        let mut parents = HashMap::new();
        for a in items {
            if let Some(p) = a.parent_account_id {
                parents.insert(a.id, p);
            }
            if let Some(sis) = a.sis_account_id {
                self.sis_accounts.insert(sis, a.id);
            }
        }
        self.parents = Some(parents);
        Ok(())
    }

    async fn load_courses(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
    ) -> Result<(), DirectoryError> {
        if self.courses.is_some() {
            return Ok(());
        }
        let path = format!("/api/v1/accounts/{}/courses", self.school);
        let items: Vec<CourseItem> = self
            .list_all(client, tag, "courses", &path, &[("state[]", "all")])
            .await?;
        let mut courses = HashMap::new();
        for c in items {
            courses.insert(c.id, c.account_id);
            if let Some(sis) = c.sis_course_id {
                self.sis_courses.insert(sis, c.id);
            }
        }
        self.courses = Some(courses);
        Ok(())
    }

    async fn list_all<T: for<'de> Deserialize<'de>>(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
        what: &'static str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, DirectoryError> {
        let err = |message: String| DirectoryError {
            what,
            message,
            status: None,
        };
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let mut out = Vec::new();
        self.spend(what)?;
        self.record(what, path, None)?;
        let mut resp = client
            .list_first(tag, path, &query)
            .await
            .map_err(|e| err(e.to_string()))?;
        loop {
            self.record(what, path, Some(&resp))?;
            if !resp.is_success() {
                return Err(DirectoryError {
                    status: Some(resp.status),
                    ..err(format!("Canvas answered {}", resp.status))
                });
            }
            let page: Vec<T> =
                serde_json::from_slice(&resp.body).map_err(|_| err(NOT_JSON.into()))?;
            out.extend(page);
            let Some(next) = resp.next.take() else { break };
            if url::Url::parse(&next).map_or(true, |u| u.path() != path) {
                return Err(err(
                    "Canvas's next link left the list's path; not followed".into()
                ));
            }
            self.spend(what)?;
            self.record(what, path, None)?;
            resp = client
                .follow(tag, &next)
                .await
                .map_err(|e| err(e.to_string()))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(path: &str) -> Vec<String> {
        path.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn only_the_schools_own_course_listing_as_itself_teaches_placements() {
        let mut d = Directory {
            school: 7,
            ..Directory::default()
        };
        let page = r#"[{"id": 11, "account_id": 7, "sis_course_id": "C11"},
                       {"id": "12", "account_id": "8", "name": "x"}]"#;
        // Another account's listing, a masqueraded one, another endpoint,
        // and a page that is not a list of courses teach nothing.
        d.learn_courses(&segments("accounts/8/courses"), false, page);
        d.learn_courses(&segments("accounts/7/courses"), true, page);
        d.learn_courses(&segments("accounts/7/sub_accounts"), false, page);
        d.learn_courses(&segments("accounts/7/courses/11"), false, page);
        d.learn_courses(&segments("accounts/7/courses"), false, r#"{"id": 11}"#);
        d.learn_courses(&segments("accounts/7/courses"), false, r#"[{"id": 13}]"#);
        assert!(d.learned.is_empty() && d.learned_sis.is_empty());
        // The school's own listing does.
        d.learn_courses(&segments("accounts/7/courses"), false, page);
        assert_eq!(d.learned.get(&11), Some(&7));
        assert_eq!(d.learned.get(&12), Some(&8));
        assert_eq!(d.learned_sis.get("C11"), Some(&11));
    }

    #[test]
    fn learned_placements_are_bounded() {
        let mut d = Directory {
            school: 7,
            ..Directory::default()
        };
        let page: Vec<serde_json::Value> = (0..MAX_PLACED as u64 + 50)
            .map(|id| serde_json::json!({"id": id, "account_id": 7}))
            .collect();
        let page = serde_json::to_string(&page).unwrap();
        d.learn_courses(&segments("accounts/7/courses"), false, &page);
        assert_eq!(d.learned.len(), MAX_PLACED);
    }

    #[test]
    fn lookups_read_ids_given_as_numbers_or_strings() {
        let a: AccountItem = serde_json::from_str(
            r#"{"id":"12","parent_account_id":"2","root_account_id":1,"sis_account_id":"S"}"#,
        )
        .unwrap();
        assert_eq!(
            (a.id, a.parent_account_id, a.root_account_id),
            (12, Some(2), Some(1))
        );
        let a: AccountItem = serde_json::from_str(r#"{"id":1,"parent_account_id":null}"#).unwrap();
        assert_eq!(
            (a.id, a.parent_account_id, a.root_account_id),
            (1, None, None)
        );
        let c: CourseItem =
            serde_json::from_str(r#"{"id":"101","account_id":"7","sis_course_id":null}"#).unwrap();
        assert_eq!((c.id, c.account_id), (101, 7));
        let s: CourseOf =
            serde_json::from_str(r#"{"course_id":"5","nonxlist_course_id":"6"}"#).unwrap();
        assert_eq!((s.course_id, s.nonxlist_course_id), (5, Some(6)));
        assert!(serde_json::from_str::<CourseItem>(r#"{"id":"x1","account_id":1}"#).is_err());
    }
}
