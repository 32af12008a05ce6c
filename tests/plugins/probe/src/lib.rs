//! Test plugin that tries what its params say and reports what happened:
//! `get`, `list` (with `list_key`: a wrapped list), `put` and `post` paths (with `query`: `k=v&k=v` pairs
//! taken as written; `get_after_list` reads a path after the list), and `raw_method`/`raw_path`/`raw_body`: a write whose
//! body text is sent verbatim, however malformed, and `then_get` reads a
//! path after it; it also looks for secrets in its
//! environment, arguments and filesystem and prints to stdout/stderr, so the
//! canary test can prove none of them holds the token.
use easel_sdk::canvas::{self, Written};
use easel_sdk::{Context, Error, Result, log, report};
use serde_json::{Value, json};

fn outcome(r: Result<Value>) -> Value {
    match r {
        Ok(v) => json!({ "ok": v }),
        Err(Error::Canvas { error, .. }) => json!({ "error": format!("{error:?}") }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

fn run(cx: &Context) -> Result<()> {
    let mut out = serde_json::Map::new();
    let query: Vec<(&str, &str)> = cx
        .param("query")
        .map(|q| q.split('&').filter_map(|kv| kv.split_once('=')).collect())
        .unwrap_or_default();
    if let Some(path) = cx.param("get") {
        out.insert("get".into(), outcome(canvas::get::<Value>(path, &query)));
    }
    if let Some(path) = cx.param("raw_path") {
        use easel_sdk::bindings::easel::canvas::write;
        let method = match cx.param("raw_method").unwrap_or("post") {
            "put" => write::Method::Put,
            "delete" => write::Method::Delete,
            _ => write::Method::Post,
        };
        let owned: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let r = match write::send(method, path, &owned, cx.param("raw_body")) {
            Ok(write::Outcome::Sent(body)) => json!({"ok": {"sent": body}}),
            Ok(write::Outcome::Planned(n)) => json!({"ok": {"planned": n}}),
            Err(e) => json!({ "error": format!("{e:?}") }),
        };
        out.insert("raw".into(), r);
    }
    // `then_get`: a GET after the write; `{id}` is the id the write's
    // answer carried (e.g. a SIS import's status).
    if let Some(path) = cx.param("then_get") {
        let id = out["raw"]["ok"]["sent"]
            .as_str()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .and_then(|v| v["id"].as_u64())
            .map_or_else(|| "0".to_owned(), |id| id.to_string());
        let path = path.replace("{id}", &id);
        out.insert("then_get".into(), outcome(canvas::get::<Value>(&path, &[])));
    }
    if let Some(path) = cx.param("list") {
        let per_page = cx.param("per_page").unwrap_or("100");
        let pages = match cx.param("list_key") {
            Some(key) => canvas::list_wrapped::<Value>(path, &[("per_page", per_page)], key),
            None => canvas::list::<Value>(path, &[("per_page", per_page)]),
        };
        let items: Result<Vec<Value>> = pages.collect();
        out.insert("list".into(), outcome(items.map(|v| json!(v.len()))));
    }
    // `get_after_list`: a GET once the list was read.
    if let Some(path) = cx.param("get_after_list") {
        out.insert(
            "get_after_list".into(),
            outcome(canvas::get::<Value>(path, &[])),
        );
    }
    if let Some(path) = cx.param("put") {
        let r = canvas::put(path, &json!({"course": {"event": "offer"}})).map(|w| match w {
            Written::Sent(v) => json!({"sent": v}),
            Written::Planned(n) => json!({"planned": n}),
        });
        out.insert("put".into(), outcome(r));
    }
    if let Some(path) = cx.param("post") {
        let body = match cx.param("post_body") {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| Error::Other(format!("post_body is not JSON: {e}")))?,
            None => json!({"course_section": {"name": "probe"}}),
        };
        let r = canvas::post(path, &body).map(|w| match w {
            Written::Sent(v) => json!({"sent": v}),
            Written::Planned(n) => json!({"planned": n}),
        });
        out.insert("post".into(), outcome(r));
    }
    let env: Vec<(String, String)> = std::env::vars().collect();
    let args: Vec<String> = std::env::args().collect();
    let root = std::fs::read_dir("/")
        .map(|d| d.count())
        .map_err(|e| e.to_string());
    out.insert("env".into(), json!(env));
    out.insert("args".into(), json!(args));
    out.insert("fs_root".into(), json!(format!("{root:?}")));
    println!("probe stdout: school {}", cx.school_id());
    eprintln!("probe stderr: run {}", cx.run_id());
    log::info(format!("probe done: {}", Value::Object(out.clone())));
    report::json("probe.json", &Value::Object(out))?;
    if cx.param_bool("panic")? {
        panic!("probe panics on purpose");
    }
    if cx.param_bool("fail")? {
        return Err(Error::Other("probe asked to fail".into()));
    }
    Ok(())
}

easel_sdk::plugin!(run);
