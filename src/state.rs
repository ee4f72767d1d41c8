use std::sync::Arc;

use crate::auth::password::PasswordWorkers;
use crate::auth::token_cache::TokenCache;
use crate::config::Config;
use crate::db::{Db, DbConnection};
use crate::domain::ServerClock;
use crate::ops::{Actor, OpError};

/// How many batches of old events one flush round deletes at most (each
/// [`crate::ops::audit::PRUNE_BATCH`] events): 50,000 every 2 s outruns
/// any host's rate of new events.
pub const PRUNE_BATCHES: usize = 25;
/// How long one flush round may spend pruning before it leaves the rest
/// to the next: a tenth of [`crate::auth::usage::FLUSH_EVERY`]. The first
/// batch always runs (2,000 events every 2 s still outruns any host), so
/// a backlog (the first start after an upgrade, or a shorter retention)
/// is worked off in the background at a tenth of the machine, not half
/// of it while every request waits for a core.
pub const PRUNE_BUDGET: std::time::Duration = std::time::Duration::from_millis(200);
/// Tokens the policy's housekeeping reads a transaction, per rule and scope.
pub const POLICY_BATCH: i64 = 200;
/// How often, and how long each time, a stopping server's last write waits
/// for token rows another transaction holds (5 s in all at most; the whole
/// last write, waits included, ends within [`crate::db::WORK_DEADLINE`]).
const HELD_TRIES: usize = 50;
const HELD_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// What a round of writing counted use did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrote {
    /// Nothing was counted: no statement was sent.
    Nothing,
    /// The counts were written (or handed back for the next round).
    Counted,
}

/// What every handler shares: the store, the clock, the settings, the
/// password workers and the cache of checked tokens.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub clock: ServerClock,
    pub config: Arc<Config>,
    pub passwords: PasswordWorkers,
    pub tokens: Arc<TokenCache>,
    /// Every account's user name, for the account search.
    pub account_names: Arc<crate::ops::account_names::AccountNames>,
    /// Each owner's token names and descriptions, for the tokens page's
    /// search.
    pub token_names: Arc<crate::ops::token_names::TokenNames>,
    /// Answers built in memory in one piece (a full `api_token_list`): as
    /// many at once as there are cores, so that many large lists at once
    /// queue instead of each holding its rows and its answer.
    pub large_answers: Arc<tokio::sync::Semaphore>,
    /// Streamed `api_token_list`s, one at a time per account: however
    /// many an account asks for at once, it holds one list's pieces.
    pub streamed_lists: Arc<crate::auth::one_at_a_time::OneAtATime>,
    /// Signs the cookies that are not the session's (the sign-in form's
    /// CSRF token, the known-device cookie); derived from the session key.
    pub cookie_key: actix_web::cookie::Key,
    /// Seals TOTP secrets at rest.
    pub secrets: crate::auth::two_factor::SecretBox,
    /// Token use counted since the last batch was written.
    pub usage: Arc<crate::auth::usage::Usage>,
    /// Refused API calls counted since the last batch was written.
    pub refusals: Arc<crate::auth::refusals::Refusals>,
    /// Rounds of the expiry-notice checker run so far.
    pub notice_rounds: Arc<crate::notices::Rounds>,
    /// What the metrics listener serves.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Introspections this minute, by the caller's token.
    pub introspections: Arc<crate::auth::per_minute::PerMinute<i64>>,
    /// Leaked-token reports this minute, by address and in all.
    pub leak_reports: Arc<crate::auth::leak_limits::LeakLimits>,
    /// When the policy's housekeeping last ran (Unix time).
    pub policy_round: Arc<std::sync::atomic::AtomicI64>,
    /// Held while counted use is written: the stopping server's last write
    /// comes after a round under way, not beside it (beside it, it would
    /// find that round's rows held and leave their counts in memory).
    pub writing_counts: Arc<tokio::sync::Mutex<()>>,
    /// This server as a WebAuthn relying party (`None`: no passkeys).
    pub passkeys: Option<Arc<crate::auth::passkeys::RelyingParty>>,
    /// Seals the state of a passwordless sign-in into its cookie.
    pub passkey_box: crate::auth::two_factor::SecretBox,
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        let passwords = PasswordWorkers::start(config.password_concurrency, config.password_queue);
        let cookie_key = actix_web::cookie::Key::derive_from(&config.session_key);
        let secrets = crate::auth::two_factor::SecretBox::derive(&config.session_key, "totp");
        let passkey_box =
            crate::auth::two_factor::SecretBox::derive(&config.session_key, "passkey");
        let passkeys =
            crate::auth::passkeys::RelyingParty::new(config.public_url.as_deref()).map(Arc::new);
        Self {
            passkeys,
            passkey_box,
            usage: Arc::default(),
            refusals: Arc::default(),
            notice_rounds: Arc::default(),
            introspections: Arc::new(crate::auth::per_minute::PerMinute::new(10_000)),
            leak_reports: Arc::default(),
            policy_round: Arc::default(),
            writing_counts: Arc::default(),
            metrics: db.metrics().clone(),
            cookie_key,
            secrets,
            db,
            clock: ServerClock::new(config.time_zone),
            config: Arc::new(config),
            passwords,
            tokens: Arc::new(TokenCache::default()),
            account_names: Arc::default(),
            token_names: Arc::default(),
            large_answers: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            streamed_lists: Arc::default(),
        }
    }
}

