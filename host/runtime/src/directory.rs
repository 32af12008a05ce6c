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

use std::collections::HashMap;
use std::sync::Arc;

use easel_canvas::{CallTag, CanvasClient};
use easel_policy::{AccountId, ObjectKey, ObjectKind, ObjectRef};
use serde::Deserialize;

use crate::audit::{AuditSink, CanvasEvent};

/// Why the directory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("cannot list the school's {what}: {message}")]
pub(crate) struct DirectoryError {
    pub(crate) what: &'static str,
    pub(crate) message: String,
}

#[derive(Deserialize)]
struct AccountItem {
    id: u64,
    parent_account_id: Option<u64>,
    sis_account_id: Option<String>,
}

#[derive(Deserialize)]
struct CourseOf {
    course_id: u64,
}

#[derive(Deserialize)]
struct CourseItem {
    id: u64,
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
    /// Sections, enrollments and users already placed, by kind and key.
    placed: HashMap<(ObjectKind, String), Option<Vec<AccountId>>>,
    /// Assignment ids of the school's courses listed so far.
    assignments: HashMap<u64, Vec<u64>>,
    /// Where each lookup is recorded (before it is sent, and its answer).
    audit: Option<Arc<dyn AuditSink>>,
    pub(crate) lookups: u32,
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
            })
    }

    /// The account chain (owner first, up to the school) of `object`, or
    /// `None` when it is not in the school's subtree.
    pub(crate) async fn resolve(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
        object: &ObjectRef,
    ) -> Result<Option<Vec<AccountId>>, DirectoryError> {
        match (object.kind, &object.key) {
            (ObjectKind::Account, ObjectKey::Id(id)) if *id == self.school => {
                Ok(Some(vec![self.school]))
            }
            (ObjectKind::Account, ObjectKey::Id(id)) => {
                self.load_accounts(client, tag).await?;
                Ok(self.chain(*id))
            }
            (ObjectKind::Account, ObjectKey::Sis(prefix, value)) if prefix == "sis_account_id" => {
                self.load_accounts(client, tag).await?;
                Ok(self
                    .sis_accounts
                    .get(value)
                    .copied()
                    .and_then(|id| self.chain(id)))
            }
            (ObjectKind::Course, ObjectKey::Id(id)) => {
                self.load_courses(client, tag).await?;
                let owner = self.courses.as_ref().and_then(|c| c.get(id)).copied();
                self.course_chain(client, tag, owner).await
            }
            (ObjectKind::Course, ObjectKey::Sis(prefix, value)) if prefix == "sis_course_id" => {
                self.load_courses(client, tag).await?;
                let id = self.sis_courses.get(value).copied();
                let owner =
                    id.and_then(|id| self.courses.as_ref().and_then(|c| c.get(&id)).copied());
                self.course_chain(client, tag, owner).await
            }
            (kind @ (ObjectKind::Section | ObjectKind::Enrollment | ObjectKind::User), key)
                if !matches!(key, ObjectKey::Other(_)) =>
            {
                let cache_key = (kind, key.to_string());
                if let Some(chain) = self.placed.get(&cache_key) {
                    return Ok(chain.clone());
                }
                let courses: Vec<u64> = match kind {
                    ObjectKind::Section => {
                        let path = format!("/api/v1/sections/{key}");
                        self.get_one::<CourseOf>(client, tag, "sections", &path)
                            .await?
                            .map(|s| s.course_id)
                            .into_iter()
                            .collect()
                    }
                    ObjectKind::Enrollment => {
                        let path = format!("/api/v1/accounts/{}/enrollments/{key}", self.school);
                        self.get_one::<CourseOf>(client, tag, "enrollments", &path)
                            .await?
                            .map(|e| e.course_id)
                            .into_iter()
                            .collect()
                    }
                    _ => {
                        let path = format!("/api/v1/users/{key}/enrollments");
                        self.list_all::<CourseOf>(client, tag, "users", &path, &[])
                            .await
                            .unwrap_or_default()
                            .into_iter()
                            .map(|e| e.course_id)
                            .collect()
                    }
                };
                let mut chain = None;
                for course in courses {
                    self.load_courses(client, tag).await?;
                    let owner = self.courses.as_ref().and_then(|c| c.get(&course)).copied();
                    chain = self.course_chain(client, tag, owner).await?;
                    if chain.is_some() {
                        break;
                    }
                }
                self.placed.insert(cache_key, chain.clone());
                Ok(chain)
            }
            _ => Ok(None),
        }
    }

    /// Place an assignment through a course the same call names (a course
    /// of the school): it is inside when that course lists it.
    pub(crate) async fn resolve_assignment(
        &mut self,
        client: &CanvasClient,
        tag: &CallTag,
        courses: &[ObjectKey],
        assignment: &ObjectKey,
    ) -> Result<Option<Vec<AccountId>>, DirectoryError> {
        let ObjectKey::Id(aid) = assignment else {
            return Ok(None);
        };
        for key in courses {
            let course = ObjectRef {
                kind: ObjectKind::Course,
                key: key.clone(),
            };
            let Some(chain) = self.resolve(client, tag, &course).await? else {
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
                return Ok(Some(chain));
            }
        }
        Ok(None)
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
        let err = |message: String| DirectoryError { what, message };
        self.lookups += 1;
        self.record(what, path, None)?;
        let resp = client
            .send(tag, http::Method::GET, path, &[], None)
            .await
            .map_err(|e| err(e.to_string()))?;
        self.record(what, path, Some(&resp))?;
        match resp.status {
            200..=299 => serde_json::from_slice(&resp.body)
                .map(Some)
                .map_err(|e| err(e.to_string())),
            401 | 403 | 404 => Ok(None),
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
        let err = |message: String| DirectoryError { what, message };
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let mut out = Vec::new();
        self.lookups += 1;
        self.record(what, path, None)?;
        let mut resp = client
            .list_first(tag, path, &query)
            .await
            .map_err(|e| err(e.to_string()))?;
        loop {
            self.record(what, path, Some(&resp))?;
            if !resp.is_success() {
                return Err(err(format!("Canvas answered {}", resp.status)));
            }
            let page: Vec<T> =
                serde_json::from_slice(&resp.body).map_err(|e| err(e.to_string()))?;
            out.extend(page);
            let Some(next) = resp.next.take() else { break };
            self.lookups += 1;
            self.record(what, path, None)?;
            resp = client
                .follow(tag, &next)
                .await
                .map_err(|e| err(e.to_string()))?;
        }
        Ok(out)
    }
}
