#!/usr/bin/env bash
# The live calls' latency beside the dialler: RUNS alternating pairs of 200-call runs
# (agent5-load) on fresh copies of the same 1M-contact database (made by
# agent5-dialer-bench --db, with a running campaign), one with the dialler disabled
# and one with it dialling; prints each run and the medians of each side.
#
# usage: scripts/bench-dialer-alongside.sh AGENT5 AGENT5_LOAD DB [RUNS] [CALLS] [SECS]
set -euo pipefail
bin=$1 load=$2 db=$3 runs=${4:-5} calls=${5:-200} secs=${6:-15}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: >"$work/off" && : >"$work/on"
for i in $(seq "$runs"); do
  for mode in off on; do
    rm -f "$work"/run.db*
    cp "$db" "$work/run.db"
    [ -f "$db-wal" ] && cp "$db-wal" "$work/run.db-wal"
    line=$(AGENT5_LOAD_DB="$work/run.db" AGENT5_LOAD_DIALER=$mode "$load" "$bin" "$calls" "$secs")
    echo "run $i dialler $mode: $line"
    echo "$line" >>"$work/$mode"
  done
done
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
field() { grep -o "$1=[0-9.]*" | cut -d= -f2; }
for mode in off on; do
  c2a=$(sed 's/.*caller->agent p50=[0-9.]*ms p99=\([0-9.]*\)ms.*/\1/' "$work/$mode" | median)
  a2c=$(sed 's/.*agent->caller p50=[0-9.]*ms p99=\([0-9.]*\)ms.*/\1/' "$work/$mode" | median)
  cpu=$(field appliance_cpu <"$work/$mode" | median)
  dials=$(field dialler_dials <"$work/$mode" | median)
  lost=$(grep -o 'lost=[0-9]*' "$work/$mode" | cut -d= -f2 | awk '{s+=$1} END {print s+0}')
  echo "median of $runs, dialler $mode: caller->agent p99=${c2a}ms agent->caller p99=${a2c}ms appliance_cpu=${cpu}% dialler_dials=${dials} frames_lost=${lost}"
done