impl AppState {
    /// Runs a read-only operation as `actor`, off the async threads (see
    /// [`Db::read`]).
    pub async fn read_as<T, F>(&self, actor: &Actor, op: F) -> Result<T, OpError>
    where
        F: Fn(&mut DbConnection, &Actor) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        let actor = actor.clone();
        self.db.read(move |conn| op(conn, &actor)).await
    }

    /// Runs an operation that changes the store as `actor`, in one
    /// transaction, off the async threads (see [`Db::write`]).
    pub async fn write_as<T, F>(&self, actor: &Actor, op: F) -> Result<T, OpError>
    where
        F: FnOnce(&mut DbConnection, &Actor) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        let actor = actor.clone();
        self.db.write(move |conn| op(conn, &actor)).await
    }
}

impl AppState {
    /// The metrics as Prometheus scrapes them, with the gauges that are read
    /// rather than counted set now.
    pub fn scrape(&self) -> String {
        let live = self.db.changes().current().is_some();
        self.metrics.change_feed_live.set(i64::from(live));
        self.metrics
            .password_queue_depth
            .set(self.passwords.depth() as i64);
        let (pool, down) = self.db.pool_state();
        for (state, n) in [("in_use", pool.in_use), ("idle", pool.idle)] {
            self.metrics
                .db_connections
                .get_or_create(&crate::metrics::StateLabels { state })
                .set(i64::from(n));
        }
        self.metrics.db_unavailable.set(i64::from(down));
        for (kind, n) in [
            ("uses", self.usage.pending()),
            ("refusals", self.refusals.pending()),
        ] {
            self.metrics
                .flush_pending
                .get_or_create(&crate::metrics::KindLabels { kind })
                .set(n as i64);
        }
        self.metrics.encode()
    }

