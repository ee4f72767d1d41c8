//! Generate Token and Edit: one form, read into [`TokenForm`], turned into
//! the operation's input once, with a message per field when something is
//! wrong (422, input kept).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::Months;
use serde::Deserialize;

use crate::domain::token_policy::TokenPolicy;
use crate::domain::{Description, Expiry, IpAllowList, PrivilegeSet, ServerClock, TokenName};
use crate::ops::tokens::{self as token_ops, NewToken, TokenChanges};
use crate::ops::OpError;
use crate::state::AppState;

use super::form::{FieldErrors, Form};
use super::privileges_form::{self, CategoryView};
use super::token_access::{load, TokenManager};
use super::token_rows::usage_detail;
use super::token_secret::{
    created_page, form_already_made, new_form_id, redirect_to_made, remember_made,
};
use super::{flash, redirect, render, Chrome, SignedIn, UiError};

/// The form as submitted.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    name: String,
    description: String,
    /// `never` or `date`.
    expires: String,
    expires_on: String,
    ips: String,
    acl: Vec<String>,
    /// Names this one Generate form: sent again (a reload of the page that
    /// showed the secret), it leads to what was made instead of failing.
    form_id: String,
}

/// What a valid form says, in domain types.
struct TokenInput {
    name: TokenName,
    description: Description,
    expiry: Expiry,
    ips: IpAllowList,
    privileges: PrivilegeSet,
}

impl TokenForm {
    /// The form in domain types, or a message per field. `keep` is the
    /// stored expiry when editing: a date left as it was keeps that expiry
    /// even if it has passed.
    fn parse(
        &self,
        clock: &ServerClock,
        now: i64,
        keep: Option<Expiry>,
    ) -> Result<TokenInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = errors.check("name", TokenName::parse(&self.name));
        let description = errors.check("description", Description::parse(&self.description));
        let expiry = match self.expires.parse::<ExpiryChoice>() {
            Ok(ExpiryChoice::OnDate) => {
                let raw = self.expires_on.trim();
                match keep {
                    Some(current @ Expiry::At(t)) if clock.date_of(t) == raw => Some(current),
                    _ => errors.check("expires", Expiry::parse_date(raw, clock, now)),
                }
            }
            Ok(ExpiryChoice::Never) => Some(Expiry::Never),
            Ok(ExpiryChoice::InDays(days)) => {
                let day = clock.today() + chrono::Days::new(days);
                Some(Expiry::At(clock.end_of_day(day)))
            }
            Err(()) => {
                errors.add("expires", "Choose when the token expires.");
                None
            }
        };
        let ips = errors.check("ips", IpAllowList::parse(&self.ips));
        // None ticked is the same refusal as the operation gives.
        let privileges = errors.check(
            "privileges",
            privileges_form::parse(&self.acl)
                .and_then(|set| set.ok_or(crate::domain::privileges::PrivilegeError::Empty)),
        );
        match (name, description, expiry, ips, privileges) {
            (Some(name), Some(description), Some(expiry), Some(ips), Some(privileges))
                if errors.is_empty() =>
            {
                Ok(TokenInput {
                    name,
                    description,
                    expiry,
                    ips,
                    privileges,
                })
            }
            _ => Err(errors),
        }
    }
}

/// When a token expires, as the form's `expires` choice says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryChoice {
    /// One of the [`PRESETS`]: this many days from today, to 23:59:59
    /// server time.
    InDays(u64),
    /// The date in `expires_on`.
    OnDate,
    Never,
}

impl std::str::FromStr for ExpiryChoice {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value {
            "date" => Ok(Self::OnDate),
            // A form that says nothing keeps WHM's old meaning: never.
            "never" | "" => Ok(Self::Never),
            preset => PRESETS
                .iter()
                .find(|(v, _)| *v == preset)
                .and_then(|(v, _)| v.parse().ok())
                .map(Self::InDays)
                .ok_or(()),
        }
    }
}

/// The expiry presets, in days from today (to 23:59:59 server time).
pub const PRESETS: &[(&str, &str)] = &[
    ("7", "In 7 days."),
    ("30", "In 30 days."),
    ("90", "In 90 days."),
    ("365", "In 1 year (as WHM does)."),
];

#[derive(Template)]
#[template(path = "tokens/form.html")]
pub struct TokenFormPage {
    pub chrome: Chrome,
    /// `Some(original name)` when editing.
    pub editing: Option<TokenName>,
    pub name: String,
    pub description: String,
    pub expires_mode: String,
    pub expires_on: String,
    pub min_date: String,
    pub ips: String,
    pub categories: Vec<CategoryView>,
    pub errors: FieldErrors,
    /// When editing: when and from where the token was last used, and how
    /// often.
    pub usage: Option<String>,
    pub presets: &'static [(&'static str, &'static str)],
    /// The server's time zone, named beside the date.
    pub zone: String,
    /// See [`TokenForm::form_id`]; empty when editing.
    pub form_id: String,
    /// Root's token policy for this account: the form shows its limits.
    pub policy: TokenPolicy,
    /// The last day the policy allows, as YYYY-MM-DD ("": no limit).
    pub max_date: String,
}

