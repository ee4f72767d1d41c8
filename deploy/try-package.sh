#!/usr/bin/env bash
# Builds the Debian package with `cargo deb`, installs it on this machine
# with dpkg -i, runs the installed binary's `migrate` and `serve` against a
# scratch store on 127.0.0.1, signs in on the page and calls the API with a
# token, then purges the package. Needs root (dpkg) and cargo-deb
# (`cargo install cargo-deb --locked`).
#
#   bash deploy/try-package.sh                 # the release build, as shipped
#   WHM_TOKENS_PACKAGE_PROFILE=dev bash deploy/try-package.sh
#                                              # the binary `cargo test` built (CI)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "try-package: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run it as root: it installs a package"
command -v cargo-deb >/dev/null || fail "cargo-deb is missing: cargo install cargo-deb --locked"
if [ "$(dpkg-query -W -f='${Status}' whm-tokens 2>/dev/null)" = "install ok installed" ]; then
  fail "whm-tokens is installed already; this script would remove it"
fi

profile="${WHM_TOKENS_PACKAGE_PROFILE:-release}"
echo "== building the package ($profile profile)"
deb=$(cargo deb --profile "$profile" 2>/dev/null | tail -n1)
[ -f "$deb" ] || fail "cargo deb made no package"
echo "$deb"

scratch=$(mktemp -d /tmp/whm-package-XXXXXX)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  dpkg --purge whm-tokens >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

echo "== installing it"
dpkg -i "$deb" >/dev/null
[ -x /usr/bin/whm-tokens ] || fail "no /usr/bin/whm-tokens"
[ -f /usr/lib/systemd/system/whm-tokens.service ] || fail "no unit"
[ "$(stat -c %a /etc/default/whm-tokens)" = 600 ] || fail "/etc/default/whm-tokens is not 600"
if pgrep -f "^/usr/bin/whm-tokens serve" >/dev/null; then
  fail "the package started the service"
fi

echo "== migrate and serve, on a scratch store"
export WHM_TOKENS_DATA_DIR="$scratch"
export WHM_TOKENS_ROOT_PASSWORD="package-check-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
/usr/bin/whm-tokens migrate
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
WHM_TOKENS_LISTEN="127.0.0.1:$port" /usr/bin/whm-tokens serve >"$scratch/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$scratch/serve.log"; fail "serve exited"; }
  sleep 0.1
done
[ "$(curl -fsS "$base/readyz")" = ready ] || fail "not ready"

echo "== signing in"
jar="$scratch/cookies"
csrf=$(curl -fsS -c "$jar" -b "$jar" "$base/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n1)
[ -n "$csrf" ] || fail "no CSRF token on the sign-in page"
status=$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" \
  --data-urlencode "csrf_token=$csrf" --data-urlencode "username=root" \
  --data-urlencode "password=$WHM_TOKENS_ROOT_PASSWORD" "$base/login")
[ "$status" = 303 ] || fail "sign-in answered $status"
# Read whole, then searched: `grep -q` stopping early would fail curl's
# write (and the pipeline) now and then.
page=$(curl -fsS -b "$jar" "$base/tokens")
case "$page" in
  *"Manage API Tokens"*) ;;
  *) fail "no tokens page after signing in" ;;
esac

echo "== calling the API with a token"
secret=$(/usr/bin/whm-tokens api api_token_create token_name=package-check \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
answer=$(curl -fsS -H "Authorization: whm root:$secret" "$base/json-api/version?api.version=1")
echo "$answer" | python3 -c 'import json,sys; a=json.load(sys.stdin); assert a["metadata"]["result"] == 1, a' \
  || fail "the API refused the token: $answer"

echo "== stopping and removing it"
kill -TERM "$server"
wait "$server" || fail "serve did not exit 0 on SIGTERM"
server=""
dpkg --purge whm-tokens >/dev/null
[ ! -e /usr/bin/whm-tokens ] && [ ! -e /etc/default/whm-tokens ] || fail "files are left after dpkg --purge"
echo "try-package: the package installs, migrates, serves, signs in, answers the API and is removed"
