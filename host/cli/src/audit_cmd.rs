//! `easel audit verify|export|tail`.

use std::time::Duration;

use easel_store::{AuditFilter, AuditRecord, Checkpoint, Verdict, WitnessVerdict};

use crate::args::{AuditCommand, ExportFormat};
use crate::error::{CliError, Outcome};
use easel_app::Home;

pub(crate) fn line(r: &AuditRecord) -> String {
    let mut parts = vec![
        format!("#{}", r.seq),
        r.at.clone(),
        r.actor.clone(),
        r.action.clone(),
    ];
    let opt = |k: &str, v: &Option<String>| v.as_ref().map(|v| format!("{k}={v}"));
    parts.extend(opt("instance", &r.instance));
    parts.extend(r.school.map(|s| format!("school={s}")));
    parts.extend(opt("plugin", &r.plugin));
    parts.extend(
        r.digest
            .as_ref()
            .map(|d| format!("digest={}", &d[..d.len().min(12)])),
    );
    parts.extend(opt("run", &r.run));
    if let (Some(m), Some(p)) = (&r.method, &r.path) {
        parts.push(format!("{m} {p}"));
    }
    parts.extend(r.status.map(|s| format!("status={s}")));
    parts.extend(r.cost.map(|c| format!("cost={c}")));
    parts.extend(opt("token", &r.token));
    parts.extend(r.detail.as_ref().map(|d| format!("({d})")));
    // Records hold plugin-supplied text (paths, reasons): one record is one
    // line, with no escape sequence reaching the terminal.
    easel_runtime::text::escape(&parts.join(" ")).into_owned()
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

pub(crate) fn csv_row(r: &AuditRecord) -> String {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        r.seq.to_string(),
        r.at.clone(),
        r.actor.clone(),
        r.action.clone(),
        o(&r.instance),
        r.school.map(|s| s.to_string()).unwrap_or_default(),
        o(&r.plugin),
        o(&r.digest),
        o(&r.run),
        o(&r.method),
        o(&r.path),
        r.status.map(|s| s.to_string()).unwrap_or_default(),
        r.cost.map(|c| c.to_string()).unwrap_or_default(),
        o(&r.token),
        o(&r.detail),
        r.prev_hash.clone(),
        r.hash.clone(),
        r.chain.to_string(),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

pub(crate) const CSV_HEADER: &str = "seq,at,actor,action,instance,school,plugin,digest,run,method,path,status,cost,token,detail,prev_hash,hash,chain";

/// `easel audit ...`.
pub(crate) async fn command(home: &Home, command: AuditCommand) -> Result<Outcome, CliError> {
    let me = crate::local_actor(home)?;
    match command {
        AuditCommand::Verify { json, witness } => verify(
            &easel_app::audit::verify(home, &me, witness.as_deref())?,
            json,
            witness.as_deref(),
        ),
        AuditCommand::Checkpoint { json } => {
            let c = easel_app::audit::checkpoint(home, &me)?;
            if json {
                return crate::json_out(&serde_json::json!({
                    "signed": c.is_some(),
                    "checkpoint": c.as_ref().map(checkpoint_json),
                }));
            }
            match c {
                Some(c) => println!("signed checkpoint of {}", c.describe()),
                None => println!("the newest checkpoint already covers the head"),
            }
            Ok(Outcome::Success)
        }
        AuditCommand::Export {
            format,
            since,
            plugin,
            school,
        } => {
            let filter = AuditFilter {
                since,
                plugin,
                school,
                ..AuditFilter::default()
            };
            let records = easel_app::audit::records(home, &me, &filter, None)?;
            match format {
                ExportFormat::Jsonl => {
                    for r in &records {
                        println!("{}", serde_json::to_string(r).unwrap_or_default());
                    }
                }
                ExportFormat::Csv => {
                    println!("{CSV_HEADER}");
                    for r in &records {
                        println!("{}", csv_row(r));
                    }
                }
            }
            Ok(Outcome::Success)
        }
        AuditCommand::Tail {
            lines,
            follow,
            json,
        } => {
            let show = |r: &AuditRecord| {
                if json {
                    println!("{}", serde_json::to_string(r).unwrap_or_default());
                } else {
                    println!("{}", line(r));
                }
            };
            let mut last = 0;
            for r in easel_app::audit::last(home, &me, lines)? {
                show(&r);
                last = r.seq;
            }
            if !follow {
                return Ok(Outcome::Success);
            }
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let filter = AuditFilter {
                    after_seq: Some(last),
                    ..AuditFilter::default()
                };
                for r in easel_app::audit::records(home, &me, &filter, Some(1000))? {
                    show(&r);
                    last = r.seq;
                }
            }
        }
    }
}

fn checkpoint_json(c: &Checkpoint) -> serde_json::Value {
    serde_json::json!({"seq": c.seq, "head": c.head, "at": c.at, "reason": c.reason})
}

/// `easel audit verify [--witness FILE]`: what the log proves, and what not.
fn verify(
    v: &easel_app::audit::Verification,
    json: bool,
    witness: Option<&std::path::Path>,
) -> Result<Outcome, CliError> {
    let (verdict, witnessed, ok) = (&v.log, &v.witness, v.ok());
    if json {
        let mut out = match &verdict {
            Verdict::Intact {
                records,
                head,
                checkpoint,
                checkpoints,
                legacy,
                reset,
            } => serde_json::json!({
                "intact": true,
                "records": records,
                "head": head,
                "checkpoints": checkpoints,
                "last_checkpoint": checkpoint.as_ref().map(checkpoint_json),
                "mac_only_after": checkpoint.as_ref().map_or(0, |c| c.seq),
                "legacy_records": legacy,
                "unverifiable_before": reset,
            }),
            Verdict::Broken { seq, reason } => {
                serde_json::json!({"intact": false, "first_bad_record": seq, "reason": reason})
            }
        };
        out["witness"] = match &witnessed {
            None => serde_json::Value::Null,
            Some(WitnessVerdict::Consistent { checkpoints, last }) => serde_json::json!({
                "consistent": true,
                "checkpoints": checkpoints,
                "last": last.as_ref().map(checkpoint_json),
            }),
            Some(WitnessVerdict::Failed {
                line,
                checkpoint,
                reason,
            }) => serde_json::json!({
                "consistent": false,
                "line": line,
                "checkpoint": checkpoint.as_ref().map(checkpoint_json),
                "reason": reason,
            }),
        };
        out["ok"] = ok.into();
        println!("{out}");
    } else {
        match &verdict {
            Verdict::Intact {
                records,
                head,
                checkpoint,
                checkpoints,
                legacy,
                reset,
            } => {
                match reset {
                    None => println!(
                        "the audit log is intact: {records} record(s), every MAC and link checks; head {head}"
                    ),
                    Some(r) => {
                        println!(
                            "the audit log is intact from record {r} on, where the master key was reset: {records} record(s), every MAC and link from there checks; head {head}"
                        );
                        println!(
                            "records 1 to {} were keyed by the lost master key: only their order and links were checked, not their contents",
                            r - 1
                        );
                    }
                }
                if *legacy > 0 {
                    println!(
                        "records 1 to {legacy} were written before keyed MACs (unkeyed chain); a signed checkpoint or the keyed record after them covers them"
                    );
                }
                match checkpoint {
                    Some(c) => {
                        println!(
                            "{checkpoints} signed checkpoint(s) check; the newest covers {}",
                            c.describe()
                        );
                        if *records > c.seq {
                            println!(
                                "records {} to {records}, after the last checkpoint, are protected by the MAC only: cutting them off is not detected",
                                c.seq + 1
                            );
                        }
                    }
                    None => println!(
                        "no signed checkpoint yet: records are protected by the MAC only, and a log cut short is not detected"
                    ),
                }
            }
            Verdict::Broken { seq, reason } => {
                println!("the audit log is broken at record {seq}: {reason}");
            }
        }
        match (&witnessed, witness) {
            (Some(WitnessVerdict::Consistent { checkpoints, last }), Some(path)) => {
                println!(
                    "the witness {} agrees: {checkpoints} checkpoint(s), each signed by this key and held by the log{}",
                    path.display(),
                    last.as_ref()
                        .map(|c| format!("; the last covers {}", c.describe()))
                        .unwrap_or_default()
                );
            }
            (
                Some(WitnessVerdict::Failed {
                    line,
                    checkpoint,
                    reason,
                }),
                Some(path),
            ) => {
                println!(
                    "the witness {} disagrees at line {line}{}: {reason}",
                    path.display(),
                    checkpoint
                        .as_ref()
                        .map(|c| format!(" (checkpoint of {})", c.describe()))
                        .unwrap_or_default()
                );
            }
            _ => println!(
                "not checked against a witness: a database rolled back or cut before its last checkpoint along with its checkpoints verifies too; pass --witness FILE"
            ),
        }
        println!(
            "(whoever holds the master key can forge records and checkpoints alike; see docs/SECURITY.md)"
        );
    }
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::RunFailed
    })
}
