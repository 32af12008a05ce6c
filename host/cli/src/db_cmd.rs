//! `easel db`: migrate the schema, copy SQLite into PostgreSQL.

use std::path::{Path, PathBuf};

use easel_app::database::{self, Database};

use crate::args::DbCommand;
use crate::{CliError, Outcome, say};

/// Run a `db` command on the data directory `root` (it need not open:
/// these work on the database alone).
pub(crate) fn command(root: &Path, command: DbCommand) -> Result<Outcome, CliError> {
    match command {
        DbCommand::Migrate { database, json } => {
            let db = match database {
                Some(url) => Database::parse(&url)?,
                None => Database::Sqlite,
            };
            let m = database::migrate(root, &db)?;
            say(json, serde_json::to_value(&m).unwrap_or_default(), || {
                if m.from == m.to {
                    println!("{} is up to date (schema version {})", m.database, m.to);
                } else {
                    println!(
                        "migrated {} from schema version {} to {}",
                        m.database, m.from, m.to
                    );
                }
            })
        }
        DbCommand::Copy { from, to, json } => {
            let sqlite = sqlite_path(root, from.as_deref())?;
            let Database::Postgres(url) = Database::parse(&to)? else {
                return Err(CliError::input(
                    "--to is the PostgreSQL database to copy into: postgres://user[:password]@host[:port]/database",
                ));
            };
            let me = easel_app::process::local_actor();
            let c = database::copy(root, &sqlite, &url, &me)?;
            say(json, serde_json::to_value(&c).unwrap_or_default(), || {
                for (table, rows) in &c.tables {
                    if *rows > 0 {
                        println!("{table:>20}  {rows}");
                    }
                }
                if !c.components_missing.is_empty() {
                    eprintln!(
                        "warning: the component of {} was not in the source's data directory: submit it again before its runs",
                        c.components_missing.join(", ")
                    );
                }
                println!(
                    "copied {} into {} with {} component(s); its audit log verifies there ({} records, head {}). Point every host at it with EASEL_DATABASE_URL (docs/DEPLOY.md); keep the master key file on each",
                    sqlite.display(),
                    c.to,
                    c.components,
                    c.audit_records,
                    &c.audit_head[..12.min(c.audit_head.len())]
                );
            })
        }
    }
}

/// `sqlite:PATH` (a file or a data directory), or this data directory's.
fn sqlite_path(root: &Path, from: Option<&str>) -> Result<PathBuf, CliError> {
    let Some(from) = from else {
        return Ok(root.join("easel.db"));
    };
    let Some(path) = from.strip_prefix("sqlite:") else {
        return Err(CliError::input(format!(
            "--from {from:?}: give the SQLite database as sqlite:PATH (a file, or a data directory holding easel.db)"
        )));
    };
    let path = PathBuf::from(path);
    Ok(if path.is_dir() {
        path.join("easel.db")
    } else {
        path
    })
}
