# %% [markdown]
# # pcapstat tables in a notebook
#
# Cells of a notebook as a plain script (`# %%` markers: VS Code and Jupytext open it as a
# notebook). It analyses a capture with the `pcapstat` Python package (docs/python.md:
# `pip install .`) — or, without the package, runs `pcapstat analyze --parquet` and loads the
# Parquet tables with polars — and draws the per-request phase waterfall and the connect-time
# distribution with matplotlib.
#
# Run: `python3 docs/notebook.py [CAPTURE] [OUTDIR]` (defaults: a bundled capture with 9 HTTP
# requests on 4 connections, and `notebook-out/`). `tests/python` runs it both ways.
# `PCAPSTAT_NOTEBOOK=package` requires the package, `=binary` uses the binary: `$PCAPSTAT_BIN`,
# else `pcapstat` on the PATH, else this repository's newest release or debug build. Unset:
# the package when it is installed, else the binary.

# %%
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
capture = sys.argv[1] if len(sys.argv) > 1 else str(REPO / "testdata/link-raw12-ipv6-http.pcap")
outdir = Path(sys.argv[2] if len(sys.argv) > 2 else "notebook-out")
outdir.mkdir(parents=True, exist_ok=True)


def find_pcapstat():
    """$PCAPSTAT_BIN, else `pcapstat` on the PATH (cargo install), else the newest release or
    debug build of this repository (in $CARGO_TARGET_DIR or target/)."""
    if os.environ.get("PCAPSTAT_BIN"):
        return os.environ["PCAPSTAT_BIN"]
    on_path = shutil.which("pcapstat")
    if on_path:
        return on_path
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    built = [p for p in (target / "release/pcapstat", target / "debug/pcapstat") if p.is_file()]
    if not built:
        sys.exit("pcapstat not found: cargo build --release -p pcapstat-cli, or set PCAPSTAT_BIN")
    return str(max(built, key=lambda p: p.stat().st_mtime))


def package():
    """The pcapstat package, unless PCAPSTAT_NOTEBOOK=binary (or it is not installed)."""
    mode = os.environ.get("PCAPSTAT_NOTEBOOK", "")
    if mode == "binary":
        return None
    try:
        import pcapstat
    except ImportError:
        if mode == "package":
            raise
        return None
    return pcapstat


# %% Analyse the capture: polars DataFrames from the package, else Parquet tables of the CLI
pkg = package()
if pkg is not None:
    analysis = pkg.analyze(capture)
    conns, http = analysis.connections, analysis.http
    print("tables from the pcapstat package")
else:
    pcapstat = find_pcapstat()
    tables = Path(tempfile.mkdtemp(prefix="pcapstat-"))
    subprocess.run([pcapstat, "analyze", capture, "--parquet", str(tables)], check=True,
                   stdout=subprocess.DEVNULL)
    conns = pl.read_parquet(tables / "connections.parquet")
    http = pl.read_parquet(tables / "http.parquet")
    print(f"tables from {pcapstat} analyze --parquet")
print(conns.group_by("outcome").len().sort("outcome"))

# %% Per-request phase waterfall: where each request's time went, from its first phase (the DNS
# lookup, else the connect, for the request that opened its connection; the first request byte
# otherwise), in the order the requests started. Relative bars stay readable when the requests
# of a capture are spread over minutes; `request_start` gives the absolute times.
phases = ["dns", "connect", "tls", "send", "wait", "receive"]
colors = ["#8c564b", "#1f77b4", "#9467bd", "#2ca02c", "#ff7f0e", "#17becf"]
reqs = http.sort("request_start").with_columns(
    [(pl.col(p).dt.total_microseconds().fill_null(0) / 1000.0).alias(p) for p in phases]
)
fig, ax = plt.subplots(figsize=(9, 1 + 0.35 * max(reqs.height, 1)))
for i, row in enumerate(reqs.iter_rows(named=True)):
    left = 0.0
    for phase, color in zip(phases, colors):
        ax.barh(i, row[phase], left=left, color=color, label=phase if i == 0 else None)
        left += row[phase]
    if not row["complete"]:
        ax.text(left, i, "  incomplete", va="center", fontsize="small", color="gray")
labels = [f"{r['method']} {r['path'][:30]}" for r in reqs.iter_rows(named=True)]
ax.set_yticks(range(reqs.height), labels)
ax.invert_yaxis()
ax.set_xlabel("ms since the request's first phase")
ax.set_title("HTTP requests: DNS, connect, TLS, send, wait, receive")
if reqs.height:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
fig.tight_layout()
fig.savefig(outdir / "waterfall.png", dpi=100)

# %% Connect-time distribution (completed handshakes)
connect_ms = conns.filter(pl.col("connect").is_not_null()).select(
    (pl.col("connect").dt.total_microseconds() / 1000.0).alias("connect_ms")
)["connect_ms"]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.hist(connect_ms.to_list(), bins=20, color="#1f77b4")
if connect_ms.len():
    ax.axvline(connect_ms.quantile(0.95), color="red", linestyle="--", label="p95")
    ax.legend()
ax.set_xlabel("connect (ms)")
ax.set_ylabel("connections")
ax.set_title(f"TCP connect time, {connect_ms.len()} connections")
fig.tight_layout()
fig.savefig(outdir / "connect.png", dpi=100)
print(f"figures written to {outdir}")
