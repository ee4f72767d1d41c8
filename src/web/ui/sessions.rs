//! The signed-in account's sessions: where and when each is signed in,
//! with Sign out per session and Sign out everywhere else.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::auth::session_store::{self, SessionInfo, SESSION_ID};
use crate::domain::AuditEvent;
use crate::ops::audit;
use crate::ops::OpError;
use crate::state::AppState;

use super::form::Form;
use super::{flash, redirect, render, Chrome, SignedIn, UiError};

pub struct SessionView {
    pub id: String,
    pub started: String,
    pub last_seen: String,
    pub address: String,
    pub browser: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "account/sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    sessions: Vec<SessionView>,
    zone: String,
    /// "8 hours", from the settings.
    idle: String,
    /// "a day", "36 hours", from `WHM_TOKENS_SESSION_MAX_HOURS`.
    lifetime: String,
}

/// A number of hours as people say it: "an hour", "8 hours", "a day",
/// "2 days", "36 hours".
pub fn hours_in_words(hours: u64) -> String {
    match hours {
        1 => "an hour".to_owned(),
        24 => "a day".to_owned(),
        h if h % 24 == 0 => format!("{} days", h / 24),
        h => format!("{h} hours"),
    }
}

/// A short name for a browser from its User-Agent: the browser and the
/// system, or the start of the string when neither is known.
pub fn browser_label(agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .into_iter()
    .find(|(mark, _)| agent.contains(mark))
    .map(|(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(mark, _)| agent.contains(mark))
    .map(|(_, name)| name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => s.to_owned(),
        (None, None) if agent.is_empty() => "Unknown".to_owned(),
        (None, None) => agent.chars().take(40).collect(),
    }
}

fn this_session_id(session: &Session) -> String {
    session
        .get::<String>(SESSION_ID)
        .ok()
        .flatten()
        .unwrap_or_default()
}

pub async fn page(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let account_id = user.actor.account.id;
    let max_age = state.config.session_max_age;
    let listed: Vec<SessionInfo> = state
        .db
        .read(move |conn| session_store::of_account(conn, account_id, max_age))
        .await?;
    let mine = this_session_id(&session);
    let sessions = listed
        .into_iter()
        .map(|s| SessionView {
            current: s.id == mine,
            started: state.clock.format(s.created_at),
            last_seen: state.clock.format(s.last_seen),
            browser: browser_label(&s.agent),
            address: if s.address.is_empty() {
                "Unknown".to_owned()
            } else {
                s.address
            },
            id: s.id,
        })
        .collect();
    render(
        StatusCode::OK,
        &SessionsPage {
            chrome: Chrome::for_user(&user, &session),
            sessions,
            zone: state.clock.zone_name(),
            idle: hours_in_words(session_store::IDLE_HOURS as u64),
            lifetime: hours_in_words(max_age.as_secs() / 3600),
        },
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EndForm {
    session: String,
}

/// Signs out one other session of this account.
pub async fn end_one(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<EndForm>,
) -> Result<HttpResponse, UiError> {
    let mine = this_session_id(&session);
    if form.session == mine {
        return Err(UiError::Refused(
            "That is this browser: use Sign out in the top bar.".to_owned(),
        ));
    }
    let ids = vec![form.session];
    let ended = end_and_record(&state, &user, Some(ids), mine).await?;
    if ended == 0 {
        return Err(OpError::Invalid("That session has already ended.".to_owned()).into());
    }
    flash(&session, "That session was signed out.");
    Ok(redirect("/account/sessions"))
}

/// Signs out every session of this account but this browser's.
pub async fn end_others(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let mine = this_session_id(&session);
    let ended = end_and_record(&state, &user, None, mine).await?;
    flash(
        &session,
        &format!("Signed out everywhere else ({ended} session(s))."),
    );
    Ok(redirect("/account/sessions"))
}

/// Ends sessions of the signed-in account (those of `ids`, or all but
/// `keep`) and records it in the audit trail, in one transaction.
async fn end_and_record(
    state: &AppState,
    user: &SignedIn,
    ids: Option<Vec<String>>,
    keep: String,
) -> Result<usize, UiError> {
    let actor = user.actor.clone();
    Ok(state
        .db
        .write_bookkeeping(move |conn| {
            let ended = session_store::end(conn, actor.id(), ids.as_deref(), &keep)?;
            if ended > 0 {
                audit::record(
                    conn,
                    &actor,
                    AuditEvent::SessionEnded,
                    audit::About::account(&actor.account).detail(format!(
                        "{ended} session(s) signed out from the Sessions page"
                    )),
                )?;
            }
            Ok::<_, OpError>(ended)
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::browser_label;

    #[test]
    fn hours_read_as_people_say_them() {
        use super::hours_in_words;
        for (hours, words) in [
            (1, "an hour"),
            (8, "8 hours"),
            (24, "a day"),
            (36, "36 hours"),
            (48, "2 days"),
        ] {
            assert_eq!(hours_in_words(hours), words);
        }
    }

    #[test]
    fn browsers_get_short_names() {
        assert_eq!(
            browser_label("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"),
            "Chrome on Linux"
        );
        assert_eq!(
            browser_label("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile/15E148 Safari/604.1"),
            "Safari on iPhone"
        );
        assert_eq!(browser_label(""), "Unknown");
        assert_eq!(browser_label("reqwest"), "reqwest");
    }
}
