#!/usr/bin/env bash
# Times `whm-tokens backup`, `restore` and `copy` on a store of 100,000
# tokens and 1,000,000 audit events (SQLite → file → PostgreSQL → SQLite),
# with each command's peak memory. Needs python3 (its sqlite3 module, to
# seed the store) and a PostgreSQL server (WHM_TOKENS_BENCH_PG_URL, default
# postgres://postgres@127.0.0.1:5432/postgres). Everything stays on this
# machine; the scratch store and database are removed at the end.
#
#   cargo build --release && bash benches/store_moves.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${WHM_TOKENS_BIN:-target/release/whm-tokens}
ADMIN=${WHM_TOKENS_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
TOKENS=${WHM_TOKENS_BENCH_TOKENS:-100000}
EVENTS=${WHM_TOKENS_BENCH_EVENTS:-1000000}
scratch=$(mktemp -d /tmp/whm-moves-XXXXXX)
db="whm_moves_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
base=${ADMIN%/*}
cleanup() {
  psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT
export WHM_TOKENS_DATA_DIR="$scratch" WHM_TOKENS_ROOT_PASSWORD="bench-moves-password"
source="$scratch/source.sqlite3"
DATABASE_URL="$source" "$BIN" migrate 2>/dev/null
python3 - "$source" "$TOKENS" "$EVENTS" <<'PY'
import os, sqlite3, sys
path, tokens, events = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(path)
root = c.execute("SELECT id FROM accounts WHERE username = 'root'").fetchone()[0]
c.executemany(
    "INSERT INTO tokens (account_id, name, digest, created_at, expires_at, allowed_ips, privileges, use_count, enabled, description) VALUES (?, ?, ?, 1700000000, ?, '', '', ?, ?, '')",
    ((root, f"bulk-{i:07d}", os.urandom(32), None if i % 3 else 1800000000 + i, i % 17, int(i % 10 != 0)) for i in range(tokens)))
c.executemany(
    "INSERT INTO audit_events (at, event, actor, actor_id, token, detail, count) VALUES (?, 'api_token_created', 'root', ?, ?, 'bulk', 1)",
    ((1700000000 + i * 30, root, f"bulk-{i % tokens:07d}") for i in range(events)))
c.commit()
PY
measure() {
  local what=$1; shift
  /usr/bin/time -f "%e %M" -o "$scratch/time" "$@" >/dev/null 2>"$scratch/err" || { cat "$scratch/err"; exit 1; }
  read -r secs kib <"$scratch/time"
  printf '| %s | %.1f s | %d MiB |\n' "$what" "$secs" $((kib / 1024))
}
psql "$ADMIN" -qc "CREATE DATABASE $db" >/dev/null
echo "| $TOKENS tokens, $EVENTS audit events | time | peak memory |"
echo "|---|---|---|"
measure "backup (SQLite)" env DATABASE_URL="$source" "$BIN" backup "$scratch/store.backup"
measure "restore (into PostgreSQL)" env DATABASE_URL="$base/$db" "$BIN" restore "$scratch/store.backup"
measure "copy (PostgreSQL → SQLite)" env DATABASE_URL="$base/$db" "$BIN" copy --to "$scratch/back.sqlite3"
echo
echo "backup file: $(du -h "$scratch/store.backup" | cut -f1)"
