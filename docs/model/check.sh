#!/usr/bin/env bash
# Model-checks docs/model/partitions.pml with spin: each configuration below is searched
# exhaustively within its bounds. "design" rows (the code as it is) must find no error; each
# BUG_ row (one guard of the code removed) must find a violation of the property named. Prints
# a table; exits non-zero if any row differs. Needs only spin and gcc; builds in a temporary
# directory.
#
#   docs/model/check.sh                  the quick rows (under a minute on two cores)
#   docs/model/check.sh --full           every row, with the larger bounds (some 3 CPU-minutes)
#   docs/model/check.sh [--full] PATTERN the rows whose name matches PATTERN (grep -E)
set -uo pipefail

full=false
if [ "${1:-}" = --full ]; then full=true; shift; fi

here="$(cd "$(dirname "$0")" && pwd)"
model="$here/partitions.pml"
for tool in spin gcc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check.sh: $tool is not installed (Debian: apt-get install -y spin gcc)" >&2
    exit 2
  fi
done
work="$(mktemp -d "${TMPDIR:-/tmp}/partitions-model.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Bounds of each search (partitions.pml, "bounds"). Scripts: LB = leave, broadcast;
# JB = leave, join, broadcast; default = leave, broadcast, join, broadcast.
SMALL="-DSCRIPT_LB -DNFENCE=2 -DNCUT=0 -DNPAUSE=1 -DNLOCAL=1 -DNDEAF=0 -DNTIMEOUT=0"
JOINLOCAL="-DSCRIPT_JB -DNFENCE=2 -DNCUT=0 -DNPAUSE=1 -DNLOCAL=1 -DNDEAF=0 -DNTIMEOUT=0"
JOIN="-DSCRIPT_JB -DNFENCE=2 -DNCUT=1 -DNPAUSE=1 -DNLOCAL=0 -DNDEAF=0 -DNTIMEOUT=0"
RESTART="-DSCRIPT_LB -DNRESTART=1 -DNFENCE=1 -DNCUT=0 -DNPAUSE=1 -DNLOCAL=0 -DNDEAF=0 -DNTIMEOUT=0"
DEAF="-DSCRIPT_JB -DNFENCE=1 -DNCUT=1 -DNPAUSE=0 -DNLOCAL=0 -DNDEAF=1 -DNTIMEOUT=1"
BEATS="-DSCRIPT_LB -DNFENCE=1 -DNCUT=1 -DNPAUSE=1 -DNLOCAL=1 -DNDEAF=0 -DNTIMEOUT=0 -DNTICK=2"
LEAVE="-DSCRIPT_LB -DNFENCE=2 -DNCUT=1 -DNPAUSE=1 -DNLOCAL=1 -DNDEAF=0 -DNTIMEOUT=0"
ALLOPS="-DNFENCE=1 -DNCUT=1 -DNPAUSE=1 -DNLOCAL=1 -DNDEAF=0 -DNTIMEOUT=0"

# name | expected: ok, or the property whose violation the search must find | tier | flags.
# Each BUG_ row uses the smallest bounds (of those above) in which its counterexample exists.
ROWS=(
  "design-small|ok|quick|-DNO_TRUNC $SMALL"
  "design-join-local|ok|quick|-DNO_TRUNC $JOINLOCAL"
  "design-join|ok|quick|-DNO_TRUNC $JOIN"
  "design-restart|ok|quick|-DNO_TRUNC $RESTART"
  "design-deaf-timeout|ok|quick|-DNO_TRUNC $DEAF"
  "design-beats|ok|full|-DNO_TRUNC $BEATS"
  "design-leave|ok|full|-DNO_TRUNC $LEAVE"
  "design-all-ops|ok|full|-DNO_TRUNC $ALLOPS"
  "BUG_APPLY_EXCLUDED|P2|quick|-DBUG_APPLY_EXCLUDED $JOINLOCAL"
  "BUG_CLEAR_ON_RELEASE|P4|quick|-DBUG_CLEAR_ON_RELEASE $BEATS"
  "BUG_COUNT_AT_END|P1|quick|-DBUG_COUNT_AT_END $SMALL"
  "BUG_CUT_NOT_MARKED|P3|quick|-DBUG_CUT_NOT_MARKED $DEAF"
  "BUG_DIRECT_NOT_RECORDED|P1|quick|-DBUG_DIRECT_NOT_RECORDED $SMALL"
  "BUG_DROP_HELD|P3|quick|-DBUG_DROP_HELD $JOINLOCAL"
  "BUG_ECHO_DROPS_OPEN|P4|quick|-DBUG_ECHO_DROPS_OPEN $BEATS"
  "BUG_HANDOVER_DELETED|P1|quick|-DBUG_HANDOVER_DELETED $BEATS"
  "BUG_HELLO_ON_RECONNECT|P1|quick|-DBUG_HELLO_ON_RECONNECT $RESTART"
  "BUG_LOST_NOT_COUNTED|P5|quick|-DBUG_LOST_NOT_COUNTED $RESTART"
  "BUG_NOTICE_NOT_COUNTED|P1|quick|-DBUG_NOTICE_NOT_COUNTED $BEATS"
  "BUG_NOTICE_OUTSIDE_SCRIPT|P1|quick|-DBUG_NOTICE_OUTSIDE_SCRIPT $SMALL"
  "BUG_NO_ECHO_WAIT|P5|quick|-DBUG_NO_ECHO_WAIT $JOIN"
  "BUG_RECORD_UNCONDITIONAL|P1|quick|-DBUG_RECORD_UNCONDITIONAL $SMALL"
  "BUG_RELEASE_BEFORE_CATCHUP|P1|quick|-DBUG_RELEASE_BEFORE_CATCHUP $SMALL"
  "BUG_RESET_TRUSTS_REPLY|P5|quick|-DBUG_RESET_TRUSTS_REPLY $RESTART"
  "BUG_STALE_FENCED|P5|quick|-DBUG_STALE_FENCED $SMALL"
)

