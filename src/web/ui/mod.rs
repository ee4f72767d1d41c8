//! The page: sign-in, the tokens page and root's accounts page. Each view
//! has a partial (what htmx swaps) and a page that wraps the same partial,
//! so the two cannot drift.

mod account_edit;
mod accounts;
mod activity;
mod all_tokens;
mod chrome;
mod confirm;
mod contact_email;
mod error;
pub mod form;
mod passkey_sign_in;
mod passkey_site;
mod passkeys;
mod password;
mod policy;
mod privileges_form;
mod respond;
mod session;
mod sessions;
mod sign_in;
mod signed_in;
mod toast;
mod token_access;
mod token_actions;
mod token_confirms;
mod token_form;
mod token_rows;
mod token_secret;
mod token_table;
mod tokens;
mod two_factor;

use actix_web::web;

// What every page handler uses, named here once for them.
pub use chrome::{flash, lists_accounts, Chrome};
pub use error::UiError;
pub use respond::{redirect, render, render_parts, wants_partial};
pub use signed_in::SignedIn;
pub use toast::Toast;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { redirect("/tokens") }))
        .service(
            web::resource("/login")
                .route(web::get().to(session::login_form))
                .route(web::post().to(session::login)),
        )
        .service(
            web::resource(["/login/once", "/cpsess{session:[0-9]+}/login/once"])
                .route(web::get().to(session::login_once))
                .route(web::post().to(session::login_once_confirmed)),
        )
        .route("/logout", web::post().to(session::logout))
        .service(
            web::resource("/account/password")
                .route(web::get().to(password::form))
                .route(web::post().to(password::change)),
        )
        .service(
            web::resource("/policy")
                .route(web::get().to(policy::show))
                .route(web::post().to(policy::save)),
        )
        .service(
            web::resource("/account/email")
                .route(web::get().to(contact_email::own_form))
                .route(web::post().to(contact_email::own_save)),
        )
        .service(
            web::resource("/account/two-factor")
                .route(web::get().to(two_factor::page))
                .route(web::post().to(two_factor::enable)),
        )
        .route(
            "/account/two-factor/recovery-codes",
            web::post().to(two_factor::new_codes),
        )
        .route(
            "/account/two-factor/off",
            web::post().to(two_factor::disable),
        )
        .route(
            "/account/two-factor/passkeys/options",
            web::post().to(passkeys::register_options),
        )
        .route(
            "/account/two-factor/passkeys",
            web::post().to(passkeys::register),
        )
        .route(
            "/account/two-factor/passkeys/remove",
            web::post().to(passkeys::remove),
        )
        .route(
            "/login/two-factor/passkey/options",
            web::post().to(passkey_sign_in::second_step_options),
        )
        .route(
            "/login/two-factor/passkey",
            web::post().to(passkey_sign_in::second_step),
        )
        .route(
            "/login/passkey/options",
            web::post().to(passkey_sign_in::passwordless_options),
        )
        .route(
            "/login/passkey",
            web::post().to(passkey_sign_in::passwordless),
        )
        .service(
            web::resource("/login/two-factor")
                .route(web::get().to(two_factor::code_form))
                .route(web::post().to(two_factor::check_code)),
        )
        .route(
            "/accounts/two-factor-policy",
            web::post().to(accounts::set_two_factor_policy),
        )
        .route("/activity", web::get().to(activity::page))
        .route("/account/sessions", web::get().to(sessions::page))
        .route("/account/sessions/end", web::post().to(sessions::end_one))
        .route(
            "/account/sessions/end-others",
            web::post().to(sessions::end_others),
        )
        .route("/tokens", web::get().to(tokens::page))
        .route("/tokens/all", web::get().to(all_tokens::page))
        .route(
            "/tokens/notices/dismiss",
            web::post().to(tokens::dismiss_notices),
        )
        .service(
            web::resource("/tokens/all/revoke")
                .route(web::get().to(all_tokens::revoke_confirm))
                .route(web::post().to(all_tokens::revoke)),
        )
        .service(
            web::resource("/tokens/new")
                .route(web::get().to(token_form::new_form))
                .route(web::post().to(token_form::create)),
        )
        .service(
            web::resource("/tokens/revoke")
                .route(web::get().to(token_confirms::revoke_selected_confirm))
                .route(web::post().to(token_actions::revoke_selected)),
        )
        .service(
            web::resource("/tokens/revoke-all")
                .route(web::get().to(token_confirms::revoke_all_confirm))
                .route(web::post().to(token_actions::revoke_all)),
        )
        .service(
            web::resource("/tokens/{name}/edit")
                .route(web::get().to(token_form::edit_form))
                .route(web::post().to(token_form::update)),
        )
        .service(
            web::resource("/tokens/disable")
                .route(web::get().to(token_confirms::disable_selected_confirm))
                .route(web::post().to(token_actions::disable_selected)),
        )
        .route(
            "/tokens/{name}/{change:enable|disable}",
            web::post().to(token_actions::set_enabled),
        )
        .route(
            "/tokens/{name}/generated",
            web::get().to(token_secret::generated),
        )
        .service(
            web::resource("/tokens/{name}/regenerate")
                .route(web::get().to(token_confirms::regenerate_confirm))
                .route(web::post().to(token_secret::regenerate)),
        )
        .service(
            web::resource("/tokens/{name}/revoke")
                .route(web::get().to(token_confirms::revoke_confirm))
                .route(web::post().to(token_actions::revoke_one)),
        )
        .service(
            web::resource("/accounts")
                .route(web::get().to(accounts::page))
                .route(web::post().to(accounts::create)),
        )
        .route("/accounts/{user}", web::get().to(account_edit::edit_page))
        .route(
            "/accounts/{user}/rename",
            web::post().to(account_edit::rename),
        )
        .route(
            "/accounts/{user}/email",
            web::post().to(account_edit::set_email),
        )
        .route(
            "/accounts/{user}/privileges",
            web::post().to(account_edit::set_privileges),
        )
        .route(
            "/accounts/{user}/{change:suspend|unsuspend}",
            web::post().to(account_edit::set_suspended),
        )
        .service(
            web::resource("/accounts/{user}/delete")
                .route(web::get().to(account_edit::delete_confirm))
                .route(web::post().to(account_edit::delete)),
        );
}
