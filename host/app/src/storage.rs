//! The application layer's storage: everything its services keep, behind
//! one interface. [`easel_store::Store`] (SQLite, one host) implements it;
//! a store for many hosts implements the same without the services
//! changing. The vault's sealed records and the audit log keep their own
//! connections (`easel_vault`, `easel_store::AuditLog`).

use easel_store::{
    ApiTokenRow, ApprovalHistory, ApprovalRow, InstanceRow, NewRun, PluginRow, RunFilter,
    RunFinish, RunRow, SignInKeyRow, SisPrefixRow, Store, TokenRow, UserRow,
};
use easel_store::{DenialRow, FireRow, RunStats, ScheduleRow};
use easel_store_pg::{Claim, PgStore};
use std::sync::Arc;

/// What a storage call answers.
pub type StoreResult<T> = easel_store::Result<T>;

/// What the application layer keeps: plugins and their approvals, runs,
/// settings, schools' SIS-id prefixes, users and their tokens, instances
/// and token records (without their secrets).
pub trait Storage: Send {
    /// Record a plugin version. Returns false if that digest was already
    /// stored (adding the same bytes twice is harmless).
    fn add_plugin(&self, p: &PluginRow) -> StoreResult<bool>;

    /// Every stored plugin version (component and manifest), newest first.
    fn plugins(&self) -> StoreResult<Vec<PluginRow>>;

    /// The version with this component and manifest digest.
    fn plugin_version(&self, digest: &str, manifest_digest: &str)
    -> StoreResult<Option<PluginRow>>;

    /// Find a plugin by `id` (newest version), `id@<digest prefix>` or a
    /// digest prefix of at least 8 hex digits.
    fn find_plugin(&self, name: &str) -> StoreResult<Option<PluginRow>>;

    /// Record an approval.
    fn approve(&self, a: &ApprovalRow) -> StoreResult<()>;

    /// A write grant of `digest` for `school` waiting for a second admin.
    fn awaiting_second(
        &self,
        plugin_id: &str,
        digest: &str,
        manifest_digest: &str,
        school: u64,
    ) -> StoreResult<Option<(i64, ApprovalRow)>>;

    /// Make the waiting write grant `seq` live with `by` as its second
    /// approver; false if it was no longer waiting.
    fn approve_second(&self, seq: i64, by: &str) -> StoreResult<bool>;

    /// The distinct manifests stored for plugin `id`'s component `digest`.
    fn manifests_of(&self, id: &str, digest: &str) -> StoreResult<Vec<String>>;

    /// An institution-wide setting.
    fn setting(&self, key: &str) -> StoreResult<Option<String>>;

    /// Record that `name` submitted the component `digest`.
    fn record_submitter(&self, digest: &str, name: &str) -> StoreResult<()>;

    /// Everyone who ever submitted the component `digest`.
    fn submitters(&self, digest: &str) -> StoreResult<Vec<String>>;

    /// Set an institution-wide setting.
    fn set_setting(&self, key: &str, value: &str) -> StoreResult<()>;

    /// Revoke the live approvals of plugin `id` (for `schools`, or all);
    /// returns the schools whose approval was revoked.
    fn revoke(&self, id: &str, schools: &[u64]) -> StoreResult<Vec<u64>>;

    /// The schools (of `schools`, or all) with a live approval of plugin
    /// `id`, in order.
    fn live_schools(&self, id: &str, schools: &[u64]) -> StoreResult<Vec<u64>>;

    /// Was a newer version of this digest's plugin ever approved?
    fn newer_version_approved(&self, digest: &str) -> StoreResult<Option<String>>;

    /// The newest live approval of plugin `id` for `school`.
    fn approval(&self, id: &str, school: u64) -> StoreResult<Option<ApprovalRow>>;

