#!/bin/sh
# SYN-flood cost ratio: N and 10 N unanswered SYNs (scripts/make-synflood.py), analysed by BIN;
# prints wall time and peak RSS of each and their ratios, fails when 10x the SYNs costs more
# than 10.5x the time or the memory (the memory is dominated by the connection records kept
# until the end, one per SYN; the flow table is bounded by TcpConfig::max_connections).
#
#   scripts/synflood-ratio.sh [N] [BIN ARGS...]
#   default: N = 500000, BIN = target/release/pcapstat analyze --format json
#   e.g. scripts/synflood-ratio.sh 500000 target/release/examples/connections
set -eu
N=${1:-500000}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- target/release/pcapstat analyze --format json
DIR=${TMPDIR:-/tmp}
here=$(dirname "$0")
for n in "$N" $((N * 10)); do
    f="$DIR/synflood-$n.pcap"
    [ -s "$f" ] || python3 "$here/make-synflood.py" "$n" "$f"
    cat "$f" > /dev/null # page cache
    /usr/bin/time -f "%e %M" -o "$DIR/synflood-$n.time" "$@" "$f" > /dev/null
    read -r wall rss < "$DIR/synflood-$n.time"
    echo "$n SYNs: $wall s, $((rss / 1024)) MiB peak RSS"
done
read -r w1 m1 < "$DIR/synflood-$N.time"
read -r w10 m10 < "$DIR/synflood-$((N * 10)).time"
awk -v w1="$w1" -v w10="$w10" -v m1="$m1" -v m10="$m10" 'BEGIN {
    tw = (w1 > 0) ? w10 / w1 : 0; tm = m10 / m1
    printf "10x SYNs: %.2fx time, %.2fx memory (limit 10.5x)\n", tw, tm
    exit (tw > 10.5 || tm > 10.5) ? 1 : 0
}'
