//! canvasapi's recorded Canvas responses (`tests/fixtures/canvasapi`, vendored
//! unmodified), read as data for the SDK model walk and the stand-in Canvas.
//!
//! Each file maps a fixture name to `{method, endpoint, data, status_code,
//! headers?}`; `endpoint` is the path after `/api/v1/` with an optional
//! query, and a `Link` header's `next` URL names the next page's endpoint.

use std::path::PathBuf;

use serde_json::Value;

pub mod objects;

/// One recorded response.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// File it came from, e.g. `course.json`.
    pub file: String,
    /// Its name in the file, e.g. `get_by_id`.
    pub name: String,
    /// `GET`, `POST`, ... (`ANY` in `paginated_list.json`).
    pub method: String,
    /// As recorded, e.g. `accounts/1/courses?page=2&per_page=2`.
    pub endpoint: String,
    /// 200 when canvasapi did not record one (its mock's default).
    pub status: u16,
    /// The body (`Null` when there is none).
    pub data: Value,
    /// The endpoint the `Link` header's `next` URL names, if any.
    pub next: Option<String>,
}

/// `endpoint` without its query, leading or trailing slash.
pub fn endpoint_path(endpoint: &str) -> &str {
    let path = endpoint.split('?').next().unwrap_or_default();
    path.trim_start_matches('/').trim_end_matches('/')
}

/// The `page` query parameter of `endpoint` (1 when absent).
pub fn endpoint_page(endpoint: &str) -> u32 {
    endpoint
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("page="))
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
}

impl Fixture {
    /// The request path Canvas answered, e.g. `/api/v1/accounts/1/courses`.
    pub fn path(&self) -> String {
        format!("/api/v1/{}", endpoint_path(&self.endpoint))
    }

    /// The page it is (1 unless the endpoint says `page=N`).
    pub fn page(&self) -> u32 {
        endpoint_page(&self.endpoint)
    }
}

/// Where the vendored files are.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/canvasapi")
}

/// The vendored `*.json` files, sorted.
pub fn files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("tests/fixtures/canvasapi exists")
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// The endpoint named by the `next` link of a recorded `Link` header.
fn next_endpoint(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        if !params.split(';').any(|p| p.trim() == "rel=\"next\"") {
            return None;
        }
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        Some(url.split_once("/api/v1/")?.1.to_owned())
    })
}

/// Every fixture in `file` (entries that are not fixtures, such as
/// `paginated_list.json`'s stray top-level `status_code`, are skipped).
pub fn load(file: &str) -> Vec<Fixture> {
    let text = std::fs::read_to_string(dir().join(file))
        .unwrap_or_else(|e| panic!("cannot read fixture file {file}: {e}"));
    let all: serde_json::Map<String, Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
    all.into_iter()
        .filter_map(|(name, v)| {
            let v = v.as_object()?;
            Some(Fixture {
                file: file.to_owned(),
                name,
                method: v.get("method")?.as_str()?.to_owned(),
                endpoint: v.get("endpoint")?.as_str()?.to_owned(),
                status: v
                    .get("status_code")
                    .and_then(Value::as_u64)
                    .map_or(200, |s| s as u16),
                data: v.get("data").cloned().unwrap_or(Value::Null),
                next: v
                    .get("headers")
                    .and_then(|h| h.get("Link"))
                    .and_then(Value::as_str)
                    .and_then(next_endpoint),
            })
        })
        .collect()
}

/// The fixture `name` of `file`.
pub fn find(file: &str, name: &str) -> Fixture {
    load(file)
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture {name} in {file}"))
}

/// `value` as Canvas sends it under
/// `Accept: application/json+canvas-string-ids`: in every object, at any
/// depth, an integer under `id` or a key ending in `_id` becomes a string,
/// as do the integers of an array under `ids` or a key ending in `_ids`
/// (Canvas's `Api.recursively_stringify_json_ids`).
pub fn canvas_string_ids(value: &Value) -> Value {
    let text = |v: &Value| match v {
        Value::Number(n) if n.is_u64() || n.is_i64() => Value::String(n.to_string()),
        other => other.clone(),
    };
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if k == "id" || k.ends_with("_id") {
                        text(v)
                    } else if (k == "ids" || k.ends_with("_ids")) && v.is_array() {
                        Value::Array(v.as_array().into_iter().flatten().map(text).collect())
                    } else {
                        v.clone()
                    };
                    (k.clone(), canvas_string_ids(&v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(canvas_string_ids).collect()),
        other => other.clone(),
    }
}