    /// Every approval row of one plugin version, newest first, with its
    /// state: `live`, `awaiting-second`, `revoked` or `disabled`.
    fn approval_states(
        &self,
        digest: &str,
        manifest_digest: &str,
    ) -> StoreResult<Vec<(u64, &'static str)>>;

    /// Record an approver's denial of a plugin version.
    fn add_denial(&self, d: &DenialRow) -> StoreResult<()>;

    /// One plugin version's denials, newest first.
    fn denials(&self, digest: &str, manifest_digest: &str) -> StoreResult<Vec<DenialRow>>;

    /// Why no approval of `id` for `school` is live: the newest row's
    /// state (`None`: there never was one).
    fn approval_history(&self, id: &str, school: u64) -> StoreResult<Option<ApprovalHistory>>;

    /// Every live approval, newest first.
    fn approvals(&self) -> StoreResult<Vec<ApprovalRow>>;

    /// Record the start of a run.
    fn start_run(&self, run: &NewRun) -> StoreResult<()>;

    /// The run that applied (or is applying) the plan of dry run `plan`.
    fn run_applying(&self, plan: &str) -> StoreResult<Option<RunRow>>;

    /// Put a run in the queue for a worker to claim.
    fn enqueue_run(&self, run: &NewRun, request: &str) -> StoreResult<()>;

    /// Claim the oldest queued run not on a `busy` instance, leased to
    /// `owner` until `lease_until` (unix ms).
    ///
    /// `tokens`: with many hosts, only runs spending one of these tokens
    /// (those whose lease this host holds) or none; `None`: any run (one
    /// host, which spends every token).
    fn claim_run(
        &self,
        owner: &str,
        lease_until: i64,
        busy: &[String],
        tokens: Option<&[String]>,
    ) -> StoreResult<Option<RunRow>>;

    /// What a queued run's worker needs.
    fn run_request(&self, id: &str) -> StoreResult<Option<String>>;

    /// Extend `owner`'s leases on its running runs `ids`.
    fn renew_leases(&self, owner: &str, ids: &[String], lease_until: i64) -> StoreResult<usize>;

    /// Runs waiting in the queue.
    fn queued_runs(&self) -> StoreResult<u64>;

    /// End a claimed run refused at its second check.
    fn refuse_run(&self, id: &str, error: &str) -> StoreResult<()>;

    /// Record the (partial) report files an interrupted run left.
    fn set_run_outputs(&self, id: &str, outputs: &[String]) -> StoreResult<()>;

    /// Put a run claimed by `owner` back in the queue.
    fn release_run(&self, id: &str, owner: &str) -> StoreResult<bool>;

    /// Interrupted scheduled runs not retried yet, with their requests.
    fn interrupted_unretried(&self) -> StoreResult<Vec<(RunRow, String)>>;

    /// Record that a run was retried (once).
    fn mark_retried(&self, id: &str, by: &str) -> StoreResult<bool>;

    /// Queued runs that did not succeed, ended at or after `since`, not
    /// reported to the failure webhook yet.
    fn unreported_failures(&self, since: &str, limit: usize) -> StoreResult<Vec<String>>;

    /// Claim a failed queued run's report (true once).
    fn claim_report(&self, id: &str) -> StoreResult<bool>;

    /// End a claimed run that could not be started or recorded.
    fn fail_claimed_run(&self, id: &str, error: &str) -> StoreResult<()>;

    /// Record how a run ended.
    fn finish_run(&self, id: &str, f: &RunFinish) -> StoreResult<()>;

    /// The newest `limit` runs that pass `filter`.
    fn runs_where(&self, limit: usize, filter: &RunFilter) -> StoreResult<Vec<RunRow>>;

    /// The newest `limit` runs.
    fn runs(&self, limit: usize) -> StoreResult<Vec<RunRow>>;

    /// Runs of plugin `id` for `school` started at or after `since`
    /// (RFC 3339).
    fn runs_since(&self, plugin: &str, school: u64, since: &str) -> StoreResult<u32>;

    /// One run by id (or unique id prefix).
    fn run(&self, id: &str) -> StoreResult<Option<RunRow>>;

    /// Set `school`'s SIS-id prefix in `instance`, refusing one that
    /// overlaps another school's.
    fn set_sis_prefix(
        &self,
        instance: &str,
        school: u64,
        prefix: &str,
        by: &str,
    ) -> StoreResult<()>;

    /// Remove `school`'s SIS-id prefix; true if it had one.
    fn clear_sis_prefix(&self, instance: &str, school: u64) -> StoreResult<bool>;

    /// `school`'s SIS-id prefix in `instance`.
    fn sis_prefix(&self, instance: &str, school: u64) -> StoreResult<Option<String>>;

    /// Every school's SIS-id prefix in `instance`, by school.
    fn sis_prefixes(&self, instance: &str) -> StoreResult<Vec<SisPrefixRow>>;

    /// Add a user; refused if the name is taken.
    fn add_user(&self, name: &str, roles: &str, created_by: &str) -> StoreResult<()>;

    /// One user by (folded) name.
    fn user(&self, name: &str) -> StoreResult<Option<UserRow>>;

    /// Every user, by name.
    fn users(&self) -> StoreResult<Vec<UserRow>>;

    /// Set a user's password hash.
    fn set_password_hash(&self, name: &str, hash: &str) -> StoreResult<()>;

    /// Store a new API token (its secret's hash only).
    fn add_api_token(&self, t: &ApiTokenRow) -> StoreResult<()>;

    /// One API token by its public id.
    fn api_token(&self, id: &str) -> StoreResult<Option<ApiTokenRow>>;

    /// A user's API tokens, newest first.
    fn api_tokens(&self, user: &str) -> StoreResult<Vec<ApiTokenRow>>;

    /// Revoke an API token; false if it was unknown or revoked already.
    fn revoke_api_token(&self, id: &str) -> StoreResult<bool>;

    /// Revoke every console session still live; how many.
    fn revoke_console_tokens(&self) -> StoreResult<usize>;

    /// Record a failed sign-in.
    fn record_sign_in_failure(&self, name: &str, address: &str) -> StoreResult<i64>;

    /// Forget one recorded attempt (a sign-in that turned out right).
    fn forget_sign_in_attempt(&self, rowid: i64) -> StoreResult<()>;

    /// Failed (or in-flight) sign-ins for `name` from `address`, and from
    /// `address` for any name, since `since` (RFC 3339).
    fn sign_in_failures_since(
        &self,
        name: &str,
        address: &str,
        since: &str,
    ) -> StoreResult<(u32, u32)>;

    /// Refused API tokens from `address` since `since` (RFC 3339).
    fn token_failures_since(&self, address: &str, since: &str) -> StoreResult<u32>;

    /// An instance's sign-in key.
    fn sign_in_key(&self, instance: &str) -> StoreResult<Option<SignInKeyRow>>;

    /// Every sign-in key, by instance.
    fn sign_in_keys(&self) -> StoreResult<Vec<SignInKeyRow>>;

    /// Turn Sign in with Canvas off for an instance. False if it was off.
    fn remove_sign_in_key(&self, instance: &str) -> StoreResult<bool>;

    /// The easel user a Canvas user of `instance` is, if linked.
    fn canvas_identity(&self, instance: &str, canvas_user_id: u64) -> StoreResult<Option<String>>;

    /// The easel users Canvas users of `instance` signed in as.
    fn canvas_users(&self, instance: &str) -> StoreResult<Vec<String>>;

    /// Revoke every live API token of `user`; how many.
    fn revoke_user_tokens(&self, user: &str) -> StoreResult<usize>;

    /// Is `name` some Canvas user's easel user?
    fn is_canvas_user(&self, name: &str) -> StoreResult<bool>;

    /// Add the user `name` with `roles`, linked to a Canvas user, in one
    /// transaction; refused if the name is taken.
    fn add_canvas_user(
        &self,
        instance: &str,
        canvas_user_id: u64,
        name: &str,
        roles: &str,
    ) -> StoreResult<()>;

    /// Replace a user's roles.
    fn set_user_roles(&self, name: &str, roles: &str) -> StoreResult<()>;

    /// Add an instance.
    fn add_instance(&self, i: &InstanceRow) -> StoreResult<()>;

    /// Every instance.
    fn instances(&self) -> StoreResult<Vec<InstanceRow>>;

    /// One instance by name.
    fn instance(&self, name: &str) -> StoreResult<Option<InstanceRow>>;

    /// Remove an instance (the caller checks it has no tokens and no
    /// sign-in key), and which easel user each of its Canvas users was: a
    /// new instance of that name is another Canvas, whose user ids name
    /// other people.
    fn remove_instance(&self, name: &str) -> StoreResult<bool>;

    /// Every token record.
    fn tokens(&self) -> StoreResult<Vec<TokenRow>>;

    /// One token record.
    fn token(&self, id: &str) -> StoreResult<Option<TokenRow>>;

    /// Delete a token record.
    fn remove_token(&self, id: &str) -> StoreResult<bool>;

    /// Live approvals that name a token.
    fn approvals_using_token(&self, id: &str) -> StoreResult<usize>;

    /// Disable every approval that names a token (it is being removed).
    fn disable_approvals_using_token(&self, id: &str) -> StoreResult<usize>;

    /// Mark runs left `running` by processes that are gone as interrupted.
    fn interrupt_runs(
        &self,
        owner: Option<&str>,
        alive: &dyn Fn(&str) -> bool,
    ) -> StoreResult<Vec<String>>;

    /// Add a schedule.
    fn add_schedule(&self, s: &ScheduleRow) -> StoreResult<()>;

    /// Every schedule, oldest first.
    fn schedules(&self) -> StoreResult<Vec<ScheduleRow>>;

    /// One schedule.
    fn schedule(&self, id: &str) -> StoreResult<Option<ScheduleRow>>;

    /// Pause a schedule (`why`), or resume it (`None`, with fire times up
    /// to `handled_until` counted as handled). False if there is none.
    fn set_schedule_paused(
        &self,
        id: &str,
        why: Option<&str>,
        handled_until: Option<&str>,
    ) -> StoreResult<bool>;

    /// Remove a schedule (its fires stay, as history). False if none.
    fn remove_schedule(&self, id: &str) -> StoreResult<bool>;

    /// Claim a fire time with `outcome`; false if it was claimed already.
    fn claim_fire(
        &self,
        id: &str,
        fire_at: &str,
        outcome: &str,
        detail: Option<&str>,
    ) -> StoreResult<bool>;

    /// Record fire times as missed and move the handled mark to `until`,
    /// in one transaction; how many were newly recorded.
    fn record_missed(
        &self,
        id: &str,
        times: &[String],
        until: &str,
        detail: &str,
    ) -> StoreResult<usize>;

    /// Record how a fire ended.
    fn finish_fire(
        &self,
        id: &str,
        fire_at: &str,
        outcome: &str,
        batch: Option<&str>,
        detail: Option<&str>,
    ) -> StoreResult<()>;

    /// A schedule's latest fires, newest first.
    fn fires(&self, id: &str, limit: usize) -> StoreResult<Vec<FireRow>>;

    /// Write a consistent copy of everything kept to `path`.
    fn backup_to(&self, path: &std::path::Path) -> StoreResult<()>;

    /// Runs by plugin and status, durations and call counts.
    fn run_stats(&self) -> StoreResult<RunStats>;
}

impl Storage for Store {
    fn add_plugin(&self, p: &PluginRow) -> StoreResult<bool> {
        Store::add_plugin(self, p)
    }

