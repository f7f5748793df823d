#!/usr/bin/env bash
# Build a large capture of real TCP traffic for the benchmarks (issue #3).
#
#   sudo benches/make-capture.sh [OUT]      # default OUT: $HOME/.cache/pcapstat/bench/http-loss.pcap
#
# Three network namespaces made here, joined by veth pairs:
#
#   server (nginx) ──veth── router ──veth── client (wrk)
#       ^ tcpdump here          loss in the router (tc netem, or nftables when no sch_netem)
#
# nginx serves files of 1 KiB, 64 KiB and 1 MiB; three wrk runs load it at once: keep-alive
# connections fetching 64 KiB and 1 MiB objects (bulk bytes), keep-alive connections fetching the
# 1 KiB object (many small packets), and Connection: close on the 1 KiB object (many short
# connections, each with its own handshake). Packets are
# captured on the server's veth, upstream of the lossy router, so the capture holds both the lost
# originals and their retransmissions, as a capture taken at a server would. Segmentation offloads
# are off so the capture holds wire-sized packets, not 64 KiB GSO super-packets.
#
# Load runs in rounds of ROUND_SECS until the file holds at least MIN_BYTES and MIN_PACKETS (or
# MAX_ROUNDS is reached, which is an error). Everything runs inside the namespaces made here and
# addresses only them. Namespaces and processes are removed on exit, including on Ctrl-C.
#
# Knobs (environment): PROFILE (bulk, the default, or requests: see below), LOSS (default 0.5%), DELAY (netem delay per router egress, default 0ms;
# ignored when the kernel has no sch_netem and loss falls back to an nftables random drop),
# SNAPLEN (default 0 = whole packets), MIN_BYTES (default 1.1 GiB), MIN_PACKETS (default 1100000),
# ROUND_SECS (default 5), MAX_ROUNDS (default 30), CONNS_BULK (4), CONNS_SMALL (64), CONNS_CLOSE (4).
# Needs root. Installs nginx, wrk, tcpdump, iproute2, ethtool, capinfos (tshark) and, when needed,
# nftables with apt-get if they are missing.
set -euo pipefail

# PROFILE=requests: the request-heavy capture of issue #13 (only the 64 keep-alive connections
# fetching the 1 KiB object: ~2.5 packets per request), until MIN_PACKETS (default 1.1 M).
PROFILE="${PROFILE:-bulk}"
case "$PROFILE" in
  bulk) DEFAULT_OUT="$HOME/.cache/pcapstat/bench/http-loss.pcap" ;;
  requests)
    DEFAULT_OUT="$HOME/.cache/pcapstat/bench/requests.pcap"
    : "${CONNS_BULK:=0}" "${CONNS_CLOSE:=0}" "${MIN_BYTES:=0}"
    ;;
  *) echo "make-capture.sh: PROFILE is bulk or requests" >&2; exit 2 ;;
esac
OUT="${1:-$DEFAULT_OUT}"
LOSS="${LOSS:-0.5%}"
DELAY="${DELAY:-0ms}"
SNAPLEN="${SNAPLEN:-0}"
MIN_BYTES="${MIN_BYTES:-1181116006}" # 1.1 GiB
MIN_PACKETS="${MIN_PACKETS:-1100000}"
ROUND_SECS="${ROUND_SECS:-5}"
MAX_ROUNDS="${MAX_ROUNDS:-30}"
CONNS_BULK="${CONNS_BULK:-4}"
CONNS_SMALL="${CONNS_SMALL:-64}"
CONNS_CLOSE="${CONNS_CLOSE:-4}"

if [ "$(id -u)" -ne 0 ]; then
  echo "make-capture.sh: needs root (network namespaces, tcpdump)" >&2
  exit 1
fi

# --- tools ---------------------------------------------------------------------------------
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v ip >/dev/null || need+=(iproute2)
command -v tc >/dev/null || need+=(iproute2)
command -v ethtool >/dev/null || need+=(ethtool)
command -v capinfos >/dev/null || need+=(tshark)
if [ "${#need[@]}" -gt 0 ]; then
  echo "== installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- setup and cleanup -------------------------------------------------------------------
tag="pcs$$"
NS_SRV="$tag-srv"
NS_RTR="$tag-rtr"
NS_CLI="$tag-cli"
WORK="$(mktemp -d)"
pids=()
wrk_pids=()

cleanup() {
  set +e
  for p in "${wrk_pids[@]}" "${pids[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${wrk_pids[@]}" "${pids[@]}"; do
    wait "$p" 2>/dev/null
  done
  for ns in "$NS_CLI" "$NS_RTR" "$NS_SRV"; do
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

for ns in "$NS_SRV" "$NS_RTR" "$NS_CLI"; do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
done

# server s0 <-> r0 router r1 <-> c0 client. The addresses exist only in these namespaces.
ip link add s0 netns "$NS_SRV" type veth peer name r0 netns "$NS_RTR"
ip link add c0 netns "$NS_CLI" type veth peer name r1 netns "$NS_RTR"
nsx "$NS_SRV" ip addr add 10.77.1.1/24 dev s0
nsx "$NS_RTR" ip addr add 10.77.1.254/24 dev r0
nsx "$NS_RTR" ip addr add 10.77.2.254/24 dev r1
nsx "$NS_CLI" ip addr add 10.77.2.1/24 dev c0
for pair in "$NS_SRV s0" "$NS_RTR r0" "$NS_RTR r1" "$NS_CLI c0"; do
  set -- $pair
  nsx "$1" ip link set "$2" up
  nsx "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 || true
done
nsx "$NS_SRV" ip route add default via 10.77.1.254
nsx "$NS_CLI" ip route add default via 10.77.2.254
nsx "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1
# Loss in the router: tc netem on both egresses when the kernel has sch_netem, otherwise (some VM
# kernels ship without it) an nftables rule that drops the same share of forwarded packets.
LOSS_HOW="tc netem loss $LOSS delay $DELAY on both router egresses"
if ! nsx "$NS_RTR" tc qdisc add dev r0 root netem loss "$LOSS" delay "$DELAY" limit 10000 2>/dev/null; then
  command -v nft >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null; }
  permille=$(awk -v l="${LOSS%\%}" 'BEGIN { printf "%d", l * 10 + 0.5 }')
  LOSS_HOW="nftables random drop of $permille/1000 forwarded packets in the router (no sch_netem in this kernel)"
  nsx "$NS_RTR" nft -f - <<EOF
