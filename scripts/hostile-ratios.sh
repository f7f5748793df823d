#!/bin/sh
# Issue #14's hostile inputs at 1x and 10x (docs/limits.md): wall time and peak RSS of each run
# and their ratios, as one markdown table. Every capture goes through standard input, so peak
# RSS is the analysis' memory, not the memory-mapped file.
#
#   scripts/hostile-ratios.sh [WORKDIR]        (default: ${TMPDIR:-/tmp}/pcapstat-hostile)
#
# Needs the release binaries in BIN (default target/release, or $CARGO_TARGET_DIR/release):
#   cargo build --release -p pcapstat-cli
#   cargo build --release -p pcapstat-core --example stream
# `stream` is the core pipeline with a sink that keeps no row (what `pcapstat analyze` runs
# before its report). The DNS input starts at 300 k queries: its 1x must fill the matcher's
# limits (100 000 waiting queries, retry candidates and lookups) for 10x to show the bound.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BIN=${BIN:-${CARGO_TARGET_DIR:-$root/target}/release}
W=${1:-${TMPDIR:-/tmp}/pcapstat-hostile}
mkdir -p "$W"
PCAPSTAT="$BIN/pcapstat"
STREAM="$BIN/examples/stream"
for b in "$PCAPSTAT" "$STREAM"; do
    [ -x "$b" ] || { echo "missing $b (see the header of $0)" >&2; exit 2; }
done
SMALL="$root/testdata/lab/f_refused_syndrop/capture.pcap"

# run NAME CMD...: runs CMD with stdin from $IN, records "wall rss_kib exit" in $W/NAME.time.
run() {
    name=$1
    shift
    set +e
    /usr/bin/time -f "%e %M %x" -o "$W/$name.time" "$@" < "$IN" > /dev/null 2> "$W/$name.err"
    set -e
}

ratio_row() { # LABEL NAME1 NAME10
    # GNU time writes "Command exited with non-zero status N" first: the figures are last.
    set -- "$1" "$(tail -n 1 "$W/$2.time")" "$(tail -n 1 "$W/$3.time")"
    w1=${2%% *}; rest=${2#* }; m1=${rest%% *}
    w10=${3%% *}; rest=${3#* }; m10=${rest%% *}
    awk -v l="$1" -v w1="$w1" -v w10="$w10" -v m1="$m1" -v m10="$m10" 'BEGIN {
        printf "| %s | %.2f s / %.1f MiB | %.2f s / %.1f MiB | %.1fx | %.2fx |\n",
            l, w1, m1 / 1024, w10, m10 / 1024, (w1 > 0 ? w10 / w1 : 0), m10 / m1 }'
}

echo "| input | 1x | 10x | time | memory |"
echo "|---|---|---|---|---|"

# Buffer limits: out-of-order segments, probing gaps (scripts/make-hostile-buffers.py).
for s in 1 10; do
    [ -s "$W/b$s/probe-gaps.pcap" ] || python3 "$here/make-hostile-buffers.py" "$W/b$s" "$s" > /dev/null
done
for k in ooo-snap ooo-tiny probe-gaps; do
    for s in 1 10; do
        IN="$W/b$s/$k.pcap"
        run "$k-$s" "$STREAM" /dev/stdin
    done
    ratio_row "$k" "$k-1" "$k-10"
done

# Parsers and the DNS matcher (scripts/make-hostile.py).
for k in hpack http1 tls tls-spread websocket dns; do
    if [ "$k" = dns ]; then s1=3; s10=30; else s1=1; s10=10; fi
    for s in $s1 $s10; do
        f="$W/$k-$s.pcap"
        [ -s "$f" ] || python3 "$here/make-hostile.py" "$k" "$s" "$f"
        IN="$f"
        run "$k-$s" "$STREAM" /dev/stdin
    done
    ratio_row "$k" "$k-$s1" "$k-$s10"
done

# Rules files: N and 10 N rules, parsed and evaluated by `pcapstat check`.
for n in 16000 160000; do
    f="$W/rules-$n.toml"
    [ -s "$f" ] || awk -v n="$n" 'BEGIN {
        for (i = 0; i < n; i++) printf "[[rule]]\nrule = %cconnect.p95 < \"%dms\"%c\n", 39, i + 1, 39 }' > "$f"
    IN=/dev/null
    run "rules-$n" "$PCAPSTAT" check --rules "$f" "$SMALL"
done
ratio_row "rules (16 k / 160 k)" rules-16000 rules-160000

# Side files past their limits: a clear error (exit 2), in bounded memory.
IN=/dev/null
run keylog-zero "$PCAPSTAT" analyze --keylog /dev/zero "$SMALL"
run rules-zero "$PCAPSTAT" check --rules /dev/zero "$SMALL"
for k in keylog-zero rules-zero; do
    last=$(tail -n 1 "$W/$k.time")
    w=${last%% *}; rest=${last#* }; m=${rest%% *}; x=${rest#* }
    echo "| \`$k\` | exit $x, $w s / $((m / 1024)) MiB: $(head -c 120 "$W/$k.err" | tr '\n' ' ') | | | |"
done
