//! Canvas access through the host.
//!
//! Paths are Canvas's own `/api/v1/...` form. The host checks every call
//! against the plugin's grant, adds the credential and follows pagination;
//! lists arrive a page at a time (100 items per page unless you ask
//! otherwise), so a plugin never holds more than one page it did not keep.

use std::collections::VecDeque;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::easel::canvas::{read, write};
use crate::error::{Error, Result};

/// Query pairs, e.g. `&[("include[]", "term"), ("state[]", "available")]`.
pub type Query<'a> = &'a [(&'a str, &'a str)];

fn owned(query: Query<'_>) -> Vec<(String, String)> {
    query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn parse<T: DeserializeOwned>(what: &str, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|error| Error::Json {
        what: what.to_owned(),
        error,
    })
}

/// GET one object and parse it.
pub fn get<T: DeserializeOwned>(path: &str, query: Query<'_>) -> Result<T> {
    let body = read::get(path, &owned(query)).map_err(|error| Error::Canvas {
        call: format!("GET {path}"),
        error,
    })?;
    parse(path, &body)
}

/// Iterate over every item of a paginated list, fetching pages lazily.
pub fn list<T: DeserializeOwned>(path: &str, query: Query<'_>) -> Pages<T> {
    Pages {
        path: path.to_owned(),
        start: Some(owned(query)),
        key: None,
        stream: None,
        buffer: VecDeque::new(),
        done: false,
        _item: PhantomData,
    }
}

/// Iterate over a list Canvas wraps in an object, e.g.
/// `list_wrapped("/api/v1/accounts/1/terms", &[], "enrollment_terms")` or
/// `list_wrapped(".../sis_imports", &[], "sis_imports")`: every item of
/// every page, like [`list`].
pub fn list_wrapped<T: DeserializeOwned>(path: &str, query: Query<'_>, key: &str) -> Pages<T> {
    Pages {
        key: Some(key.to_owned()),
        ..list(path, query)
    }
}

/// An iterator over a Canvas list. Yields `Err` once and then stops if a
/// page fails.
pub struct Pages<T> {
    path: String,
    start: Option<Vec<(String, String)>>,
    /// The key of a wrapped list's array.
    key: Option<String>,
    stream: Option<read::Pages>,
    buffer: VecDeque<T>,
    done: bool,
    _item: PhantomData<T>,
}

impl<T: DeserializeOwned> Pages<T> {
    fn fill(&mut self) -> Result<()> {
        if let Some(query) = self.start.take() {
            let stream = match &self.key {
                None => read::list(&self.path, &query),
                Some(key) => read::list_wrapped(&self.path, &query, key),
            }
            .map_err(|error| Error::Canvas {
                call: format!("GET {}", self.path),
                error,
            })?;
            self.stream = Some(stream);
        }
        let Some(stream) = &self.stream else {
            self.done = true;
            return Ok(());
        };
        match stream.next() {
            Ok(Some(page)) => {
                let items: Vec<T> = parse(&self.path, &page)?;
                if items.is_empty() {
                    self.done = true;
                }
                self.buffer.extend(items);
                Ok(())
            }
            Ok(None) => {
                self.done = true;
                Ok(())
            }
            Err(error) => Err(Error::Canvas {
                call: format!("GET {}", self.path),
                error,
            }),
        }
    }
}

impl<T: DeserializeOwned> Iterator for Pages<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buffer.is_empty() && !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}

/// What became of a write.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// Canvas applied it and answered with this JSON.
    Sent(serde_json::Value),
    /// Dry run: recorded as step N of the run's plan, nothing sent.
    Planned(u32),
}

fn send(
    method: write::Method,
    name: &str,
    path: &str,
    query: Query<'_>,
    body: Option<String>,
) -> Result<Written> {
    let outcome = write::send(method, path, &owned(query), body.as_deref()).map_err(|error| {
        Error::Canvas {
            call: format!("{name} {path}"),
            error,
        }
    })?;
    match outcome {
        write::Outcome::Sent(body) if body.trim().is_empty() => {
            Ok(Written::Sent(serde_json::Value::Null))
        }
        write::Outcome::Sent(body) => Ok(Written::Sent(parse(path, &body)?)),
        write::Outcome::Planned(step) => Ok(Written::Planned(step)),
    }
}

fn json<B: Serialize>(body: &B) -> Result<String> {
    serde_json::to_string(body)
        .map_err(|e| Error::Other(format!("cannot encode request body: {e}")))
}

/// PUT with a JSON body, e.g. `put("/api/v1/courses/1", &json!({"course":{"event":"offer"}}))`.
pub fn put<B: Serialize>(path: &str, body: &B) -> Result<Written> {
    send(write::Method::Put, "PUT", path, &[], Some(json(body)?))
}

/// POST with a JSON body.
pub fn post<B: Serialize>(path: &str, body: &B) -> Result<Written> {
    send(write::Method::Post, "POST", path, &[], Some(json(body)?))
}

/// DELETE with query parameters, e.g. `delete("/api/v1/courses/1", &[("event", "conclude")])`.
pub fn delete(path: &str, query: Query<'_>) -> Result<Written> {
    send(write::Method::Delete, "DELETE", path, query, None)
}

/// Send a SIS import: `csv` is the text of one users.csv, courses.csv,
/// sections.csv or enrollments.csv file, sent to `root_account` (Canvas
/// takes SIS imports only on the root account: the `root_account_id` of
/// `get("/api/v1/accounts/{school}")`). Needs `sis_import = true` in the manifest and a grant that
/// allows it. easel checks every SIS id in every row against the school
/// and refuses the whole file if one row names another school's object;
/// each row counts as one write. Answers Canvas's SIS import object (its
/// `id` gives the status at `/api/v1/accounts/{root}/sis_imports/{id}`).
pub fn sis_import(root_account: u64, csv: &str) -> Result<Written> {
    send(
        write::Method::Post,
        "POST",
        &format!("/api/v1/accounts/{root_account}/sis_imports"),
        &[("import_type", "instructure_csv"), ("extension", "csv")],
        Some(csv.to_owned()),
    )
}
