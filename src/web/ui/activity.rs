//! The Activity page (`/activity`): the audit trail, filtered by account,
//! token, kind of event and time, newest first, a page at a time; htmx
//! swaps the table as the filters change, like the tokens table.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;

use crate::domain::AuditEvent;
use crate::domain::ServerClock;
use crate::ops::audit::{self, EventQuery};
use crate::state::AppState;

use super::form::{lenient, Query};
use super::{render, wants_partial, Chrome, SignedIn, UiError};

/// The page's query string.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct ActivityParams {
    account: String,
    token: String,
    event: String,
    /// `YYYY-MM-DD`, server time: from the start of that day.
    since: String,
    /// `YYYY-MM-DD`, server time: to the end of that day.
    until: String,
    #[serde(deserialize_with = "lenient")]
    page: Option<i64>,
}

impl ActivityParams {
    fn query(&self, clock: &ServerClock) -> EventQuery {
        let text = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.chars().take(64).collect::<String>())
        };
        let day = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
        EventQuery {
            account: text(&self.account),
            token: text(&self.token),
            event: self.event.parse::<AuditEvent>().ok(),
            since: day(&self.since).map(|d| clock.end_of_day(d) - 86_399),
            until: day(&self.until).map(|d| clock.end_of_day(d) + 1),
            page: self.page.unwrap_or(1).max(1),
            per_page: 50,
        }
    }

    /// This view's URL on another page.
    pub fn page_url(&self, page: i64) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (k, v) in [
            ("account", &self.account),
            ("token", &self.token),
            ("event", &self.event),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !v.is_empty() {
                pairs.push((k, v.clone()));
            }
        }
        pairs.push(("page", page.to_string()));
        format!(
            "/activity?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }
}

pub struct EventView {
    pub at: String,
    pub kind: &'static str,
    pub event: String,
    pub actor: String,
    pub token: String,
    pub target: String,
    pub ip: String,
    pub request_id: String,
    pub detail: String,
    pub count: i64,
}

#[derive(Template)]
#[template(path = "activity/table.html")]
pub struct ActivityTable {
    pub events: Vec<EventView>,
    pub params: ActivityParams,
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    pub zone: String,
}

#[derive(Template)]
#[template(path = "activity/page.html")]
pub struct ActivityPage {
    pub chrome: Chrome,
    pub table: ActivityTable,
    pub kinds: Vec<(&'static str, &'static str)>,
}

pub async fn page(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Query(params): Query<ActivityParams>,
) -> Result<HttpResponse, UiError> {
    let query = params.query(&state.clock);
    let listed = state
        .read_as(&user.actor, move |conn, actor| {
            audit::list(conn, actor, &query)
        })
        .await?;
    let pages = listed.pages();
    let table = ActivityTable {
        events: listed
            .events
            .into_iter()
            .map(|e| EventView {
                at: state.clock.format(e.at),
                kind: AuditEvent::choices()
                    .find(|(k, _)| *k == e.event)
                    .map_or("Event", |(_, label)| label),
                event: e.event,
                actor: e.actor.unwrap_or_default(),
                token: e.token.unwrap_or_default(),
                target: e.target.unwrap_or_default(),
                ip: e.ip.unwrap_or_default(),
                request_id: e.request_id.unwrap_or_default(),
                detail: e.detail,
                count: e.count,
            })
            .collect(),
        params,
        page: listed.page,
        pages,
        total: listed.total,
        zone: state.clock.zone_name(),
    };
    if wants_partial() {
        return render(StatusCode::OK, &table);
    }
    render(
        StatusCode::OK,
        &ActivityPage {
            chrome: Chrome::for_user(&user, &session),
            table,
            kinds: AuditEvent::choices().collect(),
        },
    )
}