    fn plugins(&self) -> StoreResult<Vec<PluginRow>> {
        Store::plugins(self)
    }

    fn plugin_version(
        &self,
        digest: &str,
        manifest_digest: &str,
    ) -> StoreResult<Option<PluginRow>> {
        Store::plugin_version(self, digest, manifest_digest)
    }

    fn find_plugin(&self, name: &str) -> StoreResult<Option<PluginRow>> {
        Store::find_plugin(self, name)
    }

    fn approve(&self, a: &ApprovalRow) -> StoreResult<()> {
        Store::approve(self, a)
    }

    fn awaiting_second(
        &self,
        plugin_id: &str,
        digest: &str,
        manifest_digest: &str,
        school: u64,
    ) -> StoreResult<Option<(i64, ApprovalRow)>> {
        Store::awaiting_second(self, plugin_id, digest, manifest_digest, school)
    }

    fn approve_second(&self, seq: i64, by: &str) -> StoreResult<bool> {
        Store::approve_second(self, seq, by)
    }

    fn manifests_of(&self, id: &str, digest: &str) -> StoreResult<Vec<String>> {
        Store::manifests_of(self, id, digest)
    }

    fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        Store::setting(self, key)
    }

    fn record_submitter(&self, digest: &str, name: &str) -> StoreResult<()> {
        Store::record_submitter(self, digest, name)
    }

