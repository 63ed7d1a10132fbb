#!/usr/bin/env bash
# The README's test command: sets everything up, then runs format, lint and type checks, builds the bundle that
# the integration tests run, and runs every test with Deno's op and resource sanitizers switched on.
# The last line printed is "N passed, N failed, N skipped", taken from Deno's own summary.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
deno="$root/scripts/deno"
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

step() {
  local name=$1; shift
  echo "== $name: $*"
  if ! "$@"; then echo "$name failed"; echo "0 passed, 1 failed"; exit 1; fi
}
step fmt "$deno" fmt --check
step lint "$deno" lint
step check "$deno" check
step bundle "$deno" task bundle

log=$(mktemp)
before=$(mktemp)
trap 'rm -f "$log" "$before"' EXIT
# Lab namespaces that exist already (another run on this machine) are not ours to count.
ip netns list 2>/dev/null | awk '{print $1}' | sort >"$before"
"$deno" test -A --sanitize-ops --sanitize-resources --no-check "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# Deno's summary line, for example: "ok | 12 passed (3 steps) | 0 failed | 2 ignored (5ms)"
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1)
passed=$(sed -nE 's/.*\| ([0-9]+) passed.*/\1/p' <<<"$summary")
failed=$(sed -nE 's/.*\| ([0-9]+) failed.*/\1/p' <<<"$summary")
ignored=$(sed -nE 's/.*\| ([0-9]+) ignored.*/\1/p' <<<"$summary")
if [ -z "$passed" ]; then echo "no test summary from deno test"; echo "0 passed, 1 failed"; exit 1; fi
leftover=$(ip netns list 2>/dev/null | awk '{print $1}' | sort | comm -13 "$before" - | grep '^mlt' || true)
if [ -n "$leftover" ]; then
  echo "lab namespaces left behind:" $leftover
  status=1
  failed=$((${failed:-0} + 1))
fi
echo "${passed:-0} passed, ${failed:-0} failed, ${ignored:-0} skipped"
exit "$status"
