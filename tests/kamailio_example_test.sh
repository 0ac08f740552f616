#!/usr/bin/env bash
# Runs examples/kamailio as shipped: the real callgate, two Kamailio instances
# with the example's kamailio.cfg (one with a media bridge, one without) and
# SIPp calls through them, including callgate hung (SIGSTOP) and stopped.
#   kamailio_example_test.sh CALLGATE_BINARY EXAMPLE_DIR
# Exits 77 (skipped) when kamailio or sipp is not installed (scripts/deps installs them).
set -euo pipefail
binary="$1"
example="$2"
for tool in kamailio sipp; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (scripts/deps installs it)"; exit 77; }
done

scale="${CALLGATE_TEST_TIME_SCALE:-1}"
http_timeout=$((scale >= 5 ? 2 : 1)) # Kamailio's HTTP_TIMEOUT, whole seconds
work=$(mktemp -d)
kamailios=()
callgate=""
bridge=""
cleanup() {
  if [ -n "$callgate" ]; then kill -CONT "$callgate" 2>/dev/null || true; fi
  for p in $callgate $bridge "${kamailios[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in $callgate $bridge "${kamailios[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$work"/callgate.log "$work"/*/kamailio.log "$work"/bridge*.out; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
  done
  exit 1
}
# Runs "$@" until it succeeds, for at most $1 seconds (scaled).
eventually() {
  local limit=$(($1 * scale)) start=$SECONDS
  shift
  until "$@"; do
    [ $((SECONDS - start)) -lt "$limit" ] || return 1
    sleep 0.02
  done
}
# Whether something holds UDP port $1 on this machine.
udp_bound() {
  grep -qE "^ *[0-9]+: [0-9A-F]+:$(printf '%04X' "$1") " /proc/net/udp
}
# A UDP port nobody holds, below the ephemeral range that SIPp's own sockets come from.
free_udp_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 12000))
    udp_bound "$port" || { echo "$port"; return; }
  done
}
# Succeeds when a SIP OPTIONS to 127.0.0.1:$1 is answered 200.
sip_ping() {
  local fd request reply=""
  exec {fd}<>"/dev/udp/127.0.0.1/$1" || return 1
  printf -v request '%s\r\n' "OPTIONS sip:ping@127.0.0.1:$1 SIP/2.0" "Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-ping$RANDOM" \
    "From: <sip:test@127.0.0.1>;tag=ping" "To: <sip:ping@127.0.0.1>" "Call-ID: ping-$RANDOM@127.0.0.1" \
    "CSeq: 1 OPTIONS" "Max-Forwards: 70" "Content-Length: 0" ""
  # dd gathers the whole message and writes it with one write(): one datagram.
  printf '%s' "$request" | dd bs=64k iflag=fullblock count=1 status=none >&"$fd" 2>/dev/null || true
  reply=$(timeout 0.5 head -c 11 <&"$fd" 2>/dev/null) || true # one read(): the whole datagram
  exec {fd}>&-
  [ "$reply" = "SIP/2.0 200" ]
}

# callgate, with two identities: one answered, one rejected (+15550999 is nobody's).
key=cg_kamailio_test_admin_key_0123456789
CALLGATE_ADMIN_KEY=$key "$binary" serve --data-dir "$work/data" --api-listen 127.0.0.1:0 --edge-listen 127.0.0.1:0 \
  --log-level warn --shutdown-delay 0 >"$work/callgate.log" 2>&1 &
