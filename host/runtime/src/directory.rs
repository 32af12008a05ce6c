//! Placing the objects a call names inside (or outside) the run's school.
//!
//! Threat: a plugin naming another school's course or account. The host
//! never asks Canvas about a foreign object: it lists the school's own
//! subtree (sub-accounts, then courses) once, on first need, and anything
//! not found there is outside. The lookups only ever name the school's own
//! account.

use std::collections::HashMap;

use easel_canvas::{CallTag, CanvasClient};
use easel_policy::{AccountId, ObjectKey, ObjectKind, ObjectRef};
use serde::Deserialize;

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
struct CourseItem {
    id: u64,
    account_id: u64,
    sis_course_id: Option<String>,
}

/// The school's subtree, loaded lazily.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    school: AccountId,
    /// account → parent, for accounts below the school.
    parents: Option<HashMap<u64, u64>>,
    sis_accounts: HashMap<String, u64>,
    /// course → owning account.
    courses: Option<HashMap<u64, u64>>,
    sis_courses: HashMap<String, u64>,
    pub(crate) lookups: u32,
}

impl Directory {
    pub(crate) fn new(school: AccountId) -> Self {
        Self {
            school,
            ..Self::default()
        }
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
            _ => Ok(None),
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
        let mut resp = client
            .list_first(tag, path, &query)
            .await
            .map_err(|e| err(e.to_string()))?;
        loop {
            if !resp.is_success() {
                return Err(err(format!("Canvas answered {}", resp.status)));
            }
            let page: Vec<T> =
                serde_json::from_slice(&resp.body).map_err(|e| err(e.to_string()))?;
            out.extend(page);
            let Some(next) = resp.next.take() else { break };
            self.lookups += 1;
            resp = client
                .follow(tag, &next)
                .await
                .map_err(|e| err(e.to_string()))?;
        }
        Ok(out)
    }
}