    /// Writes what is counted in memory (token use, refused calls), records
    /// tokens used from new addresses, and prunes old audit events; every
    /// [`crate::auth::usage::FLUSH_EVERY`], and once more at shutdown.
    /// Nothing counted is lost to a failed write: the batch is put back (its
    /// transaction wrote nothing), and a write whose connection died is
    /// tried again on another.
    pub async fn flush_usage(&self) -> Result<(), OpError> {
        let keep = self.config.audit_retention.as_secs() as i64;
        let started = std::time::Instant::now();
        let written = self.write_counted().await;
        // An idle round is not a flush: it wrote nothing.
        if !matches!(written, Ok(Wrote::Nothing)) {
            self.metrics.flushed(started.elapsed().as_secs_f64());
        }
        written?;
        self.prune_audit(keep).await?;
        // Root's policy's housekeeping, once a minute at most.
        let now = self.clock.now();
        let last = self.policy_round.load(std::sync::atomic::Ordering::Relaxed);
        if now - last >= 60
            && self
                .policy_round
                .compare_exchange(
                    last,
                    now,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_ok()
        {
            self.enforce_policies_now().await?;
        }
        Ok(())
    }

    /// Writes what was counted in memory and nothing else (no pruning, no
    /// policy round): a stopping server's last write, ended within
    /// [`crate::db::WORK_DEADLINE`] whatever it waits for (a round under
    /// way, the database), so a service manager's stop timeout covers it.
    /// There is no next round, so token rows another transaction holds
    /// (another instance writing its own counts, an edit) are waited for,
    /// [`HELD_TRIES`] times [`HELD_WAIT`] at most.
    pub async fn write_counted_use(&self) -> Result<(), OpError> {
        actix_web::rt::time::timeout(crate::db::WORK_DEADLINE, self.write_every_count())
            .await
            .unwrap_or_else(|_| {
                Err(OpError::Internal(anyhow::anyhow!(
                    "the last write of counted use did not end within {} s",
                    crate::db::WORK_DEADLINE.as_secs()
                )))
            })
    }

    async fn write_every_count(&self) -> Result<(), OpError> {
        for _ in 0..HELD_TRIES {
            self.write_counted().await?;
            if self.usage.pending() == 0 {
                return Ok(());
            }
            tracing::info!(
                tokens = self.usage.pending(),
                "token use held by another transaction; trying again before stopping"
            );
            actix_web::rt::time::sleep(HELD_WAIT).await;
        }
        self.write_counted().await.map(|_| ())
    }

    /// Writes the token use and refused calls counted in memory, in one
    /// transaction. What is not written is counted again, by how the write
    /// really ended: a write past the deadline goes on and may still
    /// commit, so it is not tried again and its counts are not handed back
    /// unless it fails (handed back at once, they would be written twice).
    async fn write_counted(&self) -> Result<Wrote, OpError> {
        let _turn = self.writing_counts.lock().await;
        let mut tries = 0;
        loop {
            let batch = std::sync::Arc::new((self.usage.take(), self.refusals.take()));
            // Nothing counted, nothing written: an idle server takes no
            // write lock and no row locks every round.
            if batch.0.is_empty() && batch.1.is_empty() {
                return Ok(Wrote::Nothing);
            }
            let writing = batch.clone();
            let (usage, refusals) = (self.usage.clone(), self.refusals.clone());
            let taken = batch.clone();
            let written = self
                .db
                .write_bookkeeping_settled(
                    move |conn| {
                        let held = writing.0.write(conn)?.held;
                        writing.1.write(conn)?;
                        Ok::<_, OpError>(held)
                    },
                    move |outcome| {
                        match outcome {
                            // Held by another transaction: the next round.
                            Ok(held) => usage.put_back(held.clone()),
                            // Its transaction wrote nothing.
                            Err(_) => {
                                usage.put_back(taken.0.clone());
                                refusals.put_back(taken.1.clone());
                            }
                        }
                    },
                )
                .await;
            let e = match written {
                Ok(_) => return Ok(Wrote::Counted),
                Err(e) => e,
            };
            // Still held by the work: it has not ended (the deadline
            // passed) and settles the counts itself when it does.
            let ended = std::sync::Arc::strong_count(&batch) == 1;
            tries += 1;
            // Each try takes another connection, and a dead one leaves the
            // pool: the pool's size and one more reach a live one.
            if !ended || !e.is_unavailable() || tries > self.config.db_pool_size as usize + 1 {
                return Err(e);
            }
            tracing::warn!(error = %e, "writing counted use failed; trying again");
        }
    }

    /// Disables tokens unused and removes tokens expired past what root's
    /// token policy allows, a batch a transaction, at most
    /// [`PRUNE_BATCHES`] batches.
    pub async fn enforce_policies_now(&self) -> Result<(usize, usize), OpError> {
        let (mut disabled, mut removed) = (0, 0);
        for _ in 0..PRUNE_BATCHES {
            let now = self.clock.now();
            // A write like any other a token check reads: announced, so this
            // instance's cached checks go stale at once (once a minute at
            // most when there was nothing to do).
            let (d, r) = self
                .db
                .write(move |conn| crate::ops::policies::enforce(conn, now, POLICY_BATCH))
                .await?;
            disabled += d;
            removed += r;
            if d + r == 0 {
                break;
            }
        }
        if disabled + removed > 0 {
            tracing::info!(disabled, removed, "token policy applied");
        }
        Ok((disabled, removed))
    }

    /// One round of pruning events older than `keep` seconds (see
    /// [`prune_round`]), within [`PRUNE_BUDGET`].
    pub async fn prune_audit(&self, keep: i64) -> Result<usize, OpError> {
        prune_round(&self.db, &self.clock, keep, PRUNE_BUDGET).await
    }
}

/// Deletes events older than `keep` seconds, a batch per transaction,
/// until none is left, [`PRUNE_BATCHES`] batches ran, or `budget` is spent
/// (the first batch always runs): a backlog is worked off over the
/// following rounds, and writes by requests get the lock between batches.
/// A round with nothing old asks once, by a read, and takes no write lock.
/// Returns how many events it deleted.
pub async fn prune_round(
    db: &Db,
    clock: &ServerClock,
    keep: i64,
    budget: std::time::Duration,
) -> Result<usize, OpError> {
    let started = std::time::Instant::now();
    let mut deleted = 0;
    let now = clock.now();
    if !db
        .read(move |conn| crate::ops::audit::any_to_prune(conn, now, keep))
        .await?
    {
        return Ok(0);
    }
    for _ in 0..PRUNE_BATCHES {
        let now = clock.now();
        let batch = db
            .write_bookkeeping(move |conn| crate::ops::audit::prune(conn, now, keep))
            .await?;
        deleted += batch;
        if (batch as i64) < crate::ops::audit::PRUNE_BATCH || started.elapsed() >= budget {
            break;
        }
    }
    Ok(deleted)
}
