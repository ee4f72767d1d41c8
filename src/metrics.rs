//! Prometheus metrics, served on a listener of their own
//! (`WHM_TOKENS_METRICS_LISTEN`), never on the public port. Built on
//! `prometheus-client` (the Prometheus project's own Rust client): typed
//! label sets, no global registry, and its text encoder.
//!
//! Every label takes its values from a fixed set (a route's pattern, never
//! its path; a function the API has, else `unknown`; the kinds below), so
//! no series grows with users, tokens or addresses. A leaf: it imports
//! nothing else of the server, so any layer may count into it.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route's pattern (`/tokens/{name}/edit`), or `other`.
    pub route: Cow<'static, str>,
    pub method: &'static str,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// A function of the API's table, or `unknown`.
    pub function: &'static str,
    /// `ok`, `refused` (`result: 0`) or `error` (an HTTP error status).
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `forward_auth`, `introspection` or `leak_report`.
    pub front: &'static str,
    /// Forward auth: `allowed`, `no_credential`, `refused`, `error`;
    /// introspection: `active`, `inactive`, `refused`, `throttled`;
    /// leak reports: `received`, `throttled`, `too_large`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// `in_use` or `idle`.
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NoticeLabels {
    /// `email` or `webhook`.
    pub channel: &'static str,
    /// `sent` or `failed`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `uses` (tokens with uses not yet written) or `refusals` (rows).
    pub kind: &'static str,
}

/// Why an API call was refused before its function ran, or for a
/// privilege: the fixed set the refusals counter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalReason {
    /// No valid `Authorization: whm` header, or a secret of the wrong shape.
    Malformed,
    UnknownToken,
    WrongUser,
    Expired,
    Disabled,
    Address,
    Suspended,
    Privilege,
    /// Blocked by root's token policy.
    Policy,
    /// Forward auth: no rule allows the original request (or it is
    /// unknown, or could be read two ways).
    NoRule,
}

impl RefusalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownToken => "unknown_token",
            Self::WrongUser => "wrong_user",
            Self::Expired => "expired",
            Self::Disabled => "disabled",
            Self::Address => "address",
            Self::Suspended => "suspended",
            Self::Privilege => "privilege",
            Self::NoRule => "no_rule",
            Self::Policy => "policy",
        }
    }
}

/// How a sign-in ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInOutcome {
    Ok,
    WrongPassword,
    Throttled,
    /// The password workers were full: refused at once with 503.
    Busy,
    SecondFactorAsked,
    SecondFactorFailed,
}

impl SignInOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::WrongPassword => "wrong_password",
            Self::Throttled => "throttled",
            Self::Busy => "busy",
            Self::SecondFactorAsked => "second_factor_asked",
            Self::SecondFactorFailed => "second_factor_failed",
        }
    }
}

