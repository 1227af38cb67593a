#!/usr/bin/env bash
# What an operator's CSV upload does to the live calls, and what the background
# priority changes: RUNS rounds of CALLS calls (agent5-load) with one ROWS-row upload
# through the API once every call streams, the same binary with `background_nice = 10`
# and `= 0` alternating. Prints each run and the medians per setting. Loopback only.
#
# usage: scripts/bench-import-beside.sh AGENT5 AGENT5_LOAD [RUNS] [CALLS] [ROWS]
set -euo pipefail
bin=$1 load=$2 runs=${3:-4} calls=${4:-500} rows=${5:-100000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq "$runs"); do
  for nice in 10 0; do
    line=$(AGENT5_LOAD_SERVER="background_nice = $nice" AGENT5_LOAD_IMPORT=$rows "$load" "$bin" "$calls" 15)
    echo "run $i background_nice=$nice: $line"
    echo "$line" >>"$work/$nice"
  done
done
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
for nice in 10 0; do
  c2a=$(grep -o 'steady_p99=[0-9.]*' "$work/$nice" | cut -d= -f2 | median)
  a2c=$(grep -o 'steady_p99=[0-9.]*ms/[0-9.]*' "$work/$nice" | cut -d/ -f2 | median)
  secs=$(grep -o 'import_secs=[0-9.]*' "$work/$nice" | cut -d= -f2 | median)
  lost=$(grep -o 'lost=[0-9]*' "$work/$nice" | cut -d= -f2 | awk '{s+=$1} END {print s+0}')
  echo "median of $runs, background_nice=$nice: steady p99 caller->agent=${c2a}ms agent->caller=${a2c}ms import_secs=${secs} frames_lost=${lost}"
done