callgate=$!
eventually 30 test -s "$work/data/listen.json" || fail "callgate did not start"
api=$(sed -n 's/.*"api": "\([^"]*\)".*/\1/p' "$work/data/listen.json")
edge=$(sed -n 's/.*"edge": "\([^"]*\)".*/\1/p' "$work/data/listen.json")
token=$(head -n 1 "$work/data/edge.token")
config() { curl -sf -X "$1" "http://$api$2" -H "X-API-Key: $key" -H 'Content-Type: application/json' -d "$3"; }
identity() {
  local id
  id=$(config POST /identities "{\"agent_handle\": \"$1\", \"phone_number\": \"$2\"}" |
    sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  [ -n "$id" ] || fail "could not create identity $1"
  config PUT /incoming-call-action "{\"agent_identity_id\": \"$id\", $3}" >/dev/null || fail "could not set $1's action"
}
identity sales-bot +15550100 '"incoming_call_action": "auto_accept", "client_websocket_url": "wss://agent.example.com/ws"'
identity closed-bot +15550101 '"incoming_call_action": "auto_reject"'
# A call record (compact JSON), and whether it holds a "key":value pair, e.g. record_has ID status '"failed"'.
record() { curl -sf "http://$api/calls/$1" -H "X-API-Key: $key"; }
record_has() { record "$1" | grep -qF "\"$2\":$3"; }

# Kamailio: the example's kamailio.cfg unchanged, its settings in callgate-local.cfg beside it.
#   start_kamailio NAME SETTINGS...   (sets port_NAME)
start_kamailio() {
  local name="$1" attempt port pid started
  shift
  mkdir -p "$work/$name/run"
  cp "$example/kamailio.cfg" "$work/$name/"
  for attempt in 1 2 3; do # a free port can be taken before Kamailio binds it
    port=$(free_udp_port)
    {
      echo "#!define LISTEN udp:127.0.0.1:$port"
      echo "#!define CALLGATE_URL \"http://$edge\""
      echo "#!define CALLGATE_EDGE_TOKEN \"$token\""
      echo "#!define HTTP_TIMEOUT $http_timeout"
      echo "#!define DECIDE_WORKERS 2"
      printf '%s\n' "$@"
    } >"$work/$name/callgate-local.cfg"
    kamailio -f "$work/$name/kamailio.cfg" -DD -E -Y "$work/$name/run" -m 32 -M 8 >"$work/$name/kamailio.log" 2>&1 &
    pid=$!
    started=$SECONDS
    while kill -0 "$pid" 2>/dev/null && [ $((SECONDS - started)) -lt $((20 * scale)) ]; do
      if sip_ping "$port"; then
        kamailios+=("$pid")
        printf -v "port_$name" '%s' "$port"
        return
      fi
      sleep 0.02
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  fail "kamailio $name did not start"
}
bridge_port=$(free_udp_port)
start_kamailio bridged "#!define MEDIA_BRIDGE \"sip:127.0.0.1:$bridge_port\""
start_kamailio plain '#!define FALLBACK_CODE "480"' '#!define FALLBACK_TEXT "Temporarily Unavailable"'

# One SIPp call: call NAME PORT CALLED CALLER [SCENARIO]. Sets $msg (SIPp's message trace).
calls=0
call() {
  calls=$((calls + 1))
  msg="$work/call$calls.msg"
  local rc=0
  (cd "$work" && sipp -sf "$example/sipp/${5:-caller}.xml" -s "$3" -key caller "$4" -m 1 -d 50 -i 127.0.0.1 \
    "127.0.0.1:$2" -timeout $((20 * scale)) -timeout_error -trace_msg -message_file "$msg" \
    >"$work/call$calls.out" 2>&1) || rc=$?
  [ "$rc" -eq 0 ] || { cat "$msg" 2>/dev/null; fail "$1: SIPp exited $rc: $(tail -n 5 "$work/call$calls.out")"; }
}
# Milliseconds from the caller's INVITE to its final response, by SIPp's clock.
took() {
  awk '/^----* [0-9]/ {split($3, t, ":"); at = t[1] * 3600 + t[2] * 60 + t[3]; next}
       /^INVITE / && !invited {invited = 1; sent = at}
       /^SIP\/2.0 [2-6][0-9][0-9] / {final = at}
       END {if (final < sent) final += 86400; printf "%d\n", (final - sent) * 1000}' "$msg"
}
# The final response the caller got, e.g. "603 Decline".
final() { grep -E '^SIP/2.0 [2-6][0-9][0-9] ' "$msg" | tail -n 1 | sed 's#^SIP/2.0 ##; s/\r$//'; }
# A header of the final response.
final_header() {
  awk -v h="$1:" '/^SIP\/2.0 [2-6][0-9][0-9] / {found = ""} index($0, h) == 1 {found = $0} END {print found}' "$msg" |
    sed "s/^$1: //; s/\r$//"
}
# The call id in Kamailio's 180.
ringing_call_id() { awk '/^SIP\/2.0 180 / {r = 1} r && /^X-Callgate-Call-Id:/ {print $2; exit}' "$msg" | tr -d '\r'; }
# The media bridge stand-in, for one call: start_bridge SCENARIO. Sets $bridge (its pid; wait for it).
start_bridge() {
  (cd "$work" && sipp -sf "$example/sipp/$1.xml" -i 127.0.0.1 -p "$bridge_port" -m 1 -timeout $((20 * scale)) \
    -timeout_error -trace_msg -message_file "$work/$1.msg" -trace_logs -log_file "$work/$1.log" \
    >"$work/$1.out" 2>&1) &
  bridge=$!
  eventually 10 udp_bound "$bridge_port" || fail "the bridge's SIPp ($1) did not start"
}
expect_final() {
  [ "$(final)" = "$2" ] || { cat "$msg"; fail "$1: expected $2, got '$(final)'"; }
  [ "$(final_header Reason)" = "$3" ] || { cat "$msg"; fail "$1: expected Reason '$3', got '$(final_header Reason)'"; }
}

# 1. An identity whose action is auto_reject: 603, callgate's reason, the call id.
call reject "$port_bridged" +15550101 +15550199
expect_final reject "603 Decline" 'SIP;cause=603;text="auto_reject"'
id=$(final_header X-Callgate-Call-Id)
[ -n "$id" ] || fail "reject: no X-Callgate-Call-Id"
record_has "$id" status '"canceled"' || fail "reject: call record $(record "$id")"
record_has "$id" remote_phone_number '"+15550199"' || fail "reject: caller not passed on: $(record "$id")"

# 2. A number nobody has: the engine's reject, unknown_number.
call unknown "$port_bridged" +15550999 +15550199
expect_final unknown "603 Decline" 'SIP;cause=603;text="unknown_number"'
id=$(final_header X-Callgate-Call-Id)
record_has "$id" reason '"unknown_number"' || fail "unknown: call record $(record "$id")"

# 3. A called number the trunk percent-escaped (%2B = +) is the same number.
call escaped "$port_plain" %2B15550101 anonymous
expect_final escaped "603 Decline" 'SIP;cause=603;text="auto_reject"'
id=$(final_header X-Callgate-Call-Id)
record_has "$id" remote_phone_number '"anonymous"' || fail "escaped: call record $(record "$id")"

# 4. auto_accept with a media bridge: 180 from Kamailio, the bridge answers with the
#    decision in hand, the caller hangs up; the call record follows the call.
start_bridge bridge
call answer "$port_bridged" +15550100 +15550199
[ "$(final)" = "200 OK" ] || { cat "$msg"; fail "answer: expected 200 OK from the bridge, got '$(final)'"; }
id=$(ringing_call_id)
[ -n "$id" ] || { cat "$msg"; fail "answer: the 180 has no X-Callgate-Call-Id"; }
wait "$bridge" || fail "answer: the bridge's SIPp exited $? (a decision header missing?)"
bridge=""
grep -q "callgate call $id for wss://agent.example.com/ws" "$work/bridge.log" || fail "answer: bridge got $(cat "$work/bridge.log")"
handshake=$(sed -n "s/.*handshake headers (base64) //p" "$work/bridge.log" | base64 -d)
# {"X-Call-Context":"{\"call_id\":\"<id>\",...}"}: the headers object, ready to send.
[[ $handshake == '{"X-Call-Context":"{\"call_id\":\"'"$id"'\",'* ]] || fail "answer: handshake headers $handshake"
eventually 10 record_has "$id" status '"completed"' || fail "answer: call record $(record "$id")"
record_has "$id" hangup_reason '"remote"' || fail "answer: call record $(record "$id")"
record_has "$id" started_at '"' || fail "answer: never marked answered: $(record "$id")"

# 5. The caller hangs up while the bridge rings: 487, and the record says canceled by the caller.
start_bridge bridge-ringing
call cancel "$port_bridged" +15550100 +15550199 caller-cancel
[ "$(final)" = "487 Request Terminated" ] || { cat "$msg"; fail "cancel: expected 487, got '$(final)'"; }
wait "$bridge" || fail "cancel: the bridge's SIPp exited $?"
bridge=""
id=$(ringing_call_id)
eventually 10 record_has "$id" status '"canceled"' || fail "cancel: call record $(record "$id")"
record_has "$id" hangup_reason '"remote"' || fail "cancel: call record $(record "$id")"

# 6. auto_accept without a media bridge: 180, then 480, and the record says failed.
call no_bridge "$port_plain" +15550100 +15550199
expect_final no_bridge "480 Temporarily Unavailable" 'SIP;cause=480;text="no media bridge"'
grep -q '^SIP/2.0 180 Ringing' "$msg" || fail "no_bridge: no 180"
id=$(final_header X-Callgate-Call-Id)
record_has "$id" status '"failed"' || fail "no_bridge: call record $(record "$id")"

# 7. callgate hung: the fallback (503 by default) once HTTP_TIMEOUT has passed.
kill -STOP "$callgate"
call hung "$port_bridged" +15550100 +15550199
kill -CONT "$callgate"
expect_final hung "503 Service Unavailable" 'SIP;cause=503;text="callgate timed out"'
took=$(took)
[ "$took" -ge $((http_timeout * 1000 - 50)) ] || fail "hung: answered after $took ms, before the timeout"
[ "$took" -le $((http_timeout * 1000 + 1000 * scale)) ] || fail "hung: answered after $took ms"

# 8. callgate stopped: the configured fallback (480 here) at once.
kill "$callgate"
wait "$callgate" || fail "callgate exited $?"
callgate=""
call stopped "$port_plain" +15550100 +15550199
expect_final stopped "480 Temporarily Unavailable" 'SIP;cause=480;text="callgate unreachable"'
took=$(took)
[ "$took" -lt $((http_timeout * 1000)) ] || fail "stopped: answered after $took ms, not at once"

# Nothing went wrong inside Kamailio besides the expected fallbacks.
for log in "$work"/*/kamailio.log; do
  errors=$(grep -E 'ERROR|CRITICAL' "$log" | grep -v '<script>: callgate: call from' || true)
  [ -z "$errors" ] || fail "$log: $errors"
done
echo "1 passed, 0 failed"
