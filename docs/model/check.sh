#!/usr/bin/env bash
# Model-checks docs/model/partitions.pml with spin: each configuration below is searched
# exhaustively within its bounds. "design" rows must find no error; each BUG_ row (a guard of
# the design removed) and each "code" row (today's code at the point a FIX_ switch changes) must
# find a violation of the property named. Prints a table; exits non-zero if any row differs.
# Needs only spin and gcc; builds in a temporary directory.
#
#   docs/model/check.sh            every row
#   docs/model/check.sh PATTERN    the rows whose name matches PATTERN (grep -E)
set -uo pipefail

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

# The design: today's code with these changes (docs/model/README.md, "What the model found").
FIXES="-DFIX_JOIN_NOT_COUNTED -DFIX_STALE_FENCED_REPLY -DFIX_KEEP_LATE_CHANGES -DFIX_RECORD_SKIPPED
 -DFIX_RECHECK_ON_NEWER_NOTICE -DFIX_CATCHUP_UNTIL_APPLIED -DFIX_RECHECK_AFTER_CUT
 -DFIX_ECHO_COVERS_ONLY_OLDER -DFIX_REREGISTER_AFTER_LOST -DFIX_HOLD_ON_RECONNECT"
FIXES="$(echo $FIXES)"
without() { local f; for f in $FIXES; do [ "$f" = "-D$1" ] || printf '%s ' "$f"; done; }

# Bounds of each search (partitions.pml, "bounds"). Scripts: LB = leave, broadcast;
# JB = leave, join, broadcast; default = leave, broadcast, join, broadcast.
LEAVE="-DSCRIPT_LB -DNFENCE=2 -DNCUT=1 -DNPAUSE=1 -DNLOCAL=1 -DNDEAF=0 -DNTIMEOUT=0"
JOIN="-DSCRIPT_JB -DNFENCE=2 -DNCUT=1 -DNPAUSE=1 -DNLOCAL=0 -DNDEAF=0 -DNTIMEOUT=0"
JOINLOCAL="-DSCRIPT_JB -DNFENCE=2 -DNCUT=0 -DNPAUSE=1 -DNLOCAL=1 -DNDEAF=0 -DNTIMEOUT=0"
RESTART="-DSCRIPT_LB -DNRESTART=1 -DNFENCE=1 -DNCUT=0 -DNPAUSE=1 -DNLOCAL=0 -DNDEAF=0 -DNTIMEOUT=0"
DEAF="-DSCRIPT_JB -DNFENCE=1 -DNCUT=1 -DNPAUSE=0 -DNLOCAL=0 -DNDEAF=1 -DNTIMEOUT=1"
SMALL="-DSCRIPT_LB -DNFENCE=2 -DNCUT=0 -DNPAUSE=1 -DNLOCAL=1 -DNDEAF=0 -DNTIMEOUT=0"
BEATS="-DSCRIPT_LB -DNFENCE=1 -DNCUT=1 -DNPAUSE=1 -DNLOCAL=1 -DNDEAF=0 -DNTIMEOUT=0 -DNTICK=2"

# name | expected: ok, or the property whose violation the search must find | flags
ROWS=(
  "design-leave|ok|$FIXES -DNO_TRUNC $LEAVE"
  "design-join|ok|$FIXES -DNO_TRUNC $JOIN"
  "design-join-local|ok|$FIXES -DNO_TRUNC $JOINLOCAL"
  "design-restart|ok|$FIXES -DNO_TRUNC $RESTART"
  "design-deaf-timeout|ok|$FIXES -DNO_TRUNC $DEAF"
  "BUG_NO_ECHO_WAIT|P5|$FIXES -DBUG_NO_ECHO_WAIT $JOIN"
  "BUG_NOTICE_OUTSIDE_SCRIPT|P4|$FIXES -DBUG_NOTICE_OUTSIDE_SCRIPT $SMALL"
  "BUG_RECORD_UNCONDITIONAL|P1|$FIXES -DBUG_RECORD_UNCONDITIONAL $LEAVE"
  "BUG_RELEASE_BEFORE_CATCHUP|P1|$FIXES -DBUG_RELEASE_BEFORE_CATCHUP $LEAVE"
  "BUG_DROP_HELD|P3|$FIXES -DBUG_DROP_HELD $JOIN"
  "code:JOIN_NOT_COUNTED|P2|$(without FIX_JOIN_NOT_COUNTED) $JOIN"
  "code:STALE_FENCED_REPLY|P5|$(without FIX_STALE_FENCED_REPLY) $JOIN"
  "code:KEEP_LATE_CHANGES|P4|$(without FIX_KEEP_LATE_CHANGES) $LEAVE"
  "code:RECORD_SKIPPED|P1|$(without FIX_RECORD_SKIPPED) $LEAVE"
  "code:RECHECK_ON_NEWER_NOTICE|P1|$(without FIX_RECHECK_ON_NEWER_NOTICE) $LEAVE"
  "code:CATCHUP_UNTIL_APPLIED|P1|$(without FIX_CATCHUP_UNTIL_APPLIED) $LEAVE"
  "code:RECHECK_AFTER_CUT|P1|$(without FIX_RECHECK_AFTER_CUT) $LEAVE"
  "code:ECHO_COVERS_ONLY_OLDER|P4|$(without FIX_ECHO_COVERS_ONLY_OLDER) $BEATS"
  "code:REREGISTER_AFTER_LOST|P5|$(without FIX_REREGISTER_AFTER_LOST) $RESTART"
  "code:HOLD_ON_RECONNECT|P1|$(without FIX_HOLD_ON_RECONNECT) $RESTART"
)

pattern="${1:-}"
selected=()
for row in "${ROWS[@]}"; do
  name="${row%%|*}"
  if [ -z "$pattern" ] || grep -Eq -- "$pattern" <<<"$name"; then selected+=("$row"); fi
done
dirOf() { echo "$work/$(tr -c 'A-Za-z0-9_-' _ <<<"$1")"; }

# Searches that must finish are built with -O2; the others stop at their first error and are
# built faster with -O0.
build() {
  local dir="$1" expected="$2" flags="$3" opt=-O0
  cp "$model" "$dir/"
  [ "$expected" = ok ] && opt=-O2
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
  IFS='|' read -r name expected flags <<<"$row"
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
