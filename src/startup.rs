//! Builds the application from settings: the store, the first root login,
//! and the HTTP server on a bound listener (port 0 in tests).

use std::net::TcpListener;

use actix_session::config::{BrowserSession, TtlExtensionPolicy};
use actix_session::SessionMiddleware;
use actix_web::cookie::{time::Duration, Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::auth::cookies::CookieNames;
use crate::auth::{csrf, password, session_store::DbSessionStore};
use crate::config::Config;
use crate::db::{self, Db};
use crate::domain::Password;
use crate::ops;
use crate::state::AppState;

/// Opens the store, migrates it, and makes `root` on an empty store.
/// Returns the store and, when root was just created with a generated
/// password, that password (to be shown once).
pub async fn prepare(config: &Config) -> anyhow::Result<(Db, Option<String>)> {
    let db = match &config.database_direct_url {
        Some(direct) => {
            Db::connect_behind_pooler(&config.database_url, direct, config.db_pool_size)?
        }
        None => Db::connect(&config.database_url, config.db_pool_size)?,
    };
    let root_password = config.root_password.clone();
    let migrator = db.clone();
    let created = actix_web::web::block(move || -> anyhow::Result<Option<String>> {
        let applied = migrator.migrate()?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        // A small store's statistics now, before anything else touches it
        // (the first ANALYZE changes the schema); a big one's in the
        // background once the server answers (see Application::build).
        let mut conn = migrator.get()?;
        if Db::statistics_are_quick(&mut conn)? {
            Db::refresh_statistics(&mut conn)?;
        }
        drop(conn);
        let (password, generated) = match root_password {
            Some(p) => (
                Password::parse(&p)
                    .map_err(|e| anyhow::anyhow!("WHM_TOKENS_ROOT_PASSWORD: {e}"))?,
                false,
            ),
            None => (password::generate(), true),
        };
        let mut conn = migrator.get()?;
        let exists =
            ops::accounts::find_for_sign_in(&mut conn, &crate::domain::Username::root())?.is_some();
        if exists {
            return Ok(None);
        }
        let hash = password::hash(&password)?;
        let now = chrono::Utc::now().timestamp();
        let created = db::transaction(&mut conn, |c| ops::accounts::ensure_root(c, &hash, now))?;
        Ok((created && generated).then(|| password.expose().to_owned()))
    })
    .await??;
    Ok((db, created))
}

/// How long a stopping server waits for the expiry notice under way.
pub const NOTICE_AT_STOP: std::time::Duration = std::time::Duration::from_secs(35);

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    /// The metrics listener, when `WHM_TOKENS_METRICS_LISTEN` is set.
    metrics: Option<(u16, Server)>,
    /// The expiry-notice checker, when a channel is set.
    notices: Option<crate::notices::NoticeTask>,
}

