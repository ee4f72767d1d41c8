// One schema for both backends; see migrations/{postgres,sqlite}.

diesel::table! {
    accounts (id) {
        id -> BigInt,
        username -> Text,
        kind -> Text,
        owner_id -> Nullable<BigInt>,
        password_hash -> Nullable<Text>,
        privileges -> Text,
        suspended -> Bool,
        created_at -> BigInt,
        /// Kept by triggers on `tokens`.
        token_count -> BigInt,
        /// Root suspended it over its owner's head: only root may unsuspend.
        suspension_locked -> Bool,
        /// The TOTP secret, sealed (see `auth::two_factor`); NULL: off.
        totp_secret -> Nullable<Binary>,
        totp_last_step -> BigInt,
        /// How many passkeys the account has (kept by the store's triggers).
        passkey_count -> BigInt,
        /// Where expiry notices go; NULL: nowhere.
        contact_email -> Nullable<Text>,
        /// Bumped by triggers on `tokens` whenever one of the account's
        /// tokens is made, removed, renamed or described anew.
        token_names_version -> BigInt,
    }
}

diesel::table! {
    recovery_codes (account_id, digest) {
        account_id -> BigInt,
        digest -> Binary,
    }
}

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    tokens (id) {
        id -> BigInt,
        account_id -> BigInt,
        name -> Text,
        digest -> Binary,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        allowed_ips -> Text,
        privileges -> Text,
        /// Written in batches by `auth::usage`.
        last_used_at -> Nullable<BigInt>,
        last_used_ip -> Nullable<Text>,
        use_count -> BigInt,
        /// A disabled token is refused like any other, and kept.
        enabled -> Bool,
        description -> Text,
        /// Reported leaked: when, and the reporter's address.
        leaked_at -> Nullable<BigInt>,
        leaked_from -> Nullable<Text>,
        /// When a person last enabled it (disuse counts from it too).
        enabled_at -> Nullable<BigInt>,
        /// Whether it was enabled when reported leaked (NULL: not leaked).
        enabled_before_leak -> Nullable<Bool>,
    }
}

diesel::table! {
    /// One per notice (token, expiry, threshold) and channel; see `ops::notices`.
    expiry_notices (token_id, expires_at, threshold, channel) {
        token_id -> BigInt,
        expires_at -> BigInt,
        threshold -> Text,
        channel -> Text,
        sent -> Bool,
        claimed_until -> BigInt,
        attempts -> Integer,
    }
}

diesel::table! {
    token_addresses (token_id, address) {
        token_id -> BigInt,
        address -> Text,
        first_seen -> BigInt,
    }
}

diesel::table! {
    sessions (key_digest) {
        key_digest -> Binary,
        account_id -> Nullable<BigInt>,
        state -> Text,
        expires_at -> BigInt,
        created_at -> BigInt,
        last_seen -> BigInt,
    }
}

diesel::table! {
    sign_in_failures (scope_key) {
        scope_key -> Text,
        failures -> Integer,
        window_start -> BigInt,
    }
}

diesel::table! {
    login_links (digest) {
        digest -> Binary,
        account_id -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        event -> Text,
        actor -> Nullable<Text>,
        actor_id -> Nullable<BigInt>,
        token -> Nullable<Text>,
        target -> Nullable<Text>,
        target_id -> Nullable<BigInt>,
        owner_id -> Nullable<BigInt>,
        ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
        detail -> Text,
        count -> BigInt,
        bucket -> Nullable<Text>,
    }
}

diesel::table! {
    /// Root's token policy (root's row) and resellers' overrides; see
    /// `domain::token_policy`.
    token_policies (account_id) {
        account_id -> BigInt,
        max_lifetime_days -> Nullable<BigInt>,
        require_ip_for -> Nullable<Text>,
        disable_unused_days -> Nullable<BigInt>,
        delete_expired_days -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// An account's passkeys (WebAuthn credentials); see `auth::passkeys`.
    passkeys (id) {
        id -> BigInt,
        account_id -> BigInt,
        credential_id -> Text,
        user_handle -> Text,
        name -> Text,
        passkey -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Challenges of passwordless sign-ins already answered, until they
    /// expire.
    passkey_challenges_used (digest) {
        digest -> Binary,
        expires_at -> BigInt,
    }
}

diesel::joinable!(tokens -> accounts (account_id));
diesel::joinable!(passkeys -> accounts (account_id));
diesel::joinable!(token_policies -> accounts (account_id));
diesel::joinable!(sessions -> accounts (account_id));
diesel::joinable!(login_links -> accounts (account_id));
diesel::joinable!(recovery_codes -> accounts (account_id));
diesel::joinable!(token_addresses -> tokens (token_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    tokens,
    sessions,
    login_links,
    recovery_codes,
    token_addresses,
    expiry_notices,
    token_policies,
    passkeys
);