    fn submitters(&self, digest: &str) -> StoreResult<Vec<String>> {
        Store::submitters(self, digest)
    }

    fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        Store::set_setting(self, key, value)
    }

    fn revoke(&self, id: &str, schools: &[u64]) -> StoreResult<Vec<u64>> {
        Store::revoke(self, id, schools)
    }

    fn live_schools(&self, id: &str, schools: &[u64]) -> StoreResult<Vec<u64>> {
        Store::live_schools(self, id, schools)
    }

    fn newer_version_approved(&self, digest: &str) -> StoreResult<Option<String>> {
        Store::newer_version_approved(self, digest)
    }

    fn approval(&self, id: &str, school: u64) -> StoreResult<Option<ApprovalRow>> {
        Store::approval(self, id, school)
    }

    fn approval_states(
        &self,
        digest: &str,
        manifest_digest: &str,
    ) -> StoreResult<Vec<(u64, &'static str)>> {
        Store::approval_states(self, digest, manifest_digest)
    }

    fn add_denial(&self, d: &DenialRow) -> StoreResult<()> {
        Store::add_denial(self, d)
    }

    fn denials(&self, digest: &str, manifest_digest: &str) -> StoreResult<Vec<DenialRow>> {
        Store::denials(self, digest, manifest_digest)
    }

    fn approval_history(&self, id: &str, school: u64) -> StoreResult<Option<ApprovalHistory>> {
        Store::approval_history(self, id, school)
    }

    fn approvals(&self) -> StoreResult<Vec<ApprovalRow>> {
        Store::approvals(self)
    }

    fn start_run(&self, run: &NewRun) -> StoreResult<()> {
        Store::start_run(self, run)
    }

    fn run_applying(&self, plan: &str) -> StoreResult<Option<RunRow>> {
        Store::run_applying(self, plan)
    }

    fn enqueue_run(&self, run: &NewRun, request: &str) -> StoreResult<()> {
        Store::enqueue_run(self, run, request)
    }

    fn claim_run(
        &self,
        owner: &str,
        lease_until: i64,
        busy: &[String],
        _tokens: Option<&[String]>,
    ) -> StoreResult<Option<RunRow>> {
        // One host: it holds every token.
        Store::claim_run(self, owner, lease_until, busy)
    }

    fn run_request(&self, id: &str) -> StoreResult<Option<String>> {
        Store::run_request(self, id)
    }

    fn renew_leases(&self, owner: &str, ids: &[String], lease_until: i64) -> StoreResult<usize> {
        Store::renew_leases(self, owner, ids, lease_until)
    }

    fn queued_runs(&self) -> StoreResult<u64> {
        Store::queued_runs(self)
    }

    fn refuse_run(&self, id: &str, error: &str) -> StoreResult<()> {
        Store::refuse_run(self, id, error)
    }

    fn set_run_outputs(&self, id: &str, outputs: &[String]) -> StoreResult<()> {
        Store::set_run_outputs(self, id, outputs)
    }

    fn release_run(&self, id: &str, owner: &str) -> StoreResult<bool> {
        Store::release_run(self, id, owner)
    }

    fn interrupted_unretried(&self) -> StoreResult<Vec<(RunRow, String)>> {
        Store::interrupted_unretried(self)
    }

    fn mark_retried(&self, id: &str, by: &str) -> StoreResult<bool> {
        Store::mark_retried(self, id, by)
    }

    fn unreported_failures(&self, since: &str, limit: usize) -> StoreResult<Vec<String>> {
        Store::unreported_failures(self, since, limit)
    }

    fn claim_report(&self, id: &str) -> StoreResult<bool> {
        Store::claim_report(self, id)
    }

    fn fail_claimed_run(&self, id: &str, error: &str) -> StoreResult<()> {
        Store::fail_claimed_run(self, id, error)
    }

    fn finish_run(&self, id: &str, f: &RunFinish) -> StoreResult<()> {
        Store::finish_run(self, id, f)
    }

    fn runs_where(&self, limit: usize, filter: &RunFilter) -> StoreResult<Vec<RunRow>> {
        Store::runs_where(self, limit, filter)
    }

    fn runs(&self, limit: usize) -> StoreResult<Vec<RunRow>> {
        Store::runs(self, limit)
    }

    fn runs_since(&self, plugin: &str, school: u64, since: &str) -> StoreResult<u32> {
        Store::runs_since(self, plugin, school, since)
    }

    fn run(&self, id: &str) -> StoreResult<Option<RunRow>> {
        Store::run(self, id)
    }

    fn set_sis_prefix(
        &self,
        instance: &str,
        school: u64,
        prefix: &str,
        by: &str,
    ) -> StoreResult<()> {
        Store::set_sis_prefix(self, instance, school, prefix, by)
    }

    fn clear_sis_prefix(&self, instance: &str, school: u64) -> StoreResult<bool> {
        Store::clear_sis_prefix(self, instance, school)
    }

    fn sis_prefix(&self, instance: &str, school: u64) -> StoreResult<Option<String>> {
        Store::sis_prefix(self, instance, school)
    }

    fn sis_prefixes(&self, instance: &str) -> StoreResult<Vec<SisPrefixRow>> {
        Store::sis_prefixes(self, instance)
    }

    fn add_user(&self, name: &str, roles: &str, created_by: &str) -> StoreResult<()> {
        Store::add_user(self, name, roles, created_by)
    }

    fn user(&self, name: &str) -> StoreResult<Option<UserRow>> {
        Store::user(self, name)
    }

    fn users(&self) -> StoreResult<Vec<UserRow>> {
        Store::users(self)
    }

    fn set_password_hash(&self, name: &str, hash: &str) -> StoreResult<()> {
        Store::set_password_hash(self, name, hash)
    }

    fn add_api_token(&self, t: &ApiTokenRow) -> StoreResult<()> {
        Store::add_api_token(self, t)
    }

    fn api_token(&self, id: &str) -> StoreResult<Option<ApiTokenRow>> {
        Store::api_token(self, id)
    }

    fn api_tokens(&self, user: &str) -> StoreResult<Vec<ApiTokenRow>> {
        Store::api_tokens(self, user)
    }

    fn revoke_api_token(&self, id: &str) -> StoreResult<bool> {
        Store::revoke_api_token(self, id)
    }

    fn revoke_console_tokens(&self) -> StoreResult<usize> {
        Store::revoke_console_tokens(self)
    }

    fn record_sign_in_failure(&self, name: &str, address: &str) -> StoreResult<i64> {
        Store::record_sign_in_failure(self, name, address)
    }

    fn forget_sign_in_attempt(&self, rowid: i64) -> StoreResult<()> {
        Store::forget_sign_in_attempt(self, rowid)
    }

    fn sign_in_failures_since(
        &self,
        name: &str,
        address: &str,
        since: &str,
    ) -> StoreResult<(u32, u32)> {
        Store::sign_in_failures_since(self, name, address, since)
    }

    fn token_failures_since(&self, address: &str, since: &str) -> StoreResult<u32> {
        Store::token_failures_since(self, address, since)
    }

    fn sign_in_key(&self, instance: &str) -> StoreResult<Option<SignInKeyRow>> {
        Store::sign_in_key(self, instance)
    }

    fn sign_in_keys(&self) -> StoreResult<Vec<SignInKeyRow>> {
        Store::sign_in_keys(self)
    }

    fn remove_sign_in_key(&self, instance: &str) -> StoreResult<bool> {
        Store::remove_sign_in_key(self, instance)
    }

    fn canvas_identity(&self, instance: &str, canvas_user_id: u64) -> StoreResult<Option<String>> {
        Store::canvas_identity(self, instance, canvas_user_id)
    }

    fn canvas_users(&self, instance: &str) -> StoreResult<Vec<String>> {
        Store::canvas_users(self, instance)
    }

    fn revoke_user_tokens(&self, user: &str) -> StoreResult<usize> {
        Store::revoke_user_tokens(self, user)
    }

    fn is_canvas_user(&self, name: &str) -> StoreResult<bool> {
        Store::is_canvas_user(self, name)
    }

    fn add_canvas_user(
        &self,
        instance: &str,
        canvas_user_id: u64,
        name: &str,
        roles: &str,
    ) -> StoreResult<()> {
        Store::add_canvas_user(self, instance, canvas_user_id, name, roles)
    }

    fn set_user_roles(&self, name: &str, roles: &str) -> StoreResult<()> {
        Store::set_user_roles(self, name, roles)
    }

    fn add_instance(&self, i: &InstanceRow) -> StoreResult<()> {
        Store::add_instance(self, i)
    }

    fn instances(&self) -> StoreResult<Vec<InstanceRow>> {
        Store::instances(self)
    }

    fn instance(&self, name: &str) -> StoreResult<Option<InstanceRow>> {
        Store::instance(self, name)
    }

    fn remove_instance(&self, name: &str) -> StoreResult<bool> {
        Store::remove_instance(self, name)
    }

    fn tokens(&self) -> StoreResult<Vec<TokenRow>> {
        Store::tokens(self)
    }

    fn token(&self, id: &str) -> StoreResult<Option<TokenRow>> {
        Store::token(self, id)
    }

    fn remove_token(&self, id: &str) -> StoreResult<bool> {
        Store::remove_token(self, id)
    }

    fn approvals_using_token(&self, id: &str) -> StoreResult<usize> {
        Store::approvals_using_token(self, id)
    }

    fn disable_approvals_using_token(&self, id: &str) -> StoreResult<usize> {
        Store::disable_approvals_using_token(self, id)
    }

    fn interrupt_runs(
        &self,
        owner: Option<&str>,
        alive: &dyn Fn(&str) -> bool,
    ) -> StoreResult<Vec<String>> {
        Store::interrupt_runs(self, owner, alive)
    }

    fn add_schedule(&self, s: &ScheduleRow) -> StoreResult<()> {
        Store::add_schedule(self, s)
    }

    fn schedules(&self) -> StoreResult<Vec<ScheduleRow>> {
        Store::schedules(self)
    }

    fn schedule(&self, id: &str) -> StoreResult<Option<ScheduleRow>> {
        Store::schedule(self, id)
    }

    fn set_schedule_paused(
        &self,
        id: &str,
        why: Option<&str>,
        handled_until: Option<&str>,
    ) -> StoreResult<bool> {
        Store::set_schedule_paused(self, id, why, handled_until)
    }

    fn remove_schedule(&self, id: &str) -> StoreResult<bool> {
        Store::remove_schedule(self, id)
    }

    fn claim_fire(
        &self,
        id: &str,
        fire_at: &str,
        outcome: &str,
        detail: Option<&str>,
    ) -> StoreResult<bool> {
        Store::claim_fire(self, id, fire_at, outcome, detail)
    }

    fn record_missed(
        &self,
        id: &str,
        times: &[String],
        until: &str,
        detail: &str,
    ) -> StoreResult<usize> {
        Store::record_missed(self, id, times, until, detail)
    }

    fn finish_fire(
        &self,
        id: &str,
        fire_at: &str,
        outcome: &str,
        batch: Option<&str>,
        detail: Option<&str>,
    ) -> StoreResult<()> {
        Store::finish_fire(self, id, fire_at, outcome, batch, detail)
    }

    fn fires(&self, id: &str, limit: usize) -> StoreResult<Vec<FireRow>> {
        Store::fires(self, id, limit)
    }

    fn backup_to(&self, path: &std::path::Path) -> StoreResult<()> {
        Store::backup_to(self, path)
    }

    fn run_stats(&self) -> StoreResult<RunStats> {
        Store::run_stats(self)
    }
}

