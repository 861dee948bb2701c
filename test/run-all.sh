#!/usr/bin/env bash
# Runs every suite on the embedded PGlite, then the database-backed suites again on the
# machine's PostgreSQL (127.0.0.1:5432, user postgres), then, alone, the failover suite that restarts
# that PostgreSQL. Prints one closing "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."

PG_URL="${ANVIL_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
report_dir=$(mktemp -d)
status=0

echo "== typecheck"
npx tsc --noEmit -p tsconfig.json || status=1

echo "== lint and format (biome)"
npx biome check . || status=1

# test/failover restarts the shared PostgreSQL cluster: never in the parallel runs, only in its own step below.
echo "== all suites on PGlite"
ANVIL_TEST_DB=pglite npx vitest run --exclude 'test/failover/**' --reporter=default --reporter=json --outputFile="$report_dir/pglite.json" || status=1

if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || psql "$PG_URL" -Atc 'select 1' >/dev/null 2>&1; then
  echo "== database-backed suites on PostgreSQL"
  ANVIL_TEST_DB=postgres ANVIL_TEST_PG_URL="$PG_URL" npx vitest run test/api test/multinode --exclude 'test/failover/**' \
    --reporter=default --reporter=json --outputFile="$report_dir/postgres.json" || status=1

  echo "== failover: PostgreSQL restarted under issuance load (alone: it restarts the cluster)"
  ANVIL_TEST_DB=postgres ANVIL_TEST_PG_URL="$PG_URL" npx vitest run test/failover \
    --reporter=default --reporter=json --outputFile="$report_dir/failover.json" || status=1
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL at 127.0.0.1:5432 is not reachable; under CI that is a failure" >&2
  status=1
else
  echo "!!! SKIPPING the PostgreSQL run: nothing answers on 127.0.0.1:5432" >&2
fi

node -e '
  const fs = require("fs"); let passed = 0, failed = 0, skipped = 0;
  for (const f of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(process.argv[1] + "/" + f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + (r.numTodoTests || 0);
  }
  console.log(`Tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$report_dir"
exit $status
