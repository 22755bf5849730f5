#!/usr/bin/env bash
# `make api-fuzz`: schemathesis against every operation of a fresh Baton's /openapi.json.
#
# Starts the server binary ($BATON) on embedded defaults (SQLite in a temporary folder, rooms in
# process, the local runtime) on a free loopback port, with a known admin password and a
# password-check limit high enough that the fuzzer's wrong credentials do not lock it out, then
# runs schemathesis (installed from PyPI into a venv, once) with Basic credentials and the
# checks: no 5xx, documented status codes, content types and headers, and response bodies that
# match their schemas. Exits non-zero on any failure. The server's log is kept on failure.
#
# Settings (environment): BATON (the binary), ST_VENV (the venv, default
# ~/.cache/baton-schemathesis), FUZZ_EXAMPLES (cases per operation and phase, default 50),
# FUZZ_SEED (default 1), FUZZ_PHASES (default examples,coverage,fuzzing,stateful),
# FUZZ_REPORT (the folder of the JUnit report, default target/api-fuzz).
set -euo pipefail

BATON=${BATON:?the path of the server binary}
ST_VERSION=4.32.5
ST_VENV=${ST_VENV:-$HOME/.cache/baton-schemathesis}
FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-50}
FUZZ_SEED=${FUZZ_SEED:-1}
FUZZ_PHASES=${FUZZ_PHASES:-examples,coverage,fuzzing,stateful}
FUZZ_REPORT=${FUZZ_REPORT:-target/api-fuzz}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance

# The CLI's options change between versions: this script is written for $ST_VERSION.
if ! "$ST_VENV/bin/st" --version 2>/dev/null | grep -qx "st, version $ST_VERSION"; then
    python3 -m venv "$ST_VENV"
    "$ST_VENV/bin/pip" install --quiet "schemathesis==$ST_VERSION"
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password="fuzz-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
base="http://127.0.0.1:$port"

BATON_LISTEN="127.0.0.1:$port" \
BATON_DATABASE_URL="sqlite://$work/baton.db?mode=rwc" \
BATON_LOCAL_ROOMS_DIR="$work/rooms" \
BATON_ADMIN_PASSWORD="$password" \
BATON_PASSWORD_CHECK_LIMIT=1000000 \
BATON_VALIDATION_ATTEMPTS=0 \
BATON_HEALTH_TICK_MS=3600000 \
RUST_LOG=${RUST_LOG:-warn} \
    "$BATON" >"$work/server.log" 2>&1 &
server=$!
stop() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
}
trap stop EXIT

for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 0.2
done

mkdir -p "$FUZZ_REPORT"
# Changes take `?wait=` up to 120 s (the health tick is off here, so operations wait it out):
# the request timeout is above that.
set +e
"$ST_VENV/bin/st" run "$base/openapi.json" \
    --auth "admin:$password" \
    --checks "$CHECKS" \
    --phases "$FUZZ_PHASES" \
    --max-examples "$FUZZ_EXAMPLES" \
    --seed "$FUZZ_SEED" \
    --workers 1 \
    --request-timeout 130 \
    --report junit --report-junit-path "$FUZZ_REPORT/junit.xml" \
    --no-color
status=$?
set -e
stop
trap - EXIT
if [ "$status" -ne 0 ]; then
    cp "$work/server.log" "$FUZZ_REPORT/server.log"
    echo "api-fuzz: failures; the server's log is in $FUZZ_REPORT/server.log" >&2
fi
rm -rf "$work"
exit "$status"
