//! Backups and moves between stores: the whole store in one portable,
//! versioned file that either backend restores.
//!
//! The file is JSON lines. The first line is the header: the format and
//! its version, the schema (the newest migration applied to the store it
//! came from), and each table with its columns and row count. Then one
//! line per row, `["table", value, ...]`, in dependency order; numbers are
//! numbers, flags `true`/`false`, bytes lowercase hex, so a row reads the
//! same whichever backend wrote it. The last line is
//! `{"sha256": "..."}` over every byte before it.
//!
//! Left out, by choice: sessions (everyone signs in again after a restore:
//! a session in a copied store would outlive a sign-out in the old one),
//! one-time sign-in links (they last a minute), sign-in throttling and the
//! challenges of passwordless sign-ins answered (they last five minutes).
//! `accounts.token_count` and `accounts.token_names_version` are not
//! stored: the target's triggers count the tokens as they are restored,
//! and the version only tells a running server when to read names again
//! (a restore sets it to its own time, past any version kept before).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{run_migrations, snapshot, transaction, Backend, DbConnection};

pub const FORMAT: &str = "whm-tokens-backup";
pub const VERSION: u64 = 1;
/// Rows read from the store at a time.
const PAGE: i64 = 5_000;
/// Rows written in one INSERT.
const BATCH: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bool,
    Bytes,
}

#[derive(Clone, Debug)]
struct Column {
    name: &'static str,
    kind: Kind,
    nullable: bool,
}

struct Table {
    name: &'static str,
    /// The columns rows are read in order of; `id` alone means pages are
    /// read by key.
    key: &'static str,
    columns: Cow<'static, [Column]>,
}

impl Table {
    /// The table with only the columns a backup holds (one made before
    /// columns were added has fewer): what to compare it with.
    fn narrowed_to(&self, names: &[String]) -> Table {
        Table {
            name: self.name,
            key: self.key,
            columns: Cow::Owned(
                self.columns
                    .iter()
                    .filter(|c| names.iter().any(|n| n == c.name))
                    .cloned()
                    .collect(),
            ),
        }
    }
}

macro_rules! col {
    ($name:literal, $kind:ident) => {
        Column {
            name: $name,
            kind: Kind::$kind,
            nullable: false,
        }
    };
    ($name:literal, $kind:ident?) => {
        Column {
            name: $name,
            kind: Kind::$kind,
            nullable: true,
        }
    };
}

/// What a backup holds, in the order it is restored (owners first).
const TABLES: &[Table] = &[
    Table {
        name: "accounts",
        key: "id",
        columns: Cow::Borrowed(&[
            col!("id", Int),
            col!("username", Text),
            col!("kind", Text),
            col!("owner_id", Int?),
            col!("password_hash", Text?),
            col!("privileges", Text),
            col!("suspended", Bool),
            col!("created_at", Int),
            col!("suspension_locked", Bool),
            col!("totp_secret", Bytes?),
            col!("totp_last_step", Int),
            col!("contact_email", Text?),
        ]),
    },
    Table {
        name: "recovery_codes",
        key: "account_id, digest",
        columns: Cow::Borrowed(&[col!("account_id", Int), col!("digest", Bytes)]),
    },
    Table {
        name: "settings",
        key: "name",
        columns: Cow::Borrowed(&[col!("name", Text), col!("value", Text)]),
    },
    Table {
        name: "token_policies",
        key: "account_id",
        columns: Cow::Borrowed(&[
            col!("account_id", Int),
            col!("max_lifetime_days", Int?),
            col!("require_ip_for", Text?),
            col!("disable_unused_days", Int?),
            col!("delete_expired_days", Int?),
        ]),
    },
    Table {
        name: "passkeys",
        key: "id",
        columns: Cow::Borrowed(&[
            col!("id", Int),
            col!("account_id", Int),
            col!("credential_id", Text),
            col!("user_handle", Text),
            col!("name", Text),
            col!("passkey", Text),
            col!("created_at", Int),
            col!("last_used_at", Int?),
        ]),
    },
    Table {
        name: "tokens",
        key: "id",
        columns: Cow::Borrowed(&[
            col!("id", Int),
            col!("account_id", Int),
            col!("name", Text),
            col!("digest", Bytes),
            col!("created_at", Int),
            col!("expires_at", Int?),
            col!("allowed_ips", Text),
            col!("privileges", Text),
            col!("last_used_at", Int?),
            col!("last_used_ip", Text?),
            col!("use_count", Int),
            col!("enabled", Bool),
            col!("description", Text),
            col!("leaked_at", Int?),
            col!("leaked_from", Text?),
            col!("enabled_at", Int?),
            col!("enabled_before_leak", Bool?),
        ]),
    },
    Table {
        name: "token_addresses",
        key: "token_id, address",
        columns: Cow::Borrowed(&[
            col!("token_id", Int),
            col!("address", Text),
            col!("first_seen", Int),
        ]),
    },
    Table {
        name: "expiry_notices",
        key: "token_id, expires_at, threshold, channel",
        columns: Cow::Borrowed(&[
            col!("token_id", Int),
            col!("expires_at", Int),
            col!("threshold", Text),
            col!("channel", Text),
            col!("sent", Bool),
            col!("claimed_until", Int),
            col!("attempts", Int),
        ]),
    },
    Table {
        name: "audit_events",
        key: "id",
        columns: Cow::Borrowed(&[
            col!("id", Int),
            col!("at", Int),
            col!("event", Text),
            col!("actor", Text?),
            col!("actor_id", Int?),
            col!("token", Text?),
            col!("target", Text?),
            col!("target_id", Int?),
            col!("owner_id", Int?),
            col!("ip", Text?),
            col!("request_id", Text?),
            col!("detail", Text),
            col!("count", Int),
            col!("bucket", Text?),
        ]),
    },
];