impl Application {
    pub fn build(config: Config, db: Db) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| anyhow::anyhow!("could not listen on {}: {e}", config.listen))?;
        let port = listener.local_addr()?.port();
        let workers = config.workers;
        let blocking_threads = config.db_pool_size as usize + 2;
        let key = Key::from(&config.session_key);
        db.follow_changes();
        let state = AppState::new(db.serving(), config);
        // Token use is written in batches, by one task per instance.
        let flusher = state.clone();
        actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(crate::auth::usage::FLUSH_EVERY);
            loop {
                every.tick().await;
                if let Err(e) = flusher.flush_usage().await {
                    tracing::warn!(error = %e, "token use of the last few seconds could not be written");
                }
            }
        });
        // SQLite's planner statistics follow the store as it grows: hourly,
        // and at once (in the background: the server answers meanwhile) for
        // a big store that never had any.
        let analyst = state.db.clone();
        actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(db::STATISTICS_EVERY);
            // The first tick is at once: taken only for a store that has
            // never had statistics (a big one, which `prepare` left).
            every.tick().await;
            let missing = analyst
                .read(|conn| Db::has_statistics(conn).map(|has| !has))
                .await
                .unwrap_or(false);
            if !missing {
                every.tick().await;
            }
            loop {
                let started = std::time::Instant::now();
                match analyst.refresh_statistics_now().await {
                    Ok(()) => tracing::debug!(
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "planner statistics refreshed"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "the store's statistics could not be refreshed")
                    }
                }
                every.tick().await;
            }
        });
        // And its search index's segments are merged: at once (in the
        // background), and every few minutes.
        if state.db.backend() == db::Backend::Sqlite {
            let merger = state.db.clone();
            actix_web::rt::spawn(async move {
                let mut every = actix_web::rt::time::interval(db::SEARCH_MERGE_EVERY);
                loop {
                    every.tick().await;
                    merger.merge_search_index_logged().await;
                }
            });
        }
        let notices = crate::notices::spawn(crate::notices::Notifier {
            db: state.db.clone(),
            clock: state.clock,
            settings: state.config.notices.clone(),
            public_url: state.config.public_url.clone(),
            rounds: state.notice_rounds.clone(),
        });
        let kept = state.clone();
        let secure = state.config.secure_cookies;
        let cookie_names = CookieNames::new(secure);
        let request_timeout = state.config.request_timeout;
        let shutdown_timeout = state.config.shutdown_timeout;
        let max_age = state.config.session_max_age;
        let mut server = HttpServer::new(move || {
            let store = DbSessionStore::new(state.db.clone(), max_age);
            let sessions = SessionMiddleware::builder(store, key.clone())
                .cookie_name(cookie_names.session().to_owned())
                .cookie_secure(secure)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_path("/".to_owned())
                .session_lifecycle(
                    BrowserSession::default()
                        .state_ttl(Duration::hours(crate::auth::session_store::IDLE_HOURS))
                        // Idle time counts from the last request, not the
                        // last change; the store writes it at most once a
                        // minute.
                        .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
                )
                .build();
            // The health check, assets and the token-authenticated API carry
            // no cookies: only the page pays for sessions and CSRF.
            App::new()
                .app_data(web::Data::new(state.clone()))
                .app_data(state.cookie_key.clone())
                .app_data(cookie_names)
                .app_data(crate::web::deadline::BodyTimeout(request_timeout))
                .configure(crate::web::open_routes)
                .service(
                    web::scope("")
                        .wrap(from_fn(csrf::require_token))
                        .wrap(sessions)
                        .configure(crate::web::ui::routes),
                )
                .wrap(from_fn(crate::web::request::observe))
        })
        // Blocking work is database work: more threads than connections
        // would only wait, each holding memory.
        .worker_max_blocking_threads(blocking_threads)
        // The head in this time (the body: see `deadline`); a client that
        // hangs up gets a second to do it cleanly.
        .client_request_timeout(request_timeout)
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        // On SIGTERM or SIGINT: stop accepting, let requests under way
        // finish for this long, then `run_until_stopped` writes what was
        // counted in memory.
        .shutdown_timeout(shutdown_timeout.as_secs())
        .listen(listener)?;
        if let Some(n) = workers {
            server = server.workers(n.max(1));
        }
        let metrics = match kept.config.metrics_listen {
            Some(addr) => {
                kept.metrics.turn_on();
                Some(metrics_server(addr, kept.clone())?)
            }
            None => None,
        };
        Ok(Self {
            port,
            server: server.run(),
            state: kept,
            metrics,
            notices,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the server's handlers share: tests use it to write what is
    /// counted in memory at once, or to see the notice checker's rounds.
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The port `/metrics` is served on, if any.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// Serves until stopped; then stops the notice checker (giving back a
    /// claim it holds) and writes the token use counted last.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let served = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        // What follows the requests is bounded too, so that a service
        // manager's stop timeout can cover the whole of it (the unit's:
        // requests + 35 s + the last write's 15 s): the notice under way
        // gets as long as one may take (a mail's 30 s, a webhook's three
        // tries), and only what was counted is written, no housekeeping.
        if let Some(notices) = self.notices {
            notices
                .stop(self.state.config.shutdown_timeout.min(NOTICE_AT_STOP))
                .await;
        }
        if let Err(e) = self.state.write_counted_use().await {
            tracing::warn!(error = %e, "the last token use could not be written");
        }
        served
    }
}

/// The metrics listener: `GET /metrics` and nothing else, one worker, on
/// its own address (a private one: it is not authenticated).
fn metrics_server(addr: std::net::SocketAddr, state: AppState) -> anyhow::Result<(u16, Server)> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("could not listen for metrics on {addr}: {e}"))?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        let state = state.clone();
        App::new().route(
            "/metrics",
            web::get().to(move || {
                let state = state.clone();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type(prometheus_client::encoding::prometheus_text::CONTENT_TYPE)
                        .body(state.scrape())
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((port, server))
}