fn seconds_buckets() -> Histogram {
    // 100 µs to about 3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: HistogramFamily<HttpLabels>,
    pub api_calls: Family<ApiLabels, Counter>,
    pub api_refusals: Family<ReasonLabels, Counter>,
    pub decisions: Family<DecisionLabels, Counter>,
    pub sign_ins: Family<OutcomeLabels, Counter>,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    /// Set at each scrape by whoever knows (see [`Metrics::set_gauges`]).
    pub change_feed_live: Gauge,
    pub password_queue_depth: Gauge,
    pub db_connections: Family<StateLabels, Gauge>,
    pub db_checkout: Histogram,
    pub db_checkout_timeouts: Counter,
    pub db_unavailable: Gauge,
    pub notices: Family<NoticeLabels, Counter>,
    pub flush_duration: Histogram,
    pub flush_pending: Family<KindLabels, Gauge>,
    process_rss: Gauge,
    process_open_fds: Gauge,
    process_cpu: Counter<f64, std::sync::atomic::AtomicU64>,
    cpu_seen: Mutex<f64>,
    pub scrapes: AtomicU64,
    /// Off (the default) until a metrics listener is set: nothing is
    /// counted, so metrics nobody scrapes cost the hot path nothing.
    on: std::sync::atomic::AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(seconds_buckets);
        let api_calls = Family::<ApiLabels, Counter>::default();
        let api_refusals = Family::<ReasonLabels, Counter>::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        let sign_ins = Family::<OutcomeLabels, Counter>::default();
        let (cache_hits, cache_misses) = (Counter::default(), Counter::default());
        let (change_feed_live, password_queue_depth) = (Gauge::default(), Gauge::default());
        let db_connections = Family::<StateLabels, Gauge>::default();
        let db_checkout = seconds_buckets();
        let db_checkout_timeouts = Counter::default();
        let db_unavailable = Gauge::default();
        let notices = Family::<NoticeLabels, Counter>::default();
        let flush_duration = seconds_buckets();
        let flush_pending = Family::<KindLabels, Gauge>::default();
        let (process_rss, process_open_fds) = (Gauge::default(), Gauge::default());
        let process_cpu = Counter::<f64, AtomicU64>::default();
        registry.register(
            "whm_tokens_build",
            "The version running",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register(
            "whm_tokens_http_requests",
            "HTTP requests answered, by route pattern, method and status class",
            http_requests.clone(),
        );
        registry.register(
            "whm_tokens_http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern, method and status class",
            http_duration.clone(),
        );
        registry.register(
            "whm_tokens_api_calls",
            "WHM API calls by an authenticated token, by function and result",
            api_calls.clone(),
        );
        registry.register(
            "whm_tokens_api_refusals",
            "WHM API calls refused, by reason",
            api_refusals.clone(),
        );
        registry.register(
            "whm_tokens_decisions",
            "Answers of forward auth, introspection and leaked-token reports, by front and outcome",
            decisions.clone(),
        );
        registry.register(
            "whm_tokens_sign_ins",
            "Sign-ins on the page, by outcome",
            sign_ins.clone(),
        );
        registry.register(
            "whm_tokens_token_cache_hits",
            "Token checks answered from memory",
            cache_hits.clone(),
        );
        registry.register(
            "whm_tokens_token_cache_misses",
            "Token checks that read the store",
            cache_misses.clone(),
        );
        registry.register(
            "whm_tokens_change_feed_live",
            "1 when changes by other instances are seen (cached checks can be used), else 0",
            change_feed_live.clone(),
        );
        registry.register(
            "whm_tokens_password_queue_depth",
            "Password checks running or waiting",
            password_queue_depth.clone(),
        );
        registry.register(
            "whm_tokens_db_connections",
            "Database connections of this instance's pool, by state",
            db_connections.clone(),
        );
        registry.register(
            "whm_tokens_db_checkout_seconds",
            "Time to get a database connection from the pool",
            db_checkout.clone(),
        );
        registry.register(
            "whm_tokens_db_checkout_timeouts",
            "Requests that got no database connection in time",
            db_checkout_timeouts.clone(),
        );
        registry.register(
            "whm_tokens_db_unavailable",
            "1 while no database connection can be made, else 0",
            db_unavailable.clone(),
        );
        registry.register(
            "whm_tokens_expiry_notices",
            "Expiry notices, by channel and outcome (a failed one is tried again)",
            notices.clone(),
        );
        registry.register(
            "whm_tokens_flush_duration_seconds",
            "Time to write what was counted in memory (last use, refused calls), in rounds that had any",
            flush_duration.clone(),
        );
        registry.register(
            "whm_tokens_flush_pending",
            "What is counted in memory and not written yet, by kind",
            flush_pending.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            process_rss.clone(),
        );
        registry.register(
            "process_open_fds",
            "Number of open file descriptors",
            process_open_fds.clone(),
        );
        registry.register(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            process_cpu.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            api_calls,
            api_refusals,
            decisions,
            sign_ins,
            cache_hits,
            cache_misses,
            change_feed_live,
            password_queue_depth,
            db_connections,
            db_checkout,
            db_checkout_timeouts,
            db_unavailable,
            notices,
            flush_duration,
            flush_pending,
            process_rss,
            process_open_fds,
            process_cpu,
            cpu_seen: Mutex::new(0.0),
            scrapes: AtomicU64::new(0),
            on: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Starts counting (a metrics listener was set).
    pub fn turn_on(&self) {
        self.on.store(true, Ordering::Release);
    }

    /// Whether anything is counted.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Counts one HTTP answer.
    pub fn http(&self, route: Option<Cow<'static, str>>, method: &str, status: u16, seconds: f64) {
        if !self.is_on() {
            return;
        }
        let labels = HttpLabels {
            route: route.unwrap_or(Cow::Borrowed("other")),
            method: match method {
                "GET" => "GET",
                "HEAD" => "HEAD",
                "POST" => "POST",
                _ => "other",
            },
            status: match status {
                100..=199 => "1xx",
                200..=299 => "2xx",
                300..=399 => "3xx",
                400..=499 => "4xx",
                _ => "5xx",
            },
        };
        self.http_duration.get_or_create(&labels).observe(seconds);
        self.http_requests.get_or_create(&labels).inc();
    }

    /// Counts an expiry notice on `channel` (`email`, `webhook`).
    pub fn notice(&self, channel: &'static str, sent: bool) {
        if !self.is_on() {
            return;
        }
        self.notices
            .get_or_create(&NoticeLabels {
                channel,
                outcome: if sent { "sent" } else { "failed" },
            })
            .inc();
    }

    pub fn refused(&self, reason: RefusalReason) {
        if !self.is_on() {
            return;
        }
        self.api_refusals
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .inc();
    }

    pub fn sign_in(&self, outcome: SignInOutcome) {
        if !self.is_on() {
            return;
        }
        self.sign_ins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// Counts a token check answered from memory (`hit`) or the store.
    pub fn cache(&self, hit: bool) {
        if self.is_on() {
            if hit {
                self.cache_hits.inc();
            } else {
                self.cache_misses.inc();
            }
        }
    }

    /// Counts one connection checkout (the caller checks [`Metrics::is_on`]
    /// first, so that no clock is read when nothing is counted).
    pub fn checkout(&self, seconds: f64, got: bool) {
        self.db_checkout.observe(seconds);
        if !got {
            self.db_checkout_timeouts.inc();
        }
    }

    /// Counts one write of what was counted in memory.
    pub fn flushed(&self, seconds: f64) {
        if self.is_on() {
            self.flush_duration.observe(seconds);
        }
    }

    /// Counts one call by an authenticated token.
    pub fn api_call(&self, function: &'static str, result: &'static str) {
        if self.is_on() {
            self.api_calls
                .get_or_create(&ApiLabels { function, result })
                .inc();
        }
    }

    /// Counts one answer of forward auth, introspection or a leak report.
    pub fn decision(&self, front: &'static str, outcome: &'static str) {
        if self.is_on() {
            self.decisions
                .get_or_create(&DecisionLabels { front, outcome })
                .inc();
        }
    }

    /// The text Prometheus scrapes, with the process's own figures read
    /// now (Linux's `/proc`; elsewhere they stay 0).
    pub fn encode(&self) -> String {
        self.scrapes.fetch_add(1, Ordering::Relaxed);
        self.read_process();
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }

    fn read_process(&self) {
        let page = page_size();
        if let Some(rss_pages) = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<i64>().ok())
        {
            self.process_rss.set(rss_pages * page);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.process_open_fds.set(fds.count() as i64);
        }
        if let Some(cpu) = cpu_seconds() {
            let mut seen = self.cpu_seen.lock().unwrap_or_else(|p| p.into_inner());
            if cpu > *seen {
                self.process_cpu.inc_by(cpu - *seen);
                *seen = cpu;
            }
        }
    }
}

fn page_size() -> i64 {
    // SAFETY: sysconf reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size
    } else {
        4096
    }
}

/// User and system CPU time of this process, from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count from its end.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    // SAFETY: sysconf reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks > 0.0).then(|| (utime + stime) / ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_counted_until_turned_on() {
        let m = Metrics::new();
        m.http(Some("/tokens".into()), "GET", 200, 0.002);
        m.refused(RefusalReason::Expired);
        assert!(!m.encode().contains("whm_tokens_http_requests_total{"));
    }

    #[test]
    fn families_follow_prometheus_naming_and_labels_stay_in_their_sets() {
        let m = Metrics::new();
        m.turn_on();
        m.http(Some("/tokens/{name}/edit".into()), "GET", 200, 0.002);
        m.http(None, "PROPFIND", 404, 0.001);
        m.refused(RefusalReason::Expired);
        m.sign_in(SignInOutcome::WrongPassword);
        let text = m.encode();
        for line in [
            "whm_tokens_build_info{version=\"",
            "whm_tokens_http_requests_total{route=\"/tokens/{name}/edit\",method=\"GET\",status=\"2xx\"} 1",
            "whm_tokens_http_requests_total{route=\"other\",method=\"other\",status=\"4xx\"} 1",
            "whm_tokens_http_request_duration_seconds_bucket{",
            "whm_tokens_api_refusals_total{reason=\"expired\"} 1",
            "whm_tokens_sign_ins_total{outcome=\"wrong_password\"} 1",
            "# TYPE process_cpu_seconds_total counter",
            "process_resident_memory_bytes ",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(!text.contains("PROPFIND"));
    }
}