/// Many hosts: PostgreSQL, one pool per process shared by every `Home`.
impl Storage for Arc<PgStore> {
    fn add_plugin(&self, p: &PluginRow) -> StoreResult<bool> {
        PgStore::add_plugin(self, p)
    }

    fn plugins(&self) -> StoreResult<Vec<PluginRow>> {
        PgStore::plugins(self)
    }

    fn plugin_version(
        &self,
        digest: &str,
        manifest_digest: &str,
    ) -> StoreResult<Option<PluginRow>> {
        PgStore::plugin_version(self, digest, manifest_digest)
    }

    fn find_plugin(&self, name: &str) -> StoreResult<Option<PluginRow>> {
        PgStore::find_plugin(self, name)
    }

    fn approve(&self, a: &ApprovalRow) -> StoreResult<()> {
        PgStore::approve(self, a)
    }

    fn awaiting_second(
        &self,
        plugin_id: &str,
        digest: &str,
        manifest_digest: &str,
        school: u64,
    ) -> StoreResult<Option<(i64, ApprovalRow)>> {
        PgStore::awaiting_second(self, plugin_id, digest, manifest_digest, school)
    }

    fn approve_second(&self, seq: i64, by: &str) -> StoreResult<bool> {
        PgStore::approve_second(self, seq, by)
    }