impl TokenFormPage {
    pub fn action(&self) -> String {
        match &self.editing {
            Some(name) => format!("/tokens/{name}/edit"),
            None => "/tokens/new".to_owned(),
        }
    }

    /// An empty Generate form: a year ahead, nothing ticked but what
    /// `categories` says. Every form starts from here.
    fn blank(chrome: Chrome, clock: &ServerClock, categories: Vec<CategoryView>) -> Self {
        Self {
            chrome,
            editing: None,
            name: String::new(),
            description: String::new(),
            expires_mode: "365".into(),
            expires_on: one_year_ahead(clock),
            min_date: clock.today().format("%Y-%m-%d").to_string(),
            ips: String::new(),
            categories,
            errors: FieldErrors::default(),
            usage: None,
            presets: PRESETS,
            zone: clock.zone_name(),
            form_id: String::new(),
            policy: TokenPolicy::default(),
            max_date: String::new(),
        }
    }

    /// The form under root's token policy: the longest expiry offered,
    /// "never" only when allowed, a preset within the limit chosen. A form
    /// sent back with errors keeps what the user chose, so that the field
    /// and its message agree.
    fn under(mut self, policy: TokenPolicy, clock: &ServerClock) -> Self {
        self.policy = policy;
        if policy.max_lifetime_days > 0 {
            let last = clock.today() + chrono::Days::new(u64::from(policy.max_lifetime_days));
            self.max_date = last.format("%Y-%m-%d").to_string();
            if !self.errors.is_empty() {
                return self;
            }
            let allowed = |v: &str| self.preset_allowed(v);
            if self.expires_mode == "never"
                || (self.expires_mode != "date" && !allowed(&self.expires_mode))
            {
                match PRESETS.iter().rev().find(|(v, _)| allowed(v)) {
                    Some((v, _)) => self.expires_mode = (*v).to_owned(),
                    None => {
                        self.expires_mode = "date".to_owned();
                        self.expires_on = self.max_date.clone();
                    }
                }
            }
            if self.expires_on > self.max_date {
                self.expires_on = self.max_date.clone();
            }
        }
        self
    }

    /// Whether a preset (days) is within root's maximum lifetime.
    pub fn preset_allowed(&self, days: &str) -> bool {
        let max = self.policy.max_lifetime_days;
        max == 0 || days.parse::<u32>().is_ok_and(|d| d <= max)
    }

    pub fn never_allowed(&self) -> bool {
        self.policy.max_lifetime_days == 0
    }

    /// The privileges that need an allow-list, space-separated (for the
    /// page's script), or "".
    pub fn ips_required_for(&self) -> String {
        self.policy.require_ip_for.keys().join(" ")
    }

    /// Whether the privileges ticked now already need an allow-list.
    pub fn ips_required_now(&self) -> bool {
        let required = self.policy.require_ip_for;
        !required.is_empty() && self.categories.iter().any(|c| c.ticked_any(required))
    }

    /// The form again, around what the user sent, with the messages.
    fn resubmitted(
        chrome: Chrome,
        editing: Option<TokenName>,
        form: TokenForm,
        user: &SignedIn,
        clock: &ServerClock,
        errors: FieldErrors,
    ) -> Self {
        let categories = privileges_form::grouped(
            user.actor.privileges,
            privileges_form::resubmitted(&form.acl),
        );
        Self {
            form_id: form.form_id.clone(),
            editing,
            name: form.name,
            description: form.description,
            expires_mode: if form.expires.is_empty() {
                "never".to_owned()
            } else {
                form.expires
            },
            expires_on: form.expires_on,
            ips: form.ips,
            errors,
            ..Self::blank(chrome, clock, categories)
        }
    }
}

fn one_year_ahead(clock: &ServerClock) -> String {
    let today = clock.today();
    today
        .checked_add_months(Months::new(12))
        .unwrap_or(today)
        .format("%Y-%m-%d")
        .to_string()
}

/// Where an operation's refusal belongs on the form.
fn place(e: OpError) -> Result<FieldErrors, UiError> {
    let field = match e {
        OpError::TokenNameTaken(_) => "name",
        OpError::Policy(ref breach) if breach.is_about_expiry() => "expires",
        OpError::Policy(_) => "ips",
        OpError::PrivilegesNotHeld(_) | OpError::Invalid(_) => "privileges",
        OpError::AccountSuspended(_) | OpError::NothingToChange => "general",
        other => return Err(other.into()),
    };
    Ok(FieldErrors::one(field, e))
}

