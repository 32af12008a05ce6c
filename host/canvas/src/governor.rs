//! The per-token governor: one model of Canvas's leaky bucket shared by
//! every request made with a token, and a fair queue in front of it.
//!
//! Canvas meters a token with a leaky bucket (shared/CANVAS.md,
//! Throttling): each request in flight holds an up-front reservation, each
//! finished request leaves its cost, the bucket leaks at a fixed outflow,
//! and a request arriving at or over the high-water mark is throttled. The
//! governor keeps its own estimate of the headroom (`hwm - level`), takes a
//! request's reservation before sending it, and sends only while the
//! headroom stays above a safety margin. Every answer's
//! `x-rate-limit-remaining` (less the reservations of our requests that had
//! not reached Canvas when it answered: those that left within the answer's
//! time on the network, its total time less Canvas's `x-runtime`, or every
//! one sent after it when Canvas does not say) lowers the estimate when
//! Canvas has less room than the model thinks, so the model follows Canvas
//! when something else uses the token or requests cost more; and it raises
//! the estimate when Canvas has more (counting every other request in
//! flight as unseen), so the model recovers when that client stops, but not
//! within a while of a throttle: then the room an answer shows may be
//! another client's, whose next requests are on their way. The
//! margin shrinks while answers confirm the model and doubles after a
//! throttle; the room an answer reports is handed at once to the requests
//! waiting, so another client on the token cannot take every place a
//! finished request frees. The
//! number of requests in flight is therefore not fixed: it is what the
//! headroom allows, many while the bucket is empty, one at a time when it
//! is full and the leak alone pays for the next request.
//!
//! Waiting requests are queued per flow (a run) and served round-robin, so
//! runs sharing a token progress at the same rate; interactive flows are
//! served before scheduled ones.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::retry::RetryReason;

/// The bucket's settings as Canvas has them; defaults are hosted Canvas's.
#[derive(Debug, Clone, PartialEq)]
pub struct GovernorConfig {
    /// High-water mark: a request arriving at or over it is throttled.
    pub hwm: f64,
    /// Units leaked per second.
    pub outflow: f64,
    /// Units reserved per request in flight.
    pub up_front: f64,
    /// Headroom kept free beyond the next request's reservation while the
    /// model has not been confirmed by Canvas (and again after a throttle).
    pub margin: f64,
    /// The least margin kept once Canvas's answers confirm the model: what
    /// a request's arrival may find taken by another client since the
    /// last answer.
    pub min_margin: f64,
    /// Cost assumed for an answer without `x-request-cost`.
    pub default_cost: f64,
}

impl Default for GovernorConfig {
    fn default() -> Self {
        Self {
            hwm: 700.0,
            outflow: 10.0,
            up_front: 50.0,
            margin: 50.0,
            min_margin: 1.0,
            default_cost: 1.0,
        }
    }
}

impl GovernorConfig {
    /// The settings of a bucket whose clock runs `scale` times faster (the
    /// simulator's time scale): the outflow is multiplied, and so is the
    /// least margin, which stands for a moment of the bucket's time (the
    /// jitter between our clock and Canvas's is real time, and worth
    /// `scale` times more units), up to the whole margin.
    pub fn time_scaled(mut self, scale: f64) -> Self {
        self.outflow *= scale;
        self.min_margin = (self.min_margin * scale.max(1.0)).min(self.margin);
        self
    }
}

/// Who goes first when requests wait for the token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Started by a person who is waiting (`easel run`): served first.
    #[default]
    Interactive,
    /// Started by the scheduler.
    Scheduled,
}

impl Priority {
    fn index(self) -> usize {
        match self {
            Priority::Interactive => 0,
            Priority::Scheduled => 1,
        }
    }
}

