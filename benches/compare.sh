#!/usr/bin/env bash
# Time pcapstat against tshark, tcptrace and pcapstat-floor on one capture (issue #3).
#
#   benches/compare.sh FILE [compare.py options, e.g. --head-percent 10 --json out.json]
#   benches/compare.sh --suite [suite.py options]   # issue #13: request-heavy, bulk, SYN flood
#
# --suite makes the captures it lacks with benches/make-capture.sh (root: network namespaces)
# into $HOME/.cache/pcapstat/bench/{requests,http-loss}.pcap and runs benches/suite.py, which
# writes one table of every target.
#
# Installs what is missing (GNU time, tshark/editcap, tcptrace) with apt-get when run as root,
# builds the release binaries (cargo build --release -p pcapstat-cli -p pcapstat-benches; set
# PCAPSTAT_NO_BUILD=1 to use the release binaries as they are; $CARGO_TARGET_DIR is honoured), then runs benches/compare.py, which does
# the timing and prints the figures. Make a capture with benches/make-capture.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

need=()
[ -x /usr/bin/time ] || need+=(time)
command -v tshark >/dev/null || need+=(tshark)
command -v editcap >/dev/null || need+=(wireshark-common)
command -v tcptrace >/dev/null || need+=(tcptrace)
command -v python3 >/dev/null || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "compare.sh: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -z "${PCAPSTAT_NO_BUILD:-}" ]; then
  cargo build --release -q -p pcapstat-cli -p pcapstat-benches
fi
if [ "$1" = --suite ]; then
  shift
  bench="$HOME/.cache/pcapstat/bench"
  [ -s "$bench/requests.pcap" ] || PROFILE=requests benches/make-capture.sh "$bench/requests.pcap"
  # Issue #13's bulk benchmark is at least 2 GB: 2 GiB of load at the least.
  [ -s "$bench/http-loss.pcap" ] || MIN_BYTES="${MIN_BYTES:-2147483648}" benches/make-capture.sh "$bench/http-loss.pcap"
  exec python3 benches/suite.py --requests "$bench/requests.pcap" --bulk "$bench/http-loss.pcap" "$@"
fi
exec python3 benches/compare.py "$@"
