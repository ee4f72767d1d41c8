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
use crate::ops::audit::{self, Cursor, EventQuery};
use crate::state::AppState;

use super::form::Query;
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
    /// `AT.ID` of the last event shown: the events older than it.
    before: String,
    /// `AT.ID` of the first event shown: the events newer than it.
    after: String,
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
            cursor: match (Cursor::parse(&self.before), Cursor::parse(&self.after)) {
                (Some((at, id)), _) => Some(Cursor::Older { at, id }),
                (None, Some((at, id))) => Some(Cursor::Newer { at, id }),
                (None, None) => None,
            },
            per_page: PER_PAGE,
        }
    }

    /// This view from just past an event (`edge`: `before` or `after`).
    fn url_from(&self, edge: &str, at: i64, id: i64) -> String {
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
        pairs.push((edge, Cursor::text(at, id)));
        format!(
            "/activity?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }
}

/// Events on a page.
const PER_PAGE: i64 = 50;

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
    /// Links to the next newer and older pages, when there are any.
    pub newer: Option<String>,
    pub older: Option<String>,
    /// Matching events, counted up to a cap ("200+").
    pub total: String,
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
            audit::page(conn, actor, &query)
        })
        .await?;
    let edge = |e: Option<&audit::Event>, name: &str| e.map(|e| params.url_from(name, e.at, e.id));
    let newer = listed
        .newer
        .then(|| edge(listed.events.first(), "after"))
        .flatten();
    let older = listed
        .older
        .then(|| edge(listed.events.last(), "before"))
        .flatten();
    let total = format!("{}{}", listed.total, if listed.more { "+" } else { "" });
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
        newer,
        older,
        total,
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