    fn manifests_of(&self, id: &str, digest: &str) -> StoreResult<Vec<String>> {
        PgStore::manifests_of(self, id, digest)
    }

    fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        PgStore::setting(self, key)
    }

    fn record_submitter(&self, digest: &str, name: &str) -> StoreResult<()> {
        PgStore::record_submitter(self, digest, name)
    }

    fn submitters(&self, digest: &str) -> StoreResult<Vec<String>> {
        PgStore::submitters(self, digest)
    }

    fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        PgStore::set_setting(self, key, value)
    }

    fn revoke(&self, id: &str, schools: &[u64]) -> StoreResult<Vec<u64>> {
        PgStore::revoke(self, id, schools)
    }

    fn live_schools(&self, id: &str, schools: &[u64]) -> StoreResult<Vec<u64>> {
        PgStore::live_schools(self, id, schools)
    }

    fn newer_version_approved(&self, digest: &str) -> StoreResult<Option<String>> {
        PgStore::newer_version_approved(self, digest)
    }

    fn approval(&self, id: &str, school: u64) -> StoreResult<Option<ApprovalRow>> {
        PgStore::approval(self, id, school)
    }

    fn approval_states(
        &self,
        digest: &str,
        manifest_digest: &str,
    ) -> StoreResult<Vec<(u64, &'static str)>> {
        PgStore::approval_states(self, digest, manifest_digest)
    }

    fn add_denial(&self, d: &DenialRow) -> StoreResult<()> {
        PgStore::add_denial(self, d)
    }

    fn denials(&self, digest: &str, manifest_digest: &str) -> StoreResult<Vec<DenialRow>> {
        PgStore::denials(self, digest, manifest_digest)
    }

    fn approval_history(&self, id: &str, school: u64) -> StoreResult<Option<ApprovalHistory>> {
        PgStore::approval_history(self, id, school)
    }

    fn approvals(&self) -> StoreResult<Vec<ApprovalRow>> {
        PgStore::approvals(self)
    }

    fn start_run(&self, run: &NewRun) -> StoreResult<()> {
        PgStore::start_run(self, run)
    }

    fn run_applying(&self, plan: &str) -> StoreResult<Option<RunRow>> {
        PgStore::run_applying(self, plan)
    }

    fn enqueue_run(&self, run: &NewRun, request: &str) -> StoreResult<()> {
        PgStore::enqueue_run(self, run, request)
    }

    fn claim_run(
        &self,
        owner: &str,
        lease_until: i64,
        busy: &[String],
        tokens: Option<&[String]>,
    ) -> StoreResult<Option<RunRow>> {
        PgStore::claim_run(self, owner, lease_until, &Claim { busy, tokens })
    }

    fn run_request(&self, id: &str) -> StoreResult<Option<String>> {
        PgStore::run_request(self, id)
    }

    fn renew_leases(&self, owner: &str, ids: &[String], lease_until: i64) -> StoreResult<usize> {
        PgStore::renew_leases(self, owner, ids, lease_until)
    }

    fn queued_runs(&self) -> StoreResult<u64> {
        PgStore::queued_runs(self)
    }

    fn refuse_run(&self, id: &str, error: &str) -> StoreResult<()> {
        PgStore::refuse_run(self, id, error)
    }

    fn set_run_outputs(&self, id: &str, outputs: &[String]) -> StoreResult<()> {
        PgStore::set_run_outputs(self, id, outputs)
    }

    fn release_run(&self, id: &str, owner: &str) -> StoreResult<bool> {
        PgStore::release_run(self, id, owner)
    }

    fn interrupted_unretried(&self) -> StoreResult<Vec<(RunRow, String)>> {
        PgStore::interrupted_unretried(self)
    }

    fn mark_retried(&self, id: &str, by: &str) -> StoreResult<bool> {
        PgStore::mark_retried(self, id, by)
    }

    fn unreported_failures(&self, since: &str, limit: usize) -> StoreResult<Vec<String>> {
        PgStore::unreported_failures(self, since, limit)
    }

    fn claim_report(&self, id: &str) -> StoreResult<bool> {
        PgStore::claim_report(self, id)
    }

    fn fail_claimed_run(&self, id: &str, error: &str) -> StoreResult<()> {
        PgStore::fail_claimed_run(self, id, error)
    }

    fn finish_run(&self, id: &str, f: &RunFinish) -> StoreResult<()> {
        PgStore::finish_run(self, id, f)
    }

    fn runs_where(&self, limit: usize, filter: &RunFilter) -> StoreResult<Vec<RunRow>> {
        PgStore::runs_where(self, limit, filter)
    }

    fn runs(&self, limit: usize) -> StoreResult<Vec<RunRow>> {
        PgStore::runs(self, limit)
    }

    fn runs_since(&self, plugin: &str, school: u64, since: &str) -> StoreResult<u32> {
        PgStore::runs_since(self, plugin, school, since)
    }

    fn run(&self, id: &str) -> StoreResult<Option<RunRow>> {
        PgStore::run(self, id)
    }

    fn set_sis_prefix(
        &self,
        instance: &str,
        school: u64,
        prefix: &str,
        by: &str,
    ) -> StoreResult<()> {
        PgStore::set_sis_prefix(self, instance, school, prefix, by)
    }

    fn clear_sis_prefix(&self, instance: &str, school: u64) -> StoreResult<bool> {
        PgStore::clear_sis_prefix(self, instance, school)
    }

    fn sis_prefix(&self, instance: &str, school: u64) -> StoreResult<Option<String>> {
        PgStore::sis_prefix(self, instance, school)
    }

    fn sis_prefixes(&self, instance: &str) -> StoreResult<Vec<SisPrefixRow>> {
        PgStore::sis_prefixes(self, instance)
    }

    fn add_user(&self, name: &str, roles: &str, created_by: &str) -> StoreResult<()> {
        PgStore::add_user(self, name, roles, created_by)
    }

    fn user(&self, name: &str) -> StoreResult<Option<UserRow>> {
        PgStore::user(self, name)
    }

    fn users(&self) -> StoreResult<Vec<UserRow>> {
        PgStore::users(self)
    }

    fn set_password_hash(&self, name: &str, hash: &str) -> StoreResult<()> {
        PgStore::set_password_hash(self, name, hash)
    }

    fn add_api_token(&self, t: &ApiTokenRow) -> StoreResult<()> {
        PgStore::add_api_token(self, t)
    }

    fn api_token(&self, id: &str) -> StoreResult<Option<ApiTokenRow>> {
        PgStore::api_token(self, id)
    }

    fn api_tokens(&self, user: &str) -> StoreResult<Vec<ApiTokenRow>> {
        PgStore::api_tokens(self, user)
    }

    fn revoke_api_token(&self, id: &str) -> StoreResult<bool> {
        PgStore::revoke_api_token(self, id)
    }

    fn revoke_console_tokens(&self) -> StoreResult<usize> {
        PgStore::revoke_console_tokens(self)
    }

    fn record_sign_in_failure(&self, name: &str, address: &str) -> StoreResult<i64> {
        PgStore::record_sign_in_failure(self, name, address)
    }

    fn forget_sign_in_attempt(&self, rowid: i64) -> StoreResult<()> {
        PgStore::forget_sign_in_attempt(self, rowid)
    }

    fn sign_in_failures_since(
        &self,
        name: &str,
        address: &str,
        since: &str,
    ) -> StoreResult<(u32, u32)> {
        PgStore::sign_in_failures_since(self, name, address, since)
    }

    fn token_failures_since(&self, address: &str, since: &str) -> StoreResult<u32> {
        PgStore::token_failures_since(self, address, since)
    }

    fn sign_in_key(&self, instance: &str) -> StoreResult<Option<SignInKeyRow>> {
        PgStore::sign_in_key(self, instance)
    }

    fn sign_in_keys(&self) -> StoreResult<Vec<SignInKeyRow>> {
        PgStore::sign_in_keys(self)
    }

    fn remove_sign_in_key(&self, instance: &str) -> StoreResult<bool> {
        PgStore::remove_sign_in_key(self, instance)
    }

    fn canvas_identity(&self, instance: &str, canvas_user_id: u64) -> StoreResult<Option<String>> {
        PgStore::canvas_identity(self, instance, canvas_user_id)
    }

    fn canvas_users(&self, instance: &str) -> StoreResult<Vec<String>> {
        PgStore::canvas_users(self, instance)
    }

    fn revoke_user_tokens(&self, user: &str) -> StoreResult<usize> {
        PgStore::revoke_user_tokens(self, user)
    }

    fn is_canvas_user(&self, name: &str) -> StoreResult<bool> {
        PgStore::is_canvas_user(self, name)
    }

    fn add_canvas_user(
        &self,
        instance: &str,
        canvas_user_id: u64,
        name: &str,
        roles: &str,
    ) -> StoreResult<()> {
        PgStore::add_canvas_user(self, instance, canvas_user_id, name, roles)
    }

    fn set_user_roles(&self, name: &str, roles: &str) -> StoreResult<()> {
        PgStore::set_user_roles(self, name, roles)
    }

    fn add_instance(&self, i: &InstanceRow) -> StoreResult<()> {
        PgStore::add_instance(self, i)
    }

    fn instances(&self) -> StoreResult<Vec<InstanceRow>> {
        PgStore::instances(self)
    }

    fn instance(&self, name: &str) -> StoreResult<Option<InstanceRow>> {
        PgStore::instance(self, name)
    }

    fn remove_instance(&self, name: &str) -> StoreResult<bool> {
        PgStore::remove_instance(self, name)
    }

    fn tokens(&self) -> StoreResult<Vec<TokenRow>> {
        PgStore::tokens(self)
    }

    fn token(&self, id: &str) -> StoreResult<Option<TokenRow>> {
        PgStore::token(self, id)
    }

    fn remove_token(&self, id: &str) -> StoreResult<bool> {
        PgStore::remove_token(self, id)
    }

    fn approvals_using_token(&self, id: &str) -> StoreResult<usize> {
        PgStore::approvals_using_token(self, id)
    }

    fn disable_approvals_using_token(&self, id: &str) -> StoreResult<usize> {
        PgStore::disable_approvals_using_token(self, id)
    }

    fn interrupt_runs(
        &self,
        owner: Option<&str>,
        alive: &dyn Fn(&str) -> bool,
    ) -> StoreResult<Vec<String>> {
        PgStore::interrupt_runs(self, owner, alive)
    }

    fn add_schedule(&self, s: &ScheduleRow) -> StoreResult<()> {
        PgStore::add_schedule(self, s)
    }

    fn schedules(&self) -> StoreResult<Vec<ScheduleRow>> {
        PgStore::schedules(self)
    }

    fn schedule(&self, id: &str) -> StoreResult<Option<ScheduleRow>> {
        PgStore::schedule(self, id)
    }

    fn set_schedule_paused(
        &self,
        id: &str,
        why: Option<&str>,
        handled_until: Option<&str>,
    ) -> StoreResult<bool> {
        PgStore::set_schedule_paused(self, id, why, handled_until)
    }

    fn remove_schedule(&self, id: &str) -> StoreResult<bool> {
        PgStore::remove_schedule(self, id)
    }

    fn claim_fire(
        &self,
        id: &str,
        fire_at: &str,
        outcome: &str,
        detail: Option<&str>,
    ) -> StoreResult<bool> {
        PgStore::claim_fire(self, id, fire_at, outcome, detail, &crate::process::me())
    }

    fn record_missed(
        &self,
        id: &str,
        times: &[String],
        until: &str,
        detail: &str,
    ) -> StoreResult<usize> {
        PgStore::record_missed(self, id, times, until, detail)
    }

    fn finish_fire(
        &self,
        id: &str,
        fire_at: &str,
        outcome: &str,
        batch: Option<&str>,
        detail: Option<&str>,
    ) -> StoreResult<()> {
        PgStore::finish_fire(self, id, fire_at, outcome, batch, detail)
    }

    fn fires(&self, id: &str, limit: usize) -> StoreResult<Vec<FireRow>> {
        PgStore::fires(self, id, limit)
    }

    fn backup_to(&self, _path: &std::path::Path) -> StoreResult<()> {
        Err(easel_store::StoreError::Invalid(
            "the database is PostgreSQL: back it up with pg_dump (docs/DEPLOY.md, \"Backup and restore\"), not easel backup".into(),
        ))
    }

    fn run_stats(&self) -> StoreResult<RunStats> {
        PgStore::run_stats(self)
    }
}