/// What a finished request told the governor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Settled {
    /// Canvas answered (not a throttle), with its rate-limit headers if any.
    Answered {
        /// The HTTP status.
        status: u16,
        /// `x-request-cost`.
        cost: Option<f64>,
        /// `x-rate-limit-remaining`.
        remaining: Option<f64>,
        /// `x-runtime`: seconds Canvas spent on the request, so the rest of
        /// the time since it was sent was the network's.
        runtime: Option<f64>,
    },
    /// Canvas throttled the request (it did not run).
    Throttled {
        /// The HTTP status (429, or 403 with Canvas's throttle text).
        status: u16,
        /// `x-rate-limit-remaining`, if sent.
        remaining: Option<f64>,
    },
    /// No answer: whether Canvas ran it is unknown.
    Lost,
}

/// Counters since the governor was made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GovernorStats {
    /// Requests let through.
    pub granted: u64,
    /// Throttled answers seen.
    pub throttled: u64,
    /// Answers by HTTP status, throttles included.
    pub answers: BTreeMap<u16, u64>,
    /// Requests that got no answer (whether Canvas ran them is unknown).
    pub lost: u64,
    /// Requests sent again, by why.
    pub retries: Retries,
    /// Most requests in flight at once.
    pub peak_in_flight: u32,
    /// Requests in flight now.
    pub in_flight: u32,
    /// Requests waiting now.
    pub waiting: usize,
    /// The current headroom estimate (`hwm - level`).
    pub headroom: f64,
}

/// Requests sent again, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retries {
    /// After Canvas throttled the token.
    pub throttled: u64,
    /// After a 5xx answer to an idempotent request.
    pub server_error: u64,
    /// After no answer to an idempotent request.
    pub connection: u64,
}

type Ticket = oneshot::Sender<Permit>;

/// Waiting requests of one priority class, round-robin by flow.
#[derive(Default)]
struct FairQueue {
    order: VecDeque<String>,
    flows: HashMap<String, VecDeque<Ticket>>,
}

impl FairQueue {
    fn push(&mut self, flow: &str, ticket: Ticket) {
        match self.flows.get_mut(flow) {
            Some(q) => q.push_back(ticket),
            None => {
                self.flows.insert(flow.to_owned(), VecDeque::from([ticket]));
                self.order.push_back(flow.to_owned());
            }
        }
    }

    /// The next ticket: the front flow's oldest, then that flow goes to the
    /// back of the line.
    fn pop(&mut self) -> Option<Ticket> {
        let flow = self.order.pop_front()?;
        let q = self.flows.get_mut(&flow)?;
        let ticket = q.pop_front();
        if q.is_empty() {
            self.flows.remove(&flow);
        } else {
            self.order.push_back(flow);
        }
        ticket
    }

    fn len(&self) -> usize {
        self.flows.values().map(VecDeque::len).sum()
    }
}

struct State {
    headroom: f64,
    /// The margin kept now: shrinks while answers confirm the model,
    /// back to `config.margin` on a throttle.
    margin: f64,
    /// Requests sent after this sequence number have not had their answer's
    /// headroom applied upward yet (answers may arrive out of order).
    word_after: Option<u64>,
    /// When Canvas last throttled us: another client may be using the
    /// token, so its answers' room is not ours to take until this is old.
    throttled_at: Option<Instant>,
    /// The bucket's level is not known yet (another process may have been
    /// spending the token until now): one request at a time until Canvas
    /// answers one with `x-rate-limit-remaining`, or until this instant
    /// (by when an empty bucket's worth has leaked: what another process
    /// left is gone).
    learning: Option<Instant>,
    at: Instant,
    /// Requests in flight, by sequence number: when each left for Canvas
    /// (`None` until the caller says it is sending).
    in_flight: BTreeMap<u64, Option<Instant>>,
    next_seq: u64,
    queues: [FairQueue; 2],
    stats: GovernorStats,
    pump: Option<tokio::task::JoinHandle<()>>,
}

impl State {
    /// Still learning the bucket's level.
    fn learning(&self) -> bool {
        self.learning.is_some_and(|until| Instant::now() < until)
    }
}

struct Inner {
    config: GovernorConfig,
    state: Mutex<State>,
    wake: Arc<Notify>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Lets the pump see that the governor is gone and stop.
        self.wake.notify_one();
    }
}