/// Tables whose ids PostgreSQL hands out from a sequence.
const SEQUENCED: &[&str] = &["accounts", "tokens", "audit_events", "passkeys"];

/// The highest id of `table` in use, as SQL. An account's id also lives on
/// in the audit trail after the account is deleted: a restore must not
/// hand it out again, or a new account would see the old one's history.
fn highest_id_used(table: &str) -> String {
    match table {
        "accounts" => "SELECT MAX(x) FROM (SELECT MAX(id) AS x FROM accounts \
                       UNION ALL SELECT MAX(actor_id) FROM audit_events \
                       UNION ALL SELECT MAX(target_id) FROM audit_events \
                       UNION ALL SELECT MAX(owner_id) FROM audit_events) AS used"
            .to_owned(),
        _ => format!("SELECT MAX(id) FROM {table}"),
    }
}

/// What a backup or a copy holds: rows and a digest of them per table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub schema: String,
    pub tables: BTreeMap<String, TableSummary>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct TableSummary {
    pub rows: u64,
    /// SHA-256 of the table's rows as the backup writes them, in order.
    pub sha256: String,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "schema {}", self.schema)?;
        for (name, table) in &self.tables {
            writeln!(
                f,
                "{name:<16} {:>10} rows  sha256 {}",
                table.rows, table.sha256
            )?;
        }
        Ok(())
    }
}

/// The newest migration applied to the store.
fn schema_of(conn: &mut DbConnection) -> anyhow::Result<String> {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        version: Option<String>,
    }
    let found: Version =
        diesel::sql_query("SELECT MAX(version) AS version FROM __diesel_schema_migrations")
            .get_result(conn)
            .map_err(|e| anyhow::anyhow!("cannot read the store's schema version: {e}"))?;
    found
        .version
        .ok_or_else(|| anyhow::anyhow!("the store has no schema yet: run `whm-tokens migrate`"))
}

fn count(conn: &mut DbConnection, table: &str) -> anyhow::Result<u64> {
    Ok(number(conn, format!("SELECT COUNT(*) AS n FROM {table}"))? as u64)
}

/// The one number `sql` answers, named `n`.
fn number(conn: &mut DbConnection, sql: String) -> anyhow::Result<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found: Count = diesel::sql_query(sql).get_result(conn)?;
    Ok(found.n)
}

