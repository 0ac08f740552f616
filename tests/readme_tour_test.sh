#!/usr/bin/env bash
# Runs the README's five-minute tour, as printed, against a real callgate on a
# free port (the tour's 127.0.0.1:8080 and data/ are pointed at it).
#   readme_tour_test.sh CALLGATE_BINARY README
set -euo pipefail
binary="$1"
readme="$2"
work=$(mktemp -d)
pid=""
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

"$binary" serve --data-dir "$work/data" --api-listen 127.0.0.1:0 --edge-listen 127.0.0.1:0 --shutdown-delay 0 \
  >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do [ -s "$work/data/listen.json" ] && break; sleep 0.01; done
api=$(sed -n 's/.*"api": "\([^"]*\)".*/\1/p' "$work/data/listen.json")
[ -n "$api" ] || { cat "$work/log"; exit 1; }

# Every sh block of the tour's section, in order.
awk '/^## / {found = ($0 ~ /^## Five-minute tour/)} found && /^```sh/ {inblock=1; next} inblock && /^```/ {inblock=0; next} inblock {print}' \
  "$readme" >"$work/tour.sh"
[ -s "$work/tour.sh" ] || { echo "no tour found in README"; exit 1; }
edge=$(sed -n 's/.*"edge": "\([^"]*\)".*/\1/p' "$work/data/listen.json")
sed -i "s#http://127.0.0.1:8080#http://$api#g; s#http://127.0.0.1:8081#http://$edge#g" "$work/tour.sh"
# No pipefail: "| head" closes its pipe early, as in anyone's shell.
(cd "$work" && bash -eu tour.sh) >"$work/out" 2>&1 || { cat "$work/out"; exit 1; }

expect() { grep -qF -- "$1" "$work/out" || { echo "tour output lacks: $1"; cat "$work/out"; exit 1; }; }
expect '"agent_handle":"sales-bot"'
expect '"incoming_call_action":"auto_accept","client_websocket_url":"wss://agent.example.com/ws"'
expect '{"detail":"incoming_call_webhook_url is required when incoming_call_action is \"webhook\""}'
expect '"api_key":"cg_'
expect '"signing_key":"whsec_'
expect '{"status":"ready"}'
expect 'callgate_http_requests_total{listener="api",code="200"}'
expect '"openapi": "3.1.0"'
expect '"title": "callgate edge API"'
expect '"action":"answer","source":"config","client_websocket_url":"wss://agent.example.com/ws"'
expect '"decision":{"action":"answer","source":"config","reason":null'
expect '"action":"reject","source":"config","reason":"contact_blocked"'
expect '"organization_id":"'
expect '"is_blocked":true}]'
echo "1 passed, 0 failed"
