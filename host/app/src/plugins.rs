//! The plugin workflow: submit a version, approve it for schools (the
//! two-person rule and the downgrade guard), revoke it.

use easel_policy::{Manifest, Scope};
use easel_runtime::LoadError;
use easel_store::{Action, ApprovalRow, AuditEntry, DenialRow, GrantTerms, PluginRow, now};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::home::Home;
use crate::principal::{Act, Actor};

/// A stored plugin version and where it stands, per school.
#[derive(Debug, Clone)]
pub struct VersionState {
    /// The version.
    pub row: PluginRow,
    /// Per school, its newest approval's state (`live`, `awaiting-second`,
    /// `revoked` or `disabled`), schools in order.
    pub schools: Vec<(u64, &'static str)>,
    /// The newest denial, if an approver denied it.
    pub denial: Option<DenialRow>,
}

impl VersionState {
    /// Never approved for any school, nor denied.
    pub fn pending(&self) -> bool {
        self.schools.is_empty() && self.denial.is_none()
    }

    /// Live for at least one school.
    pub fn live(&self) -> bool {
        self.schools.iter().any(|(_, s)| *s == "live")
    }

    /// In words: `pending`, or each state with its schools, e.g.
    /// `approved: 2,4; revoked: 9`.
    pub fn summary(&self) -> String {
        if self.schools.is_empty() {
            return match &self.denial {
                Some(d) => format!("denied by {}: {}", d.denied_by, d.reason),
                None => "pending".to_owned(),
            };
        }
        let mut by_state: Vec<(&str, Vec<String>)> = Vec::new();
        for (school, st) in &self.schools {
            match by_state.iter_mut().find(|(s, _)| s == st) {
                Some((_, list)) => list.push(school.to_string()),
                None => by_state.push((st, vec![school.to_string()])),
            }
        }
        by_state
            .iter()
            .map(|(s, list)| format!("{}: {}", state_word(s), list.join(",")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// An approval state as people read it.
pub fn state_word(s: &str) -> &str {
    match s {
        "live" => "approved",
        "awaiting-second" => "awaiting a second approver",
        other => other,
    }
}

/// Every stored version, oldest first, with its state per school.
pub fn versions(home: &Home) -> Result<Vec<VersionState>, AppError> {
    let mut out = Vec::new();
    for row in home.store.plugins()? {
        let rows = home
            .store
            .approval_states(&row.digest, &row.manifest_digest)?;
        // Newest row first: a school's first row is its state.
        let mut seen = std::collections::HashSet::new();
        let schools = rows.into_iter().filter(|(s, _)| seen.insert(*s)).collect();
        let denial = home
            .store
            .denials(&row.digest, &row.manifest_digest)?
            .into_iter()
            .next();
        out.push(VersionState {
            row,
            schools,
            denial,
        });
    }
    Ok(out)
}

/// Longest reason a denial may give.
pub const MAX_DENIAL_REASON: usize = 1_000;

/// Deny plugin version `name` (an approver who did not submit it), with a
/// reason its submitter sees. Nothing else changes: a denied version can
/// still be approved later, and approvals already made stand until
/// revoked.
pub fn deny(home: &Home, by: &Actor, name: &str, reason: &str) -> Result<DenialRow, AppError> {
    by.require(Act::Approve)?;
    let row = find(home, name)?;
    if row.added_by == by.name {
        return Err(AppError::forbidden(format!(
            "{} submitted {} {}: another approver decides on it",
            by.name, row.id, row.version
        )));
    }
    let reason = reason.trim();
    if reason.is_empty()
        || reason.chars().count() > MAX_DENIAL_REASON
        || reason.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(AppError::invalid(format!(
            "say why it is denied, in 1 to {MAX_DENIAL_REASON} characters: the submitter reads it"
        )));
    }
    let denial = DenialRow {
        plugin_id: row.id.clone(),
        digest: row.digest.clone(),
        manifest_digest: row.manifest_digest.clone(),
        denied_by: by.name.clone(),
        denied_at: now(),
        reason: reason.to_owned(),
    };
    home.audit(&AuditEntry {
        plugin: Some(row.id.clone()),
        digest: Some(row.digest.clone()),
        detail: Some(format!("{} {} denied: {reason}", row.id, row.version)),
        ..AuditEntry::new(by.audit_name(), Action::PluginDenied)
    })?;
    home.store.add_denial(&denial)?;
    Ok(denial)
}

/// Check a component and its manifest, store both, and record the version.
pub fn add(
    home: &Home,
    by: &Actor,
    bytes: &[u8],
    manifest_text: &str,
    label: &str,
) -> Result<PluginRow, AppError> {
    by.require(Act::Submit)?;
    let manifest = Manifest::parse(manifest_text).map_err(|e| AppError::invalid(e.to_string()))?;
    let runtime = home.runtime()?;
    let loaded = runtime.load(bytes, label).map_err(|e| match e {
        e @ (LoadError::NotAComponent(_)
        | LoadError::Invalid(_)
        | LoadError::UnsupportedImports(_)
        | LoadError::WrongWorld { .. }) => AppError::invalid(format!("refusing {label}: {e}")),
        e => AppError::internal(e),
    })?;
    if loaded.info.imports_write() && !manifest.requests_write() {
        return Err(AppError::invalid(format!(
            "refusing {label}: the component imports easel:canvas/write but its manifest does not request write access; set `write = true` under [capabilities]"
        )));
    }
    // A plugin id is its submitters': someone else's version under it
    // would be what an approver of that id approves next.
    // (The same bytes again are no one's new code; a new manifest for them
    // is a choice the approver must make by name.)
    let versions: Vec<PluginRow> = home
        .store
        .plugins()?
        .into_iter()
        .filter(|p| p.id == manifest.id)
        .collect();
    let owners: Vec<String> = versions
        .iter()
        .map(|p| home.store.submitters(&p.digest))
        .collect::<Result<Vec<_>, _>>()?
        .concat();
    let new_bytes = !versions.iter().any(|p| p.digest == loaded.info.digest);
    if new_bytes && !owners.is_empty() && !owners.contains(&by.name) && !by.may(Act::ManageUsers) {
        return Err(AppError::forbidden(format!(
            "plugin id {} belongs to {}: submit yours under another id, or ask them (or a district admin) to submit it",
            manifest.id,
            {
                let mut o = owners.clone();
                o.sort();
                o.dedup();
                o.join(", ")
            }
        )));
    }
    home.save_component(&loaded.info.digest, bytes)?;
    let row = PluginRow {
        digest: loaded.info.digest.clone(),
        id: manifest.id.clone(),
        version: manifest.version.clone(),
        manifest: manifest_text.to_owned(),
        manifest_digest: hex::encode(Sha256::digest(manifest_text.as_bytes())),
        size: bytes.len() as u64,
        added_at: now(),
        added_by: by.name.clone(),
    };
    home.audit(&AuditEntry {
        plugin: Some(row.id.clone()),
        digest: Some(row.digest.clone()),
        detail: Some(format!(
            "version {}, {} bytes, manifest sha256 {}",
            row.version, row.size, row.manifest_digest
        )),
        ..AuditEntry::new(by.audit_name(), Action::PluginSubmitted)
    })?;
    home.store.add_plugin(&row)?;
    // Whoever submits these bytes, first or again, may never approve them.
    home.store.record_submitter(&row.digest, &by.name)?;
    Ok(row)
}

/// The plugin version `name` names (id, id@digest-prefix, digest prefix).
pub fn find(home: &Home, name: &str) -> Result<PluginRow, AppError> {
    home.store.find_plugin(name)?.ok_or_else(|| {
        AppError::invalid(format!(
            "no plugin {name:?}: see `easel plugin list`, or submit it with `easel plugin submit`"
        ))
    })
}

/// The setting that makes write grants need two admins (`1` or `2`).
pub const WRITE_APPROVERS: &str = "write-approvers";

/// Where approved runs go: an instance and the token they use (`None`:
/// the embedded simulator).
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Instance name.
    pub instance: Option<String>,
    /// Token id.
    pub token_id: Option<String>,
}

/// Approve the plugin's newest (or named) version for each school, against
/// the embedded simulator.
pub fn approve(
    home: &Home,
    name: &str,
    schools: &[u64],
    write: bool,
    by: &Actor,
) -> Result<Vec<ApprovalRow>, AppError> {
    approve_on(home, name, schools, write, by, &Target::default())
}

/// Approve for each school, with runs going to `target`.
pub fn approve_on(
    home: &Home,
    name: &str,
    schools: &[u64],
    write: bool,
    by: &Actor,
    target: &Target,
) -> Result<Vec<ApprovalRow>, AppError> {
    let options = ApproveOptions {
        write,
        target: target.clone(),
        allow_downgrade: false,
        terms: GrantTerms::default(),
        manifest_digest: None,
    };
    approve_with(home, name, schools, by, &options)
}

/// What an approval grants beyond the schools.
#[derive(Debug, Clone, Default)]
pub struct ApproveOptions {
    /// Grant write access (if the manifest requests it).
    pub write: bool,
    /// Where runs go.
    pub target: Target,
    /// Approving an older version than one already approved is intended.
    pub allow_downgrade: bool,
    /// The grant's other terms.
    pub terms: GrantTerms,
    /// Which manifest to approve, by a prefix of its sha256, when the
    /// component was submitted with several.
    pub manifest_digest: Option<String>,
}

/// Check a grant's terms against what the manifest requests: the grant
/// may narrow the request, never widen it.
fn check_terms(manifest: &Manifest, t: &GrantTerms) -> Result<(), AppError> {
    if let Some(scopes) = &t.scopes {
        let requested: Vec<String> = manifest.scopes.iter().map(ToString::to_string).collect();
        for s in scopes {
            let parsed = Scope::parse(s).map_err(|e| AppError::invalid(e.to_string()))?;
            if !requested.contains(&parsed.to_string()) {
                return Err(AppError::invalid(format!(
                    "{} does not request scope {s}; it requests: {}",
                    manifest.id,
                    if requested.is_empty() {
                        "no scope list".to_owned()
                    } else {
                        requested.join(", ")
                    }
                )));
            }
        }
    }
    if let Some(v) = &t.shared_users
        && !matches!(v.as_str(), "deny" | "read")
    {
        return Err(AppError::invalid(format!(
            "shared_users must be \"deny\" or \"read\" (got {v:?})"
        )));
    }
    if t.masquerade && !manifest.masquerade {
        return Err(AppError::invalid(format!(
            "{} does not ask to masquerade; its manifest would need masquerade = true",
            manifest.id
        )));
    }
    if t.sis_import && !manifest.sis_import {
        return Err(AppError::invalid(format!(
            "{} does not ask to send SIS imports; its manifest would need sis_import = true",
            manifest.id
        )));
    }
    if let Some(n) = t.max_calls
        && n > manifest.max_calls
    {
        return Err(AppError::invalid(format!(
            "--max-calls {n} is more than the {} calls {} requests",
            manifest.max_calls, manifest.id
        )));
    }
    if let Some(e) = &t.expires_at {
        time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339).map_err(
            |_| {
                AppError::invalid(format!(
                    "expires_at {e:?} must be RFC 3339, e.g. 2027-06-30T00:00:00Z"
                ))
            },
        )?;
    }
    Ok(())
}

/// [`approve_on`], saying whether approving an older version than one
/// already approved (a downgrade) is intended.
pub fn approve_with(
    home: &Home,
    name: &str,
    schools: &[u64],
    actor: &Actor,
    options: &ApproveOptions,
) -> Result<Vec<ApprovalRow>, AppError> {
    actor.require(Act::Approve)?;
    // Names are folded when someone signs in; folded again here, so no
    // actor built some other way approves its own code by a casing.
    let folded = crate::principal::fold_name(&actor.name)?;
    let by = folded.as_str();
    let recorded = actor.audit_name();
    let ApproveOptions {
        write,
        target,
        allow_downgrade,
        terms,
        manifest_digest,
    } = options;
    let (write, allow_downgrade) = (*write, *allow_downgrade);
    let mut row = find(home, name)?;
    // The same bytes may have been submitted with several manifests: the
    // approval pins one, and the approver names it when there is a choice.
    let manifests = home.store.manifests_of(&row.id, &row.digest)?;
    match manifest_digest.as_deref() {
        Some(prefix) => {
            let chosen: Vec<&String> = manifests.iter().filter(|m| m.starts_with(prefix)).collect();
            let [one] = chosen.as_slice() else {
                return Err(AppError::invalid(format!(
                    "no single manifest of {}@{} has a sha256 starting with {prefix:?}; its manifests: {}",
                    row.id,
                    &row.digest[..12],
                    manifests
                        .iter()
                        .map(|m| &m[..12])
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            row = home
                .store
                .plugin_version(&row.digest, one)?
                .ok_or_else(|| AppError::not_found("that manifest is no longer stored"))?;
        }
        None if manifests.len() > 1 => {
            return Err(AppError::invalid(format!(
                "{}@{} was submitted with {} different manifests ({}): inspect them, then name the one to approve \
                 with --manifest-digest PREFIX",
                row.id,
                &row.digest[..12],
                manifests.len(),
                manifests
                    .iter()
                    .map(|m| &m[..12])
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        None => {}
    }
    let submitters = home.store.submitters(&row.digest)?;
    if row.added_by == by || submitters.iter().any(|s| s == by) {
        return Err(AppError::forbidden(format!(
            "{by} submitted {}@{} and cannot approve it too: another person approves it \
             (add one with `easel user add NAME --role approver`; they approve through `easel serve`, \
             or here with their API token in EASEL_API_TOKEN)",
            row.id,
            &row.digest[..12]
        )));
    }
    if !allow_downgrade && let Some(newer) = home.store.newer_version_approved(&row.digest)? {
        return Err(AppError::invalid(format!(
            "{}@{} is older than {}@{}, which was approved before: approving it is a downgrade; add --allow-downgrade if that is intended",
            row.id,
            &row.digest[..12],
            row.id,
            &newer[..12]
        )));
    }
    let manifest = Manifest::parse(&row.manifest).map_err(AppError::internal)?;
    check_terms(&manifest, terms)?;
    // Compile now, into the cache by digest, so no run waits on it (a
    // Python component takes seconds). Submitting compiled it already
    // unless the cache was cleared or the engine changed; then this pays.
    // Missing bytes are the run's to report (it refuses them by digest).
    if let Ok(bytes) = home.component_bytes(&row.digest) {
        home.runtime()?
            .load(&bytes, &row.id)
            .map_err(AppError::internal)?;
    }
    let write = write && manifest.requests_write();
    if terms.sis_import && !write {
        return Err(AppError::invalid(
            "--sis-import sends SIS imports, which write; it cannot go with --read-only",
        ));
    }
    let mut out = Vec::new();
    let two_for_writes = home.store.setting(WRITE_APPROVERS)?.as_deref() == Some("2");
    for school in schools {
        // A write grant waiting for a second admin: this approval completes
        // exactly that one, and only if it grants the same.
        if let Some((seq, first)) =
            home.store
                .awaiting_second(&row.id, &row.digest, &row.manifest_digest, *school)?
        {
            if by == first.approved_by {
                return Err(AppError::forbidden(format!(
                    "{by} already approved {}@{} for school {school}; write grants need a second, different admin",
                    row.id,
                    &row.digest[..12]
                )));
            }
            if !write
                || first.terms != *terms
                || first.instance != target.instance
                || first.token_id != target.token_id
            {
                return Err(AppError::new(
                    crate::error::Kind::Conflict,
                    format!(
                        "{} approved {}@{} for school {school} with write access and terms {}; a second approval must grant \
                         the same (same terms, not --read-only), or revoke the waiting grant first",
                        first.approved_by,
                        row.id,
                        &row.digest[..12],
                        serde_json::to_string(&first.terms).unwrap_or_default()
                    ),
                ));
            }
            home.audit(&AuditEntry {
                instance: first.instance.clone(),
                school: Some(*school),
                plugin: Some(row.id.clone()),
                digest: Some(row.digest.clone()),
                token: first.token_id.clone(),
                detail: Some(format!(
                    "second approval of the write grant by {}",
                    first.approved_by
                )),
                ..AuditEntry::new(recorded.clone(), Action::PluginApproved)
            })?;
            if !home.store.approve_second(seq, by)? {
                return Err(AppError::new(
                    crate::error::Kind::Conflict,
                    format!(
                        "the waiting grant of {} for school {school} changed meanwhile; look again",
                        row.id
                    ),
                ));
            }
            out.push(ApprovalRow {
                awaiting_second: false,
                second_by: Some(by.to_owned()),
                ..first
            });
            continue;
        }
        let a = ApprovalRow {
            plugin_id: row.id.clone(),
            digest: row.digest.clone(),
            manifest_digest: row.manifest_digest.clone(),
            school: *school,
            write,
            approved_by: by.to_owned(),
            approved_at: now(),
            instance: target.instance.clone(),
            token_id: target.token_id.clone(),
            terms: terms.clone(),
            awaiting_second: write && two_for_writes,
            second_by: None,
        };
        home.audit(&AuditEntry {
            instance: a.instance.clone(),
            school: Some(a.school),
            plugin: Some(a.plugin_id.clone()),
            digest: Some(a.digest.clone()),
            token: a.token_id.clone(),
            detail: Some(format!(
                "{}{}; manifest sha256 {}; terms {}",
                if a.write {
                    "read and write"
                } else {
                    "read only"
                },
                if a.awaiting_second {
                    ", awaiting a second admin"
                } else {
                    ""
                },
                a.manifest_digest,
                serde_json::to_string(&a.terms).unwrap_or_default()
            )),
            ..AuditEntry::new(recorded.clone(), Action::PluginApproved)
        })?;
        home.store.approve(&a)?;
        out.push(a);
    }
    Ok(out)
}

/// Revoke `plugin`'s live approvals for `schools` (empty: all); the
/// schools whose approval was revoked.
pub fn revoke(
    home: &Home,
    by: &Actor,
    plugin: &str,
    schools: &[u64],
) -> Result<Vec<u64>, AppError> {
    by.require(Act::Revoke)?;
    let live = home.store.live_schools(plugin, schools)?;
    if live.is_empty() {
        return Err(AppError::not_found(format!(
            "{plugin} has no live approval{}: see `easel plugin list`",
            if schools.is_empty() {
                ""
            } else {
                " for those schools"
            }
        )));
    }
    for school in &live {
        home.audit(&AuditEntry {
            school: Some(*school),
            plugin: Some(plugin.to_owned()),
            ..AuditEntry::new(by.audit_name(), Action::PluginRevoked)
        })?;
    }
    Ok(home.store.revoke(plugin, schools)?)
}