/// The token policy in force for the signed-in account.
async fn policy_of(state: &AppState, user: &SignedIn) -> Result<TokenPolicy, UiError> {
    Ok(state
        .read_as(&user.actor, |conn, actor| {
            crate::ops::policies::for_account(conn, &actor.account)
        })
        .await?)
}

pub async fn new_form(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let everything = user.actor.privileges;
    let page = TokenFormPage {
        form_id: new_form_id(),
        ..TokenFormPage::blank(
            Chrome::for_user(&user, &session),
            &state.clock,
            privileges_form::grouped(everything, everything),
        )
    }
    .under(policy_of(&state, &user).await?, &state.clock);
    render(StatusCode::OK, &page)
}

pub async fn create(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<TokenForm>,
) -> Result<HttpResponse, UiError> {
    // A reload of the page that showed the secret sends the form again.
    if let Some(name) = form_already_made(&session, &form.form_id, &form.name) {
        return Ok(redirect_to_made(&name));
    }
    let now = state.clock.now();
    let outcome = match form.parse(&state.clock, now, None) {
        Err(errors) => Err(errors),
        Ok(input) => {
            let new = NewToken {
                name: input.name,
                description: input.description,
                expiry: input.expiry,
                ips: input.ips,
                privileges: Some(input.privileges),
            };
            let created = state
                .write_as(&user.actor, move |conn, actor| {
                    token_ops::create(conn, actor, new, now)
                })
                .await;
            match created {
                Ok(created) => Ok(created),
                Err(e) => Err(place(e)?),
            }
        }
    };
    let created = match outcome {
        Ok(created) => created,
        Err(errors) => {
            let chrome = Chrome::for_user(&user, &session);
            let page = TokenFormPage::resubmitted(chrome, None, form, &user, &state.clock, errors)
                .under(policy_of(&state, &user).await?, &state.clock);
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    remember_made(&session, &form.form_id, &created.token.name);
    let page = created_page(&user, &session, &state, created);
    // `render` marks the answer no-store: the secret is never cached.
    render(StatusCode::OK, &page)
}

pub async fn edit_form(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let token = load(&state, &user, &name).await?;
    let (expires_mode, expires_on) = match token.expiry {
        Expiry::Never => ("never", one_year_ahead(&state.clock)),
        Expiry::At(t) => ("date", state.clock.date_of(t)),
    };
    let usage = usage_detail(&token, &state.clock);
    let categories = privileges_form::grouped(user.actor.privileges, token.privileges);
    let page = TokenFormPage {
        name: token.name.to_string(),
        description: token.description.to_string(),
        editing: Some(token.name),
        expires_mode: expires_mode.into(),
        expires_on,
        ips: token.ips.entries().join("\n"),
        usage: Some(usage),
        ..TokenFormPage::blank(Chrome::for_user(&user, &session), &state.clock, categories)
    }
    .under(policy_of(&state, &user).await?, &state.clock);
    render(StatusCode::OK, &page)
}

pub async fn update(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
    Form(form): Form<TokenForm>,
) -> Result<HttpResponse, UiError> {
    let current = load(&state, &user, &name).await?;
    let now = state.clock.now();
    let outcome = match form.parse(&state.clock, now, Some(current.expiry)) {
        Err(errors) => Err(errors),
        Ok(input) => {
            let original = current.name.clone();
            let changes = TokenChanges {
                new_name: Some(input.name),
                enabled: None,
                description: Some(input.description),
                expiry: Some(input.expiry),
                ips: Some(input.ips),
                privileges: Some(input.privileges),
            };
            let saved = state
                .write_as(&user.actor, move |conn, actor| {
                    token_ops::update(conn, actor, &original, changes)
                })
                .await;
            match saved {
                Ok(saved) => Ok(saved),
                Err(e) => Err(place(e)?),
            }
        }
    };
    match outcome {
        Ok(saved) => {
            flash(&session, &format!("The token “{}” was saved.", saved.name));
            Ok(redirect("/tokens"))
        }
        Err(errors) => {
            let chrome = Chrome::for_user(&user, &session);
            let page = TokenFormPage::resubmitted(
                chrome,
                Some(current.name),
                form,
                &user,
                &state.clock,
                errors,
            )
            .under(policy_of(&state, &user).await?, &state.clock);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiry_choices_are_the_presets_a_date_or_never() {
        use super::ExpiryChoice;
        for (value, choice) in [
            ("7", Ok(ExpiryChoice::InDays(7))),
            ("365", Ok(ExpiryChoice::InDays(365))),
            ("date", Ok(ExpiryChoice::OnDate)),
            ("never", Ok(ExpiryChoice::Never)),
            ("", Ok(ExpiryChoice::Never)),
            ("8", Err(())),
            ("-1", Err(())),
            ("Never", Err(())),
        ] {
            assert_eq!(value.parse::<ExpiryChoice>(), choice, "{value:?}");
        }
    }
}
