#!/bin/sh
# Interleaved runs of every variant (see README.md): ROUNDS rounds of
# flate2 / flate2t / rgz1 / rgz2 / rgz2 with the marker path forced (or $VARIANTS), on BLOB, output MODE (sha|null).
# One line per run: variant, mode, wall s, user s, sys s, peak RSS KB, decoder path.
# FORCED is the binary built from the patched crate (README.md), empty to skip that variant.
set -eu
BLOB=$1 MODE=$2 ROUNDS=${3:-3}
BIN=${BIN:-target/release/pinflate}
FORCED=${FORCED:-}
for r in $(seq "$ROUNDS"); do
  echo "# round $r, load $(cut -d' ' -f1 /proc/loadavg)"
  for v in ${VARIANTS:-flate2 flate2t rgz1 rgz2 forced2}; do
    case $v in
      forced2) [ -n "$FORCED" ] || continue
               cmd="env PINFLATE_FORCE_MARKER=1 $FORCED $BLOB rgz2 $MODE" ;;
      *) cmd="$BIN $BLOB $v $MODE" ;;
    esac
    out=$(/usr/bin/time -f "TIME %e %U %S %M" $cmd 2>&1)
    t=$(echo "$out" | grep '^TIME' | cut -d' ' -f2-)
    p=$(echo "$out" | grep -o 'path [A-Za-z]*' | head -1)
    d=$(echo "$out" | grep -o 'sha256 [0-9a-f]*' | cut -c8-19)
    echo "$v $MODE $t $p $d"
  done
done
