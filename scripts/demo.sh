#!/usr/bin/env bash
# The README's main command: sets up, builds the bundle and runs the Layer-2 failover demo in a namespace lab.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
scripts/deno task bundle >/dev/null
exec scripts/deno task demo "$@"