/// One token's governor. Clones share it.
#[derive(Clone)]
pub struct Governor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Governor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governor")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for Governor {
    fn default() -> Self {
        Self::new(GovernorConfig::default())
    }
}

/// Leave to send one request. Settle it with what Canvas answered; dropped
/// unsettled, it counts as [`Settled::Lost`].
pub struct Permit {
    inner: Option<Arc<Inner>>,
    seq: u64,
    waited: Duration,
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit").field("seq", &self.seq).finish()
    }
}

impl Permit {
    /// How long the request waited for the token.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Note that the request is leaving now (a caller may take a moment
    /// between its grant and sending): the governor judges which of its
    /// requests Canvas had seen when it answered another by when each left.
    pub fn sending(&self) {
        if let Some(inner) = &self.inner {
            let mut s = inner.lock();
            if let Some(at) = s.in_flight.get_mut(&self.seq) {
                *at = Some(Instant::now());
            }
        }
    }

    /// Tell the governor how the request ended.
    pub fn settle(mut self, how: Settled) {
        if let Some(inner) = self.inner.take() {
            inner.settle(self.seq, how);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.settle(self.seq, Settled::Lost);
        }
    }
}

impl Governor {
    /// A governor for a bucket with these settings, starting empty.
    pub fn new(config: GovernorConfig) -> Self {
        Self::starting(config, false)
    }

    /// A governor for a bucket whose level is not known: one request at a
    /// time until Canvas's first answer says how much room is left (an
    /// answer without `x-rate-limit-remaining`, from a proxy say, does not
    /// count), then as [`Governor::new`]; at most as long as a full bucket
    /// takes to leak. For a token another process may have been
    /// spending until now (a host that took it over from one that died,
    /// whose requests may still hold reservations in Canvas's bucket).
    pub fn learning(config: GovernorConfig) -> Self {
        Self::starting(config, true)
    }

    fn starting(config: GovernorConfig, learning: bool) -> Self {
        let (headroom, margin) = (config.hwm, config.margin);
        let learning = learning.then(|| {
            let drain = config.hwm / config.outflow.max(f64::MIN_POSITIVE);
            Instant::now() + Duration::from_secs_f64(drain.clamp(0.0, 3600.0))
        });
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State {
                    headroom,
                    margin,
                    word_after: None,
                    throttled_at: None,
                    learning,
                    at: Instant::now(),
                    in_flight: BTreeMap::new(),
                    next_seq: 0,
                    queues: [FairQueue::default(), FairQueue::default()],
                    stats: GovernorStats::default(),
                    pump: None,
                }),
                wake: Arc::new(Notify::new()),
            }),
        }
    }

    /// The bucket settings.
    pub fn config(&self) -> &GovernorConfig {
        &self.inner.config
    }

    /// Counters and the current estimate.
    pub fn stats(&self) -> GovernorStats {
        let s = self.inner.lock();
        GovernorStats {
            in_flight: s.in_flight.len() as u32,
            waiting: s.queues.iter().map(FairQueue::len).sum(),
            headroom: s.headroom,
            ..s.stats.clone()
        }
    }

    /// Count a request that is about to be sent again, and why.
    pub fn retried(&self, reason: RetryReason) {
        let mut s = self.inner.lock();
        let r = &mut s.stats.retries;
        match reason {
            RetryReason::Throttled => r.throttled += 1,
            RetryReason::ServerError(_) => r.server_error += 1,
            RetryReason::Connection => r.connection += 1,
        }
    }

    /// Wait for leave to send one request for `flow` (a run id) at
    /// `priority`. Cancel-safe: dropping the future gives up the place.
    pub async fn acquire(&self, flow: &str, priority: Priority) -> Permit {
        let asked = Instant::now();
        let (tx, rx) = oneshot::channel();
        {
            let mut s = self.inner.lock();
            // Nobody waiting and room in the bucket: go at once, without a
            // round trip through the pump.
            if s.queues.iter().all(|q| q.order.is_empty()) {
                self.inner.leak(&mut s);
                if s.headroom >= self.inner.config.up_front + s.margin
                    && (!s.learning() || s.in_flight.is_empty())
                {
                    let seq = self.inner.grant(&mut s);
                    return Permit {
                        inner: Some(self.inner.clone()),
                        seq,
                        waited: asked.elapsed(),
                    };
                }
            }
            s.queues[priority.index()].push(flow, tx);
            let running = s.pump.as_ref().is_some_and(|p| !p.is_finished());
            if !running {
                let weak = Arc::downgrade(&self.inner);
                let wake = self.inner.wake.clone();
                s.pump = Some(tokio::spawn(pump(weak, wake)));
            }
        }
        self.inner.wake.notify_one();
        match rx.await {
            Ok(mut permit) => {
                permit.waited = asked.elapsed();
                permit
            }
            // The pump ended without serving us (its runtime is shutting
            // down): go ahead rather than hang; Canvas still throttles.
            Err(_) => Permit {
                inner: None,
                seq: 0,
                waited: asked.elapsed(),
            },
        }
    }
}