/// Whether the store has this table (a new one has none yet).
fn table_exists(conn: &mut DbConnection, table: &str) -> anyhow::Result<bool> {
    let sql = match conn.backend() {
        Backend::Postgres => format!(
            "SELECT COUNT(*) AS n FROM pg_catalog.pg_tables \
             WHERE schemaname = current_schema() AND tablename = '{table}'"
        ),
        Backend::Sqlite => {
            format!(
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            )
        }
    };
    Ok(number(conn, sql)? > 0)
}

/// Reads `table`'s rows in key order, a page at a time, each as the line
/// the backup holds, and hands them to `row`.
fn each_row(
    conn: &mut DbConnection,
    table: &Table,
    mut row: impl FnMut(String) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let backend = conn.backend();
    let values: Vec<String> = table
        .columns
        .iter()
        .map(|c| match (c.kind, backend) {
            (Kind::Bytes, Backend::Postgres) => format!("encode({}, 'hex')", c.name),
            (Kind::Bytes, Backend::Sqlite) => {
                format!(
                    "CASE WHEN {0} IS NULL THEN NULL ELSE lower(hex({0})) END",
                    c.name
                )
            }
            _ => c.name.to_owned(),
        })
        .collect();
    let array = match backend {
        Backend::Postgres => format!("json_build_array({})::text", values.join(", ")),
        Backend::Sqlite => format!("json_array({})", values.join(", ")),
    };
    let by_id = table.key == "id";
    // Rows are digested in the order they are read, and both backends must
    // read them alike: text by its bytes, as SQLite compares it, not by the
    // PostgreSQL database's collation (`127.0.0.1` and `::1` sort the other
    // way round in most of them).
    let order = table
        .key
        .split(", ")
        .map(|key| {
            let text = table
                .columns
                .iter()
                .any(|c| c.name == key && c.kind == Kind::Text);
            match (backend, text) {
                (Backend::Postgres, true) => format!("{key} COLLATE \"C\""),
                _ => key.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (mut after, mut offset) = (i64::MIN, 0i64);
    loop {
        let sql = if by_id {
            format!(
                "SELECT {array} AS line FROM {} WHERE id > {after} ORDER BY id LIMIT {PAGE}",
                table.name
            )
        } else {
            format!(
                "SELECT {array} AS line FROM {} ORDER BY {order} LIMIT {PAGE} OFFSET {offset}",
                table.name
            )
        };
        let page: Vec<Line> = diesel::sql_query(sql).load(conn)?;
        let n = page.len() as i64;
        for Line { line } in page {
            let stored: Value = serde_json::from_str(&line)?;
            let canonical = canonical_row(table, &stored)?;
            if by_id {
                after = canonical[1].as_i64().unwrap_or(after);
            }
            row(serde_json::to_string(&canonical)?)?;
        }
        offset += n;
        if n < PAGE {
            return Ok(());
        }
    }
}

/// A row as the backup writes it: `["table", value, ...]`, with flags as
/// `true`/`false` and bytes as lowercase hex whichever backend read them.
fn canonical_row(table: &Table, stored: &Value) -> anyhow::Result<Value> {
    let values = stored
        .as_array()
        .filter(|v| v.len() == table.columns.len())
        .ok_or_else(|| anyhow::anyhow!("{}: a row of the wrong shape", table.name))?;
    let mut row = Vec::with_capacity(values.len() + 1);
    row.push(json!(table.name));
    for (column, value) in table.columns.iter().zip(values) {
        row.push(canonical_value(table, column, value)?);
    }
    Ok(Value::Array(row))
}

fn canonical_value(table: &Table, column: &Column, value: &Value) -> anyhow::Result<Value> {
    let wrong = || {
        anyhow::anyhow!(
            "{}.{}: {value} is not a {:?}",
            table.name,
            column.name,
            column.kind
        )
    };
    if value.is_null() {
        return if column.nullable {
            Ok(Value::Null)
        } else {
            Err(wrong())
        };
    }
    Ok(match column.kind {
        Kind::Int => json!(value.as_i64().ok_or_else(wrong)?),
        Kind::Text => json!(value.as_str().ok_or_else(wrong)?),
        Kind::Bool => match value {
            Value::Bool(b) => json!(b),
            Value::Number(n) if n.as_i64() == Some(0) => json!(false),
            Value::Number(n) if n.as_i64() == Some(1) => json!(true),
            _ => return Err(wrong()),
        },
        Kind::Bytes => {
            let hex = value.as_str().ok_or_else(wrong)?.to_ascii_lowercase();
            if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(wrong());
            }
            json!(hex)
        }
    })
}

/// Writes a consistent snapshot of the store behind `conn` to `file` (by
/// way of a new `FILE.partial-…` of this run's own, written to disk and
/// renamed when complete), and returns what it holds.
pub fn backup(conn: &mut DbConnection, file: &Path) -> anyhow::Result<Summary> {
    let mut partial = file.as_os_str().to_owned();
    partial.push(format!(".partial-{:016x}", rand::random::<u64>()));
    let partial = std::path::PathBuf::from(partial);
    let written = snapshot(conn, |conn| -> anyhow::Result<Summary> {
        // It holds password hashes and token digests: this user's only.
        let out = crate::private_files::create_new(&partial)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
        let mut out = ChecksummedWriter::new(std::io::BufWriter::new(out));
        let schema = schema_of(conn)?;
        let mut counts = Vec::new();
        for table in TABLES {
            counts.push(json!({
                "name": table.name,
                "columns": table.columns.iter().map(|c| c.name).collect::<Vec<_>>(),
                "rows": count(conn, table.name)?,
            }));
        }
        out.line(
            &json!({
                "format": FORMAT,
                "version": VERSION,
                "schema": schema,
                "tables": counts,
            })
            .to_string(),
        )?;
        let mut summary = Summary {
            schema,
            ..Summary::default()
        };
        for table in TABLES {
            let mut digest = TableDigest::default();
            each_row(conn, table, |line| {
                digest.add(&line);
                out.line(&line)
            })?;
            summary
                .tables
                .insert(table.name.to_owned(), digest.finish());
        }
        // On disk before it takes the name: a crash never leaves a cut
        // file under it.
        out.finish()?.into_inner()?.sync_all()?;
        Ok(summary)
    });
    match written {
        Ok(summary) => {
            std::fs::rename(&partial, file)?;
            let folder = file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            std::fs::File::open(folder)?.sync_all()?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

struct ChecksummedWriter<W: Write> {
    out: W,
    sha: Sha256,
}

impl<W: Write> ChecksummedWriter<W> {
    fn new(out: W) -> Self {
        Self {
            out,
            sha: Sha256::new(),
        }
    }

    fn line(&mut self, line: &str) -> anyhow::Result<()> {
        for part in [line.as_bytes(), b"\n"] {
            self.sha.update(part);
            self.out.write_all(part)?;
        }
        Ok(())
    }

    /// Writes the trailer; returns what was written to.
    fn finish(mut self) -> anyhow::Result<W> {
        let sum = hex::encode(self.sha.clone().finalize());
        writeln!(self.out, "{}", json!({ "sha256": sum }))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[derive(Default)]
struct TableDigest {
    rows: u64,
    sha: Sha256,
}

impl TableDigest {
    fn add(&mut self, line: &str) {
        self.rows += 1;
        self.sha.update(line.as_bytes());
        self.sha.update(b"\n");
    }

    fn finish(self) -> TableSummary {
        TableSummary {
            rows: self.rows,
            sha256: hex::encode(self.sha.finalize()),
        }
    }
}

/// A backup's header, read and checked.
struct Header {
    schema: String,
    tables: Vec<(String, Vec<String>, u64)>,
}

fn read_header(line: &str, newest_known: &str) -> anyhow::Result<Header> {
    let header: Value = serde_json::from_str(line)
        .map_err(|_| anyhow::anyhow!("not a whm-tokens backup: its first line is not a header"))?;
    if header["format"] != FORMAT {
        anyhow::bail!("not a whm-tokens backup (no \"format\": \"{FORMAT}\")");
    }
    let version = header["version"].as_u64().unwrap_or(0);
    if version != VERSION {
        anyhow::bail!("backup format version {version}; this binary reads version {VERSION}");
    }
    let schema = header["schema"].as_str().unwrap_or_default().to_owned();
    if schema.as_str() > newest_known {
        anyhow::bail!(
            "the backup comes from a newer release (schema {schema}; this binary knows up to \
             {newest_known}): restore it with that release or a newer one"
        );
    }
    let mut tables = Vec::new();
    for table in header["tables"].as_array().into_iter().flatten() {
        let name = table["name"].as_str().unwrap_or_default().to_owned();
        let spec = TABLES.iter().find(|t| t.name == name).ok_or_else(|| {
            anyhow::anyhow!("the backup has a table this binary does not know: {name}")
        })?;
        let columns: Vec<String> = table["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        if let Some(unknown) = columns
            .iter()
            .find(|c| !spec.columns.iter().any(|s| s.name == c.as_str()))
        {
            anyhow::bail!("the backup has a column this binary does not know: {name}.{unknown}");
        }
        let rows = table["rows"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("the backup's header has no row count for {name}"))?;
        tables.push((name, columns, rows));
    }
    Ok(Header { schema, tables })
}

/// Reads a whole backup once, checking its checksum, header and every
/// row's shape before anything is written. Returns the header and the
/// digests of its tables.
fn verify(file: &Path, newest_known: &str) -> anyhow::Result<(Header, Summary)> {
    let input = std::fs::File::open(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let mut lines = std::io::BufReader::new(input).lines();
    let mut sha = Sha256::new();
    let first = lines
        .next()
        .transpose()?
        .ok_or_else(|| anyhow::anyhow!("the backup is empty"))?;
    sha.update(first.as_bytes());
    sha.update(b"\n");
    let header = read_header(&first, newest_known)?;
    let mut digests: BTreeMap<String, TableDigest> = BTreeMap::new();
    let mut last = None;
    for line in lines {
        let line = line.map_err(|e| anyhow::anyhow!("the backup cannot be read: {e}"))?;
        if let Some(previous) = last.replace(line) {
            sha.update(previous.as_bytes());
            sha.update(b"\n");
            let row: Value = serde_json::from_str(&previous)
                .map_err(|_| anyhow::anyhow!("the backup is corrupt: a row is not JSON"))?;
            let table = row[0].as_str().unwrap_or_default();
            let (_, columns, _) = header
                .tables
                .iter()
                .find(|(name, ..)| name == table)
                .ok_or_else(|| anyhow::anyhow!("the backup is corrupt: a row of no table"))?;
            if row.as_array().map_or(0, Vec::len) != columns.len() + 1 {
                anyhow::bail!("the backup is corrupt: a row of {table} has the wrong shape");
            }
            digests.entry(table.to_owned()).or_default().add(&previous);
        }
    }
    let trailer: Value = last
        .as_deref()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    let Some(expected) = trailer["sha256"].as_str() else {
        anyhow::bail!("the backup is truncated: it has no checksum line");
    };
    if hex::encode(sha.finalize()) != expected {
        anyhow::bail!("the backup's checksum does not match: it was changed or damaged");
    }
    let mut summary = Summary {
        schema: header.schema.clone(),
        ..Summary::default()
    };
    for (name, _, rows) in &header.tables {
        let digest = digests.remove(name).unwrap_or_default().finish();
        if digest.rows != *rows {
            anyhow::bail!(
                "the backup is corrupt: its header counts {rows} rows of {name}, it holds {}",
                digest.rows
            );
        }
        summary.tables.insert(name.clone(), digest);
    }
    Ok((header, summary))
}

/// A value as an SQL literal of `kind` (values were checked by
/// [`canonical_value`] first: hex is hex, numbers are numbers).
fn literal(value: &Value, kind: Kind, backend: Backend) -> String {
    match (value, kind) {
        (Value::Null, _) => "NULL".to_owned(),
        (Value::Bool(b), _) => match backend {
            Backend::Postgres => b.to_string(),
            Backend::Sqlite => u8::from(*b).to_string(),
        },
        (Value::String(hex), Kind::Bytes) => match backend {
            Backend::Postgres => format!("decode('{hex}', 'hex')"),
            Backend::Sqlite => format!("X'{hex}'"),
        },
        (Value::String(text), _) => format!("'{}'", text.replace('\'', "''")),
        (other, _) => other.to_string(),
    }
}

/// The store's newest migration this binary knows.
pub fn newest_known(backend: Backend) -> String {
    super::known_migrations(backend)
        .into_iter()
        .max()
        .unwrap_or_default()
}

/// Restores `file` into the empty store behind `conn`: its migrations
/// first, then every row in one transaction, checked against the backup
/// (row counts and a digest per table) before it commits. A backup that
/// fails any check, or a store that is not empty, changes nothing.
pub fn restore(conn: &mut DbConnection, file: &Path) -> anyhow::Result<Summary> {
    let backend = conn.backend();
    let (header, expected) = verify(file, &newest_known(backend))?;
    // A store that is not empty is refused before anything is done to it
    // (its migrations included): here for one that has tables already,
    // and again below, in the transaction that writes.
    refuse_unless_empty(conn)?;
    run_migrations(conn)?;
    if backend == Backend::Postgres {
        // Literals are written with quotes doubled, nothing else escaped.
        conn.batch_execute("SET standard_conforming_strings = on")?;
    }
    let restored = transaction(conn, |conn| -> anyhow::Result<Summary> {
        refuse_unless_empty(conn)?;
        if backend == Backend::Postgres {
            // Counting tokens row by row updates their owner's row once per
            // token, which PostgreSQL makes slower with every version of
            // it in one transaction: counted once, after.
            conn.batch_execute("ALTER TABLE tokens DISABLE TRIGGER tokens_counted")?;
        }
        insert_rows(conn, file, &header)?;
        // A server may keep an account's names from a store this one
        // replaces (dropped and restored under it): the same id and
        // creation time, and perhaps the same version (0 here on
        // PostgreSQL, its counting trigger off). The restore's own time in
        // milliseconds is a version no count of changes reaches, so every
        // account's names are read again.
        conn.batch_execute(&format!(
            "UPDATE accounts SET token_names_version = {}",
            chrono::Utc::now().timestamp_millis()
        ))?;
        if backend == Backend::Postgres {
            conn.batch_execute(
                "UPDATE accounts SET token_count = \
                 (SELECT COUNT(*) FROM tokens WHERE tokens.account_id = accounts.id); \
                 ALTER TABLE tokens ENABLE TRIGGER tokens_counted",
            )?;
            for table in SEQUENCED {
                conn.batch_execute(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     COALESCE(({}), 0) + 1, false)",
                    highest_id_used(table)
                ))?;
            }
        } else {
            conn.batch_execute(&format!(
                "UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE(({}), 0)) \
                 WHERE name = 'accounts'",
                highest_id_used("accounts")
            ))?;
        }
        let restored = summarize(conn)?;
        for (name, want) in &expected.tables {
            // Read back with the columns the backup holds, so that one made
            // before columns were added compares alike.
            let (_, columns, _) = header
                .tables
                .iter()
                .find(|(n, ..)| n == name)
                .expect("verified");
            let spec = TABLES.iter().find(|t| t.name == name).expect("verified");
            let narrowed = spec.narrowed_to(columns);
            let mut digest = TableDigest::default();
            each_row(conn, &narrowed, |line| {
                digest.add(&line);
                Ok(())
            })?;
            let digest = digest.finish();
            let got = Some((digest.rows, &digest.sha256));
            if got != Some((want.rows, &want.sha256)) {
                anyhow::bail!(
                    "{name} did not come back as it was in the backup ({} rows expected, {} \
                     restored): nothing was written",
                    want.rows,
                    got.map_or(0, |g| g.0)
                );
            }
        }
        Ok(Summary {
            schema: header.schema.clone(),
            tables: restored.tables,
        })
    })?;
    // A store filled in one go has no planner statistics: gathered now,
    // while nothing else waits on the store, rather than by the first
    // server to start on it. The rows are in whether or not this works:
    // a failure is told, not returned (a retry would find the store full).
    if let Err(e) = super::Db::gather_statistics(conn) {
        eprintln!(
            "warning: the planner's statistics could not be gathered ({e}); \
             the server gathers them at its start"
        );
    }
    Ok(restored)
}

/// Refuses a store that holds accounts, tokens or audit events. A store
/// without those tables yet (a new one) is empty.
fn refuse_unless_empty(conn: &mut DbConnection) -> anyhow::Result<()> {
    for table in ["accounts", "tokens", "audit_events"] {
        if !table_exists(conn, table)? {
            continue;
        }
        let n = count(conn, table)?;
        if n > 0 {
            anyhow::bail!(
                "the target store is not empty ({n} rows in {table}): restore only into a new store"
            );
        }
    }
    Ok(())
}

fn insert_rows(conn: &mut DbConnection, file: &Path, header: &Header) -> anyhow::Result<()> {
    let backend = conn.backend();
    let input = std::io::BufReader::new(std::fs::File::open(file)?);
    let mut pending: Vec<String> = Vec::new();
    let mut current: Option<&str> = None;
    let flush = |conn: &mut DbConnection, table: Option<&str>, rows: &mut Vec<String>| {
        let Some(table) = table.filter(|_| !rows.is_empty()) else {
            return Ok::<_, anyhow::Error>(());
        };
        let (_, columns, _) = header
            .tables
            .iter()
            .find(|(name, ..)| name == table)
            .expect("verified");
        conn.batch_execute(&format!(
            "INSERT INTO {table} ({}) VALUES {}",
            columns.join(", "),
            rows.join(", ")
        ))?;
        rows.clear();
        Ok(())
    };
    for line in input.lines().skip(1) {
        let line = line?;
        let row: Value = serde_json::from_str(&line)?;
        let Some(values) = row.as_array() else {
            continue;
        };
        let Some(table) = values.first().and_then(Value::as_str) else {
            continue; // the checksum line
        };
        let (name, columns, _) = header
            .tables
            .iter()
            .find(|(name, ..)| name == table)
            .expect("verified");
        let spec = TABLES.iter().find(|t| t.name == name).expect("verified");
        if current != Some(name.as_str()) {
            flush(conn, current, &mut pending)?;
            current = Some(name.as_str());
        }
        let mut literals = Vec::with_capacity(columns.len());
        for (column, value) in columns.iter().zip(&values[1..]) {
            let c = spec
                .columns
                .iter()
                .find(|c| c.name == column.as_str())
                .expect("verified");
            let value = canonical_value(spec, c, value)?;
            literals.push(literal(&value, c.kind, backend));
        }
        pending.push(format!("({})", literals.join(", ")));
        if pending.len() == BATCH {
            flush(conn, current, &mut pending)?;
        }
    }
    flush(conn, current, &mut pending)
}

/// Row counts and digests of every table, as a backup of the store would
/// hold them now.
pub fn summarize(conn: &mut DbConnection) -> anyhow::Result<Summary> {
    let mut summary = Summary {
        schema: schema_of(conn)?,
        ..Summary::default()
    };
    for table in TABLES {
        let mut digest = TableDigest::default();
        each_row(conn, table, |line| {
            digest.add(&line);
            Ok(())
        })?;
        summary
            .tables
            .insert(table.name.to_owned(), digest.finish());
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_alike_from_either_backend() {
        let accounts = &TABLES[0];
        let from_pg =
            json!([1, "root", "root", null, "h", "all", false, 5, false, "ABcd", 0, null]);
        let from_sqlite = json!([1, "root", "root", null, "h", "all", 0, 5, 0, "abcd", 0, null]);
        assert_eq!(
            canonical_row(accounts, &from_pg).unwrap(),
            canonical_row(accounts, &from_sqlite).unwrap()
        );
        let wrong = json!([1, "root", "root", null, "h", "all", 2, 5, 0, "abcd", 0, null]);
        assert!(canonical_row(accounts, &wrong).is_err());
    }

    #[test]
    fn literals_quote_text_and_write_bytes_and_flags_per_backend() {
        assert_eq!(
            literal(&json!("it's"), Kind::Text, Backend::Sqlite),
            "'it''s'"
        );
        assert_eq!(
            literal(&json!("ab01"), Kind::Bytes, Backend::Sqlite),
            "X'ab01'"
        );
        assert_eq!(
            literal(&json!("ab01"), Kind::Bytes, Backend::Postgres),
            "decode('ab01', 'hex')"
        );
        assert_eq!(literal(&json!(true), Kind::Bool, Backend::Sqlite), "1");
        assert_eq!(literal(&json!(true), Kind::Bool, Backend::Postgres), "true");
        assert_eq!(literal(&Value::Null, Kind::Int, Backend::Postgres), "NULL");
    }
}