pattern="${1:-}"
selected=()
for row in "${ROWS[@]}"; do
  IFS='|' read -r name _ tier _ <<<"$row"
  [ "$tier" = full ] && ! $full && continue
  if [ -z "$pattern" ] || grep -Eq -- "$pattern" <<<"$name"; then selected+=("$row"); fi
done
dirOf() { echo "$work/$(tr -c 'A-Za-z0-9_-' _ <<<"$1")"; }

# Searches that must finish are built with -O1 (faster to build than -O2, as fast to run); the
# others stop at their first error and are built faster with -O0.
build() {
  local dir="$1" expected="$2" flags="$3" opt=-O0
  cp "$model" "$dir/"
  [ "$expected" = ok ] && opt=-O1
  # shellcheck disable=SC2086
  (cd "$dir" && spin -a $flags partitions.pml >spin.log 2>&1 && gcc -w $opt -DSAFETY -DMEMLIM=4000 -o pan pan.c >gcc.log 2>&1)
}

# One row: build, search, and what it found, written to $dir/result.
runRow() {
  local name="$1" expected="$2" flags="$3" dir log errors states depth secs mb found mark=""
  dir="$(dirOf "$name")"
  if ! build "$dir" "$expected" "$flags"; then
    printf '%-30s %-8s %-8s  <-- build failed: %s\n' "$name" "$expected" BUILD "$dir" >"$dir/result"
    cat "$dir/spin.log" "$dir/gcc.log" >&2
    return
  fi
  (cd "$dir" && ./pan -m100000 -w24 >pan.log 2>&1)
  log="$dir/pan.log"
  errors="$(grep -o 'errors: [0-9]*' "$log" | awk '{print $2}')"
  states="$(grep 'states, stored' "$log" | awk '{print $1}')"
  depth="$(grep -o 'depth reached [0-9]*' "$log" | awk '{print $3}')"
  secs="$(grep -o 'elapsed time [0-9.e+]*' "$log" | awk '{print $3}')"
  mb="$(grep 'total actual memory usage' "$log" | awk '{printf "%d", $1}')"
  found=ok
  if [ "${errors:-0}" != 0 ]; then
    # shellcheck disable=SC2086
    found="$(cd "$dir" && spin -t $flags partitions.pml 2>/dev/null | grep -o 'P[1-6] violated' | head -1 | cut -c1-2)"
    found="${found:-error}"
  elif grep -q 'Search not completed' "$log" || [ -z "$errors" ]; then
    found=INCOMPLETE
  fi
  [ "$found" != "$expected" ] && mark="  <-- expected $expected"
  printf '%-30s %-8s %-8s %11s %6s %8s %8s%s\n' "$name" "$expected" "$found" "${states:-?}" "${depth:-?}" "${secs:-?}" "${mb:-?}" "$mark" >"$dir/result"
}

# Rows run as $JOBS parallel jobs (default: one per CPU; each is CPU-bound).
jobs="${JOBS:-$(nproc 2>/dev/null || echo 1)}"
running=0
for row in "${selected[@]}"; do
  IFS='|' read -r name expected _ flags <<<"$row"
  mkdir -p "$(dirOf "$name")"
  runRow "$name" "$expected" "$flags" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

failed=0
printf '%-30s %-8s %-8s %11s %6s %8s %8s\n' configuration expected found states depth seconds MB
for row in "${selected[@]}"; do
  name="${row%%|*}"
  result="$(dirOf "$name")/result"
  if [ -s "$result" ]; then cat "$result"; else printf '%-30s did not run\n' "$name"; failed=1; continue; fi
  grep -q -- '<--' "$result" && failed=1
done
exit "$failed"
