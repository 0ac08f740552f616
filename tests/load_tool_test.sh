#!/usr/bin/env bash
# Runs callgate-load briefly against the real engine and checks that what it
# says it sent is what arrived: its counts against the engine's own metrics
# and call records.
#   load_tool_test.sh CALLGATE_BINARY CALLGATE_LOAD_BINARY
set -euo pipefail
binary="$1"
load="$2"
work=$(mktemp -d)
pid=""
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

key=cg_load_test_admin_key_0123456789
CALLGATE_ADMIN_KEY=$key "$binary" serve --data-dir "$work/data" --api-listen 127.0.0.1:0 --edge-listen 127.0.0.1:0 \
  --allow-insecure-urls --allow-private-destinations --log-level warn --shutdown-delay 0 >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do [ -s "$work/data/listen.json" ] && break; sleep 0.01; done
api=$(sed -n 's/.*"api": "\([^"]*\)".*/\1/p' "$work/data/listen.json")
edge=$(sed -n 's/.*"edge": "\([^"]*\)".*/\1/p' "$work/data/listen.json")
token=$(head -n 1 "$work/data/edge.token")
metric() { curl -sf "http://$api/metrics" | awk -v m="$1" 'index($0, m) == 1 {print $NF}'; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# Bad usage is one line and exit 2.
set +e
"$load" bogus >"$work/usage" 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "unknown scenario exit code $rc"
grep -q "unknown scenario" "$work/usage" || fail "no clear error for an unknown scenario"
"$load" --help | grep -q -- "--max-p99" || fail "--help lacks the flags"
"$load" --version | grep -q "^callgate-load [0-9]" || fail "--version does not print the version"
# A run whose every call fails exits 3 without being asked to (the default error-rate gate).
set +e
"$load" decide --edge-url 127.0.0.1:1 --edge-token x --no-setup --rate 50 --duration 1 >"$work/dead.txt" 2>&1; rc=$?
set -e
[ "$rc" -eq 3 ] || fail "a run of failed calls exited $rc: $(tail -n 3 "$work/dead.txt")"
grep -q "FAIL: error rate" "$work/dead.txt" || fail "no clear message for the failed calls"

# A --compare file that is not a result of the tool: exit 2 before any load.
echo '{"rate": 1}' >"$work/not-a-run.json"
set +e
"$load" decide --edge-url 127.0.0.1:1 --edge-token x --no-setup --compare "$work/not-a-run.json" >"$work/cmp.txt" 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "not a callgate-load --json file" "$work/cmp.txt" || fail "bad --compare file: rc $rc, $(cat "$work/cmp.txt")"

# decide, open loop: the engine counted exactly the calls the tool completed;
# a first, slower run is drawn beside it (--compare).
"$load" decide --edge-url "$edge" --api-url "$api" --edge-token "$token" --api-key "$key" \
  --rate 200 --duration 1 --json "$work/before.json" >/dev/null
answered_before=$(metric 'callgate_decisions_total{action="answer",source="config"}')
"$load" decide --edge-url "$edge" --api-url "$api" --edge-token "$token" --api-key "$key" \
  --rate 400 --duration 2 --identities 3 --json "$work/decide.json" --html "$work/report.html" \
  --compare "$work/before.json" >"$work/decide.txt"
completed=$(json "$work/decide.json" 'd["completed"]')
answered=$(json "$work/decide.json" 'd["outcomes"].get("answer", 0)')
[ "$completed" -ge 700 ] || fail "only $completed decisions completed at 400/s for 2 s"
[ "$(json "$work/decide.json" 'd["errors"]')" -eq 0 ] || fail "decide errors: $(cat "$work/decide.txt")"
engine=$(( $(metric 'callgate_decisions_total{action="answer",source="config"}') - answered_before ))
[ "$engine" -eq "$answered" ] || fail "tool answered $answered, engine counted $engine"
records=$(curl -sf "http://$api/calls?limit=200" -H "X-API-Key: $key" | grep -o '"status":"ringing"' | wc -l)
[ "$records" -eq 200 ] || fail "expected a full page of call records, got $records"
# The tool cleaned up its identities.
total=$(curl -sf "http://$api/identities" -H "X-API-Key: $key" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')
[ "$total" -eq 0 ] || fail "$total identities left behind"

# bridge: frames the tool sent edge->agent are the frames the engine relayed.
before=$(metric 'callgate_media_frames_total{direction="edge_to_client"}')
"$load" bridge --edge-url "$edge" --api-url "$api" --edge-token "$token" --api-key "$key" \
  --concurrency 5 --rate 5 --duration 1 --call-duration 2 --json "$work/bridge.json" >"$work/bridge.txt"
sent=$(json "$work/bridge.json" 'd["frames"]["edge_to_agent"]["sent"]')
received=$(json "$work/bridge.json" 'd["frames"]["edge_to_agent"]["received"]')
after=$(metric 'callgate_media_frames_total{direction="edge_to_client"}')
calls=$(json "$work/bridge.json" 'd["outcomes"].get("answer", 0)')
[ "$calls" -eq 5 ] || fail "expected 5 answered calls: $(cat "$work/bridge.txt")"
# The engine relays the tool's frames plus one start and one stop per call.
[ $((after - before)) -eq $((sent + 2 * calls)) ] || fail "engine relayed $((after - before)), tool sent $sent (+$((2 * calls)) start/stop)"
[ "$received" -eq "$sent" ] || fail "agent received $received of $sent"
[ "$(metric 'callgate_bridged_calls_active')" -eq 0 ] || fail "calls still active"

# A threshold that cannot be met fails the run with exit 3.
set +e
"$load" decide --edge-url "$edge" --edge-token "$token" --no-setup --rate 100 --duration 1 --max-error-rate 0 \
  >"$work/gate.txt" 2>&1; rc=$?
set -e
[ "$rc" -eq 0 ] || fail "unknown numbers are rejects, not errors (rc $rc)"
set +e
"$load" decide --edge-url "$edge" --edge-token "$token" --no-setup --rate 100 --duration 1 --max-p99 0.000001 \
  >"$work/gate.txt" 2>&1; rc=$?
set -e
[ "$rc" -eq 3 ] || fail "--max-p99 breach exit code $rc"
grep -q "FAIL: p99" "$work/gate.txt" || fail "no clear message for the breached gate"
# The HTML report: charts a person can open, checked in headless Chromium.
grep -q "<svg" "$work/report.html" || fail "the report has no charts"
grep -q "p99 latency over time" "$work/report.html" || fail "the report lacks latency over time"
grep -q "Latency by percentile" "$work/report.html" || fail "the report lacks the percentile chart"
for mark in p50 p90 p99 p99.9 p99.99; do
  grep -q "class='tick'>$mark<" "$work/report.html" || fail "the percentile axis lacks $mark"
done
# Round ticks: no exponents, no long fractions.
if grep -o "class='tick'>[^<]*<" "$work/report.html" | grep -Eq "e[+-]|\.[0-9]{4,}"; then
  fail "unround tick labels: $(grep -o "class='tick'>[^<]*<" "$work/report.html" | sort -u | tr '\n' ' ')"
fi
# Each chart names both runs: scenario, load and date.
[ "$(json "$work/decide.json" 'd["parameters"]')" = "open loop, 400 calls/s, 2 s, 3 identities" ] ||
  fail "parameters: $(json "$work/decide.json" 'd["parameters"]')"
date=$(json "$work/decide.json" 'd["date"]')
[[ "$date" =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]\ [0-9][0-9]:[0-9][0-9]\ UTC$ ]] || fail "date: $date"
[ "$(grep -o "this run: decide, open loop, 400 calls/s, 2 s, 3 identities, $date" "$work/report.html" | wc -l)" -eq 3 ] ||
  fail "not every chart is captioned with this run"
[ "$(grep -o "compared with: decide, open loop, 200 calls/s, 1 s, 1 identity" "$work/report.html" | wc -l)" -eq 3 ] ||
  fail "not every chart shows the compared run"
grep -q "compared with $work/before.json" "$work/decide.txt" || fail "no comparison printed: $(tail -n 3 "$work/decide.txt")"
chromium=$(command -v chromium || true)
[ -n "$chromium" ] || fail "chromium is not installed (scripts/deps installs it)"
timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$work/chromium" \
  --window-size=900,1500 --screenshot="$work/report.png" "file://$work/report.html" >/dev/null 2>&1 || true
[ -s "$work/report.png" ] || fail "headless Chromium made no screenshot of the report"
size=$(stat -c %s "$work/report.png")
[ "$size" -gt 20000 ] || fail "the screenshot is suspiciously small ($size bytes): blank page?"
python3 - "$work/report.png" <<'PY' || fail "the screenshot is blank"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, width, height = 8, b"", 0, 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height = struct.unpack(">II", body[:8])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
raw = zlib.decompress(idat)
# Count distinct byte values in the image data: a rendered report has many, a blank page few.
assert len(set(raw[: len(raw) // 2])) > 20, "too few colours"
PY
if [ -n "${CALLGATE_REPORT_SCREENSHOT:-}" ]; then cp "$work/report.png" "$CALLGATE_REPORT_SCREENSHOT"; fi
echo "1 passed, 0 failed"