table inet lossy {
  chain forward {
    type filter hook forward priority 0; policy accept;
    numgen random mod 1000 < $permille counter drop
  }
}
EOF
else
  nsx "$NS_RTR" tc qdisc add dev r1 root netem loss "$LOSS" delay "$DELAY" limit 10000
fi

# --- server -------------------------------------------------------------------------------
mkdir -p "$WORK/www" "$WORK/nginx"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
head -c 65536 /dev/urandom >"$WORK/www/64k.bin"
head -c 1048576 /dev/urandom >"$WORK/www/1m.bin"
cat >"$WORK/nginx/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx;
  scgi_temp_path $WORK/nginx;
  server {
    listen 10.77.1.1:80;
    root $WORK/www;
  }
}
EOF
# Started with ip netns exec directly (not through nsx) so that $! is the process itself: a
# backgrounded shell function would be a subshell that ignores SIGINT.
ip netns exec "$NS_SRV" nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

cat >"$WORK/bulk.lua" <<'EOF'
-- Medium and large objects.
local paths = {"/64k.bin", "/64k.bin", "/64k.bin", "/1m.bin"}
request = function()
  return wrk.format(nil, paths[math.random(#paths)])
end
EOF

for _ in $(seq 50); do
  nsx "$NS_CLI" bash -c 'exec 3<>/dev/tcp/10.77.1.1/80' 2>/dev/null && break
  sleep 0.1
done

# --- capture ------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
echo "== capturing on the server veth into $OUT (snaplen $SNAPLEN)"
echo "   loss: $LOSS_HOW"
ip netns exec "$NS_SRV" tcpdump -i s0 -n -s "$SNAPLEN" -B 262144 -Z root -w "$OUT" tcp 2>"$WORK/tcpdump.err" &
tcpdump_pid=$!
pids+=("$tcpdump_pid")
for _ in $(seq 50); do
  grep -q listening "$WORK/tcpdump.err" 2>/dev/null && break
  sleep 0.1
done

start=$(date +%s)
size=0
round=0
count_packets() { capinfos -c -M -T -r "$OUT" 2>/dev/null | awk -F'\t' 'NR==1{print $2+0}'; }
while [ "$size" -lt "$MIN_BYTES" ] || { [ "$PROFILE" = requests ] && [ "$(count_packets)" -lt "$MIN_PACKETS" ]; }; do
  round=$((round + 1))
  if [ "$round" -gt "$MAX_ROUNDS" ]; then
    echo "make-capture.sh: only $size bytes after $MAX_ROUNDS rounds" >&2
    exit 1
  fi
  # A load with 0 connections is skipped (wrk refuses -c0); `sleep` keeps the three slots.
  run_wrk() { # NAME CONNS ARGS...
    local name=$1 conns=$2
    shift 2
    if [ "$conns" -gt 0 ]; then
      ip netns exec "$NS_CLI" wrk -t1 -c"$conns" -d"${ROUND_SECS}s" "$@" >"$WORK/wrk-$name.txt" 2>&1
    else
      echo "requests in: none (0 connections)" >"$WORK/wrk-$name.txt"
    fi
  }
  run_wrk bulk "$CONNS_BULK" -s "$WORK/bulk.lua" http://10.77.1.1/ &
  w1=$!
  run_wrk small "$CONNS_SMALL" http://10.77.1.1/1k.bin &
  w2=$!
  run_wrk close "$CONNS_CLOSE" -H 'Connection: close' http://10.77.1.1/1k.bin &
  w3=$!
  wrk_pids=("$w1" "$w2" "$w3")
  wait "$w1" "$w2" "$w3"
  wrk_pids=()
  size=$(stat -c %s "$OUT")
  echo "   round $round: $size bytes so far"
done

# Let the last FINs and retransmissions drain, then stop tcpdump (SIGINT flushes its buffer).
sleep 1
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
elapsed=$(($(date +%s) - start))
echo "== tcpdump:"
grep -E 'captured|received|dropped' "$WORK/tcpdump.err" | sed 's/^/   /'
echo "== last round of wrk:"
for f in bulk small close; do
  echo "   $f: $(grep -E 'requests in' "$WORK/wrk-$f.txt")"
done

size=$(stat -c %s "$OUT")
packets=$(capinfos -c -M -T -r "$OUT" | awk -F'\t' 'NR==1{print $2}')
echo "== $OUT: $size bytes, $packets packets, $elapsed s of load"
if [ "$packets" -lt "$MIN_PACKETS" ]; then
  echo "make-capture.sh: only $packets packets (want $MIN_PACKETS); raise CONNS_CLOSE or MIN_BYTES" >&2
  exit 1
fi
