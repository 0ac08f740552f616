#!/usr/bin/env bash
# Lints the API documents, offline:
#   - config_api/openapi.json and dispatch/openapi.json with Redocly CLI
#     (`redocly lint`, its recommended rules: errors fail, warnings are shown);
#   - docs/asyncapi.json with the AsyncAPI parser (@asyncapi/parser: schema
#     and semantic checks; errors fail).
#   tests/lint_api_documents.sh SOURCE_DIR
# The tools come from npm and are not part of the build: install them with
#   npm install -g @redocly/cli @asyncapi/parser
# or into any directory (npm install --prefix DIR ...) and set
# CALLGATE_LINT_TOOLS=DIR. Exits 77 (skipped) when neither tool is there; a
# missing one is named and its check skipped.
set -euo pipefail
root=${1:?usage: lint_api_documents.sh SOURCE_DIR}
tools=${CALLGATE_LINT_TOOLS:-}
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

redocly=""
if [ -n "$tools" ] && [ -x "$tools/node_modules/.bin/redocly" ]; then
  redocly="$tools/node_modules/.bin/redocly"
elif command -v redocly >/dev/null 2>&1; then
  redocly=$(command -v redocly)
fi

node_path=""
[ -n "$tools" ] && node_path="$tools/node_modules"
if command -v npm >/dev/null 2>&1; then
  node_path="$node_path:$(npm root -g 2>/dev/null || true)"
fi
parser=no
if command -v node >/dev/null 2>&1 &&
   NODE_PATH="$node_path" node -e "require.resolve('@asyncapi/parser')" >/dev/null 2>&1; then
  parser=yes
fi

if [ -z "$redocly" ] && [ "$parser" = no ]; then
  echo "skipped: neither redocly nor @asyncapi/parser is installed (see $0)"
  exit 77
fi

failed=0
if [ -n "$redocly" ]; then
  for doc in config_api/openapi.json dispatch/openapi.json; do
    echo "== redocly lint $doc"
    (cd "$root" && "$redocly" lint --format stylish "$doc") || failed=1
  done
else
  echo "skipped: redocly is not installed; the OpenAPI documents were not linted"
fi

if [ "$parser" = yes ]; then
  echo "== @asyncapi/parser docs/asyncapi.json"
  NODE_PATH="$node_path" node - "$root/docs/asyncapi.json" <<'JS' || failed=1
const { Parser } = require('@asyncapi/parser');
const fs = require('fs');
(async () => {
  const { document, diagnostics } = await new Parser().parse(fs.readFileSync(process.argv[2], 'utf8'));
  const severity = ['error', 'warning', 'info', 'hint'];
  for (const d of diagnostics)
    console.log(`${severity[d.severity]} ${d.code} at ${(d.path || []).join('.') || '/'}: ${d.message}`);
  const errors = diagnostics.filter(d => d.severity === 0).length;
  console.log(document && errors === 0 ? 'valid' : `${errors} error(s)`);
  process.exit(document && errors === 0 ? 0 : 1);
})();
JS
else
  echo "skipped: @asyncapi/parser is not installed; docs/asyncapi.json was not validated"
fi
exit $failed