/// Serves the queues whenever a request settles or arrives, or when the
/// leak will have made room.
async fn pump(weak: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let wait = match weak.upgrade() {
            Some(inner) => inner.dispatch(),
            None => return,
        };
        match wait {
            Some(wait) => {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The headroom can never exceed what the reservations of requests in
    /// flight leave of an empty bucket.
    fn ceiling(&self, s: &State) -> f64 {
        self.config.hwm - self.config.up_front * s.in_flight.len() as f64
    }

    fn leak(&self, s: &mut State) {
        let now = Instant::now();
        let dt = now.saturating_duration_since(s.at).as_secs_f64();
        s.at = now;
        s.headroom = (s.headroom + dt * self.config.outflow).min(self.ceiling(s));
    }

    /// Grant as many waiting requests as the headroom allows; the time until
    /// the leak makes room for the next one, if any wait.
    fn dispatch(self: &Arc<Self>) -> Option<Duration> {
        let mut s = self.lock();
        self.leak(&mut s);
        let need = self.config.up_front + s.margin;
        loop {
            if s.queues.iter().all(|q| q.order.is_empty()) {
                return None;
            }
            // Learning the bucket: the answer in flight wakes the pump.
            if s.learning() && !s.in_flight.is_empty() {
                return None;
            }
            if s.headroom < need {
                let short = need - s.headroom;
                let secs = short / self.config.outflow.max(f64::MIN_POSITIVE);
                return Some(Duration::from_secs_f64(secs.clamp(0.000_5, 60.0)));
            }
            if !self.hand_over(&mut s) {
                return None;
            }
        }
    }

    /// Grant the next waiting request (fair order); false if none waits.
    fn hand_over(self: &Arc<Self>, s: &mut State) -> bool {
        let Some(ticket) = s.queues.iter_mut().find_map(FairQueue::pop) else {
            return false;
        };
        let seq = self.grant(s);
        let permit = Permit {
            inner: Some(self.clone()),
            seq,
            waited: Duration::ZERO,
        };
        if let Err(mut unused) = ticket.send(permit) {
            // The caller gave up while waiting: undo in place (its Drop
            // would take the lock we hold).
            unused.inner = None;
            s.in_flight.remove(&seq);
            s.headroom += self.config.up_front;
            s.stats.granted -= 1;
        }
        true
    }

    /// Take one request's reservation; its sequence number.
    fn grant(&self, s: &mut State) -> u64 {
        let seq = s.next_seq;
        s.next_seq += 1;
        s.headroom -= self.config.up_front;
        s.in_flight.insert(seq, None);
        s.stats.granted += 1;
        s.stats.peak_in_flight = s.stats.peak_in_flight.max(s.in_flight.len() as u32);
        seq
    }

    fn settle(self: &Arc<Self>, seq: u64, how: Settled) {
        {
            let mut s = self.lock();
            let mut fresh_room = None;
            self.leak(&mut s);
            let Some(sent) = s.in_flight.remove(&seq) else {
                return;
            };
            let c = &self.config;
            // Which of our other requests had reached Canvas when it
            // computed this answer's headroom? Those that left before this
            // one had (they took the same way there). Of those that left
            // after it, the ones that left at least the answer's network
            // time ago had, if Canvas said how long it spent on the request
            // (`x-runtime`: the rest was the way there and back). Without a
            // plausible `x-runtime`, or soon after a throttle (another
            // client is using the token, and the room Canvas saw is a round
            // trip old; counting too many as unseen leaves room for its
            // requests), every request that left after this one counts as
            // unseen, and so does every request not yet sent.
            let calm = s.throttled_at.is_none_or(|t| {
                s.at.saturating_duration_since(t).as_secs_f64() * c.outflow >= 4.0 * c.up_front
            });
            let network = match (how, sent) {
                (
                    Settled::Answered {
                        runtime: Some(runtime),
                        ..
                    },
                    Some(sent),
                ) if calm => {
                    let total = s.at.saturating_duration_since(sent).as_secs_f64();
                    (0.0..=total)
                        .contains(&runtime)
                        .then(|| Duration::from_secs_f64(total - runtime))
                }
                _ => None,
            };
            let seen_until = sent.map(|sent| match network {
                Some(n) => s.at.checked_sub(n).unwrap_or(sent).max(sent),
                None => sent,
            });
            let unseen = s
                .in_flight
                .iter()
                .filter(|(j, at)| match (at, seen_until) {
                    (Some(at), Some(until)) => *at > until || (**j > seq && *at == until),
                    _ => true,
                })
                .count();
            let later = unseen as f64 * c.up_front;
            let observed = |remaining: Option<f64>| remaining.map(|r| r - later);
            match how {
                Settled::Answered {
                    status,
                    cost,
                    remaining,
                    ..
                } => {
                    *s.stats.answers.entry(status).or_default() += 1;
                    if remaining.is_some() {
                        s.learning = None;
                    }
                    let cost = cost.unwrap_or(c.default_cost);
                    s.headroom += c.up_front - cost;
                    if let Some(r) = observed(remaining) {
                        // Less room than the model thinks: follow Canvas
                        // (another client, or costlier requests).
                        s.headroom = s.headroom.min(r);
                        // More room (another client stopped, the bucket
                        // leaks faster): follow Canvas too, counting every
                        // other request of ours in flight as not yet seen,
                        // and only from an answer newer than the last one
                        // followed.
                        let others = s.in_flight.len() as f64 * c.up_front;
                        // Not soon after a throttle (see `calm`): the room
                        // may be another client's whose next requests are
                        // on their way.
                        if calm && s.word_after.is_none_or(|w| seq > w) {
                            s.word_after = Some(seq);
                            s.headroom = s.headroom.max(r + later - others);
                        }
                        // Canvas confirms the model: keep less margin.
                        s.margin = (s.margin * 0.9).max(c.min_margin);
                        fresh_room = Some(r);
                    }
                }
                Settled::Throttled { status, remaining } => {
                    *s.stats.answers.entry(status).or_default() += 1;
                    // The headroom follows the throttle (none, or what
                    // Canvas says): the model knows the bucket is full.
                    s.learning = None;
                    s.stats.throttled += 1;
                    s.throttled_at = Some(s.at);
                    // (max then min: a config whose least margin exceeds
                    // its margin keeps the least.)
                    s.margin = (s.margin * 2.0).min(c.margin).max(c.min_margin);
                    s.headroom += c.up_front;
                    s.headroom = s.headroom.min(observed(remaining).unwrap_or(0.0));
                }
                Settled::Lost => {
                    s.stats.lost += 1;
                    s.headroom += c.up_front - c.default_cost;
                }
            }
            s.headroom = s.headroom.min(self.ceiling(&s));
            // This answer is Canvas's word of a moment ago: while it leaves
            // room for another request, send the next one waiting now, with
            // the least margin, before another client on the token takes
            // the room (the finished request's place, or the leak's).
            let least = c.up_front + c.min_margin;
            if let Some(mut room) = fresh_room {
                while room >= least && s.headroom >= least && self.hand_over(&mut s) {
                    room -= c.up_front;
                }
            }
        }
        self.wake.notify_one();
    }
}
