#!/usr/bin/env bash
# Installs everything the tests and the demo need: the pinned Deno (via scripts/deno) and, when running as
# root, the Debian tools the namespace lab drives (iproute2, arping, ndisc6, tcpdump, BIRD 2, FRR, GoBGP, kubectl).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/deno" --version >/dev/null

# command -> Debian package that provides it
declare -A tools=(
  [ip]=iproute2 [arping]=arping [ndisc6]=ndisc6 [tcpdump]=tcpdump [bird]=bird2 [birdc]=bird2
  [gobgpd]=gobgpd [gobgp]=gobgpd [kubectl]=kubectl [ping]=iputils-ping
)
missing=()
for cmd in "${!tools[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${tools[$cmd]}"); done
[ -x /usr/lib/frr/bgpd ] || missing+=(frr)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" != 0 ]; then
  echo "metallite: not root, so not installing ${missing[*]}; lab tests that need them will be skipped" >&2
  exit 0
fi
echo "metallite: apt-get install ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || true
# kubectl may come from a repository this machine lacks: install the rest even when it fails.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | grep -vx kubectl) >&2 || true
