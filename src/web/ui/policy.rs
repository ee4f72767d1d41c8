//! Root's token policy page (`/policy`): everyone's rules, or a reseller's
//! override (`?user=NAME`).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::domain::token_policy::{parse_days, parse_privileges, PolicyOverride, TokenPolicy};
use crate::domain::Username;
use crate::ops::policies::{self, Changes, Shown};
use crate::ops::OpError;
use crate::state::AppState;

use super::form::{FieldErrors, Form};
use super::{flash, redirect, render, Chrome, SignedIn, UiError};

pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub value: String,
    pub everyone: String,
}

#[derive(Template)]
#[template(path = "account/policy.html")]
struct PolicyPage {
    chrome: Chrome,
    /// "" for everyone's.
    user: String,
    resellers: Vec<String>,
    overridden: Vec<String>,
    fields: Vec<Field>,
    in_force: String,
    errors: FieldErrors,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct PolicyForm {
    user: String,
    max_lifetime_days: String,
    require_ip_for: String,
    disable_unused_days: String,
    delete_expired_days: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Which {
    user: String,
}

fn days(d: u32) -> String {
    d.to_string()
}

fn fields(
    everyone: &TokenPolicy,
    shown: Option<(&TokenPolicy, Option<&PolicyOverride>)>,
    form: Option<&PolicyForm>,
) -> Vec<Field> {
    // Everyone's page shows the rules; a reseller's shows its own (empty
    // where it keeps everyone's).
    let value = |own: Option<String>, everyone: String, typed: Option<&String>| {
        typed.cloned().unwrap_or_else(|| match shown {
            None => everyone,
            Some(_) => own.unwrap_or_default(),
        })
    };
    let over = shown.and_then(|(_, o)| o.copied()).unwrap_or_default();
    vec![
        Field {
            name: "max_lifetime_days",
            label: "Maximum lifetime (days)",
            help: "Every token must expire, and within this many days; “never” is not offered.",
            value: value(over.max_lifetime_days.map(days), days(everyone.max_lifetime_days), form.map(|f| &f.max_lifetime_days)),
            everyone: days(everyone.max_lifetime_days),
        },
        Field {
            name: "require_ip_for",
            label: "IP allow-list required for these privileges",
            help: "Privilege keys separated by commas (such as all, create-user-session, manage-api-tokens): a token holding any of them must have an allow-list.",
            value: value(over.require_ip_for.map(|p| p.keys().join(",")), everyone.require_ip_for.keys().join(","), form.map(|f| &f.require_ip_for)),
            everyone: if everyone.require_ip_for.is_empty() { "none".to_owned() } else { everyone.require_ip_for.keys().join(",") },
        },
        Field {
            name: "disable_unused_days",
            label: "Disable tokens unused for (days)",
            help: "A token not used for this many days (or, never used, made that long ago) is disabled by the server.",
            value: value(over.disable_unused_days.map(days), days(everyone.disable_unused_days), form.map(|f| &f.disable_unused_days)),
            everyone: days(everyone.disable_unused_days),
        },
        Field {
            name: "delete_expired_days",
            label: "Remove tokens expired for (days)",
            help: "Off by default, as WHM keeps expired tokens: a token expired this many days ago is removed by the server.",
            value: value(over.delete_expired_days.map(days), days(everyone.delete_expired_days), form.map(|f| &f.delete_expired_days)),
            everyone: days(everyone.delete_expired_days),
        },
    ]
}

async fn resellers(state: &AppState, user: &SignedIn) -> Result<Vec<String>, UiError> {
    Ok(state
        .read_as(&user.actor, |conn, _| {
            use crate::db::schema::accounts;
            use diesel::prelude::*;
            Ok(accounts::table
                .filter(accounts::kind.eq(crate::domain::AccountKind::Reseller.as_str()))
                .select(accounts::username)
                .order(accounts::username.asc())
                .limit(1000)
                .load::<String>(conn)?)
        })
        .await?)
}

fn user_of(raw: &str) -> Result<Option<Username>, OpError> {
    match raw.trim() {
        "" => Ok(None),
        u => Username::parse(u)
            .map(Some)
            .map_err(|e| OpError::Invalid(e.to_string())),
    }
}

async fn page(
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    shown: &Shown,
    form: Option<&PolicyForm>,
    errors: FieldErrors,
) -> Result<PolicyPage, UiError> {
    let name = shown
        .user
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    Ok(PolicyPage {
        chrome: Chrome::for_user(user, session),
        resellers: resellers(state, user).await?,
        overridden: shown.overridden.iter().map(ToString::to_string).collect(),
        fields: fields(
            &shown.everyone,
            shown
                .user
                .as_ref()
                .map(|_| (&shown.in_force, shown.over.as_ref())),
            form,
        ),
        in_force: policies::describe(&shown.in_force),
        user: name,
        errors,
    })
}

pub async fn show(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    which: web::Query<Which>,
) -> Result<HttpResponse, UiError> {
    let target = user_of(&which.user)?;
    let shown = state
        .read_as(&user.actor, move |conn, actor| {
            policies::show(conn, actor, target.as_ref())
        })
        .await?;
    render(
        StatusCode::OK,
        &page(
            &user,
            &session,
            &state,
            &shown,
            None,
            FieldErrors::default(),
        )
        .await?,
    )
}

pub async fn save(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<PolicyForm>,
) -> Result<HttpResponse, UiError> {
    let target = user_of(&form.user)?;
    let reseller = target.is_some();
    let mut errors = FieldErrors::default();
    // On a reseller's page an empty field keeps everyone's rule.
    let days_of = |name: &'static str, raw: &str, errors: &mut FieldErrors| {
        if reseller && raw.trim().is_empty() {
            return Some(None);
        }
        match parse_days(raw) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.add(name, e);
                None
            }
        }
    };
    let changes = Changes {
        max_lifetime_days: days_of("max_lifetime_days", &form.max_lifetime_days, &mut errors),
        require_ip_for: if reseller && form.require_ip_for.trim().is_empty() {
            Some(None)
        } else {
            match parse_privileges(&form.require_ip_for) {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.add("require_ip_for", e);
                    None
                }
            }
        },
        disable_unused_days: days_of(
            "disable_unused_days",
            &form.disable_unused_days,
            &mut errors,
        ),
        delete_expired_days: days_of(
            "delete_expired_days",
            &form.delete_expired_days,
            &mut errors,
        ),
    };
    let again = |errors: FieldErrors| {
        let (user, session, state, form, target) = (&user, &session, &state, &form, target.clone());
        async move {
            // A reseller deleted while its page was open: everyone's page,
            // saying so, without the reseller's values (saving them there
            // would set everyone's rules).
            let (shown, gone) = state
                .read_as(&user.actor, move |conn, actor| {
                    match policies::show(conn, actor, target.as_ref()) {
                        Ok(shown) => Ok((shown, false)),
                        Err(OpError::AccountNotFound(_)) if target.is_some() => {
                            Ok((policies::show(conn, actor, None)?, true))
                        }
                        Err(e) => Err(e),
                    }
                })
                .await?;
            let (form, errors) = if gone {
                let name = form.user.trim().to_owned();
                (
                    None,
                    FieldErrors::one("general", OpError::AccountNotFound(name)),
                )
            } else {
                (Some(form), errors)
            };
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page(user, session, state, &shown, form, errors).await?,
            )
        }
    };
    if !errors.is_empty() {
        return again(errors).await;
    }
    let for_user = target.clone();
    let saved = state
        .write_as(&user.actor, move |conn, actor| {
            policies::set(conn, actor, for_user.as_ref(), &changes)
        })
        .await;
    match saved {
        Ok(shown) => {
            flash(
                &session,
                &match &shown.user {
                    None => "Everyone's token policy was saved.".to_owned(),
                    Some(u) => format!("The token policy of “{u}” was saved."),
                },
            );
            Ok(redirect(&match &shown.user {
                None => "/policy".to_owned(),
                Some(u) => format!("/policy?user={u}"),
            }))
        }
        Err(e @ (OpError::Invalid(_) | OpError::AccountNotFound(_))) => {
            again(FieldErrors::one("general", e)).await
        }
        Err(e) => Err(e.into()),
    }
}
