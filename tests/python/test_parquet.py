"""Notebook ingestion: the Parquet tables of `pcapstat analyze --parquet` load in pyarrow, pandas,
polars and DuckDB with the documented types, the row counts of the CLI's JSON summary, nulls (not
zeros) where nothing was observed, and the joins and percentile queries notebooks run.

Run: `python3 -m pytest tests/python` after `cargo build -p pcapstat-cli` (or set PCAPSTAT_BIN).
"""

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
TABLES = ["connections", "tls", "http", "dns", "websocket", "quic"]
CAPTURES = [
    "testdata/lab/d_tls_resumption/capture.pcapng",
    "testdata/lab/e_dns/capture.pcap",
    "testdata/lab/f_refused_syndrop/capture.pcap",
    "testdata/link-null-http.pcap",
    "testdata/frag-ipv6-dns.pcap",
]


def binary() -> Path:
    if os.environ.get("PCAPSTAT_BIN"):
        return Path(os.environ["PCAPSTAT_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "pcapstat"


def analyze(capture: str, out: Path) -> dict:
    res = subprocess.run(
        [str(binary()), "analyze", "--format", "json", "--parquet", str(out), capture],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.splitlines()[0])


@pytest.fixture(scope="module", params=CAPTURES)
def run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("parquet")
    summary = analyze(request.param, out)
    return request.param, summary, out


def expected_rows(summary: dict) -> dict:
    apps = summary["applications"]
    return {
        "connections": summary["tcp_connections"]["connections"],
        "tls": apps["tls"]["handshakes"],
        # parsed requests and those inferred from encrypted records (counted apart)
        "http": apps["http"]["requests"] + apps["http"]["inferred"]["requests"],
        "dns": apps["dns"]["queries"],
        # The report has a websocket section only when there are WebSocket connections.
        "websocket": apps.get("websocket", {}).get("connections", 0),
        "quic": apps["quic"]["connections"],
    }


def test_files_rows_and_metadata(run):
    capture, summary, out = run
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)
    for table, rows in expected_rows(summary).items():
        meta = pq.read_metadata(out / f"{table}.parquet")
        assert meta.num_rows == rows, table
        kv = meta.metadata
        assert kv[b"pcapstat.schema_version"] == b"2"
        assert kv[b"pcapstat.table"] == table.encode()
        assert capture.encode() in kv[b"pcapstat.sources"]


def test_pyarrow_types(run):
    _, _, out = run
    t = pq.read_table(out / "connections.parquet")
    assert t.schema.field("start").type == pa.timestamp("ns", tz="UTC")
    assert t.schema.field("connect").type == pa.duration("ns")
    assert t.schema.field("client_port").type == pa.uint16()
    assert t.schema.field("packets_c2s").type == pa.uint64()
    assert t.schema.field("client_ip").type in (pa.string(), pa.large_string(), pa.string_view())
    assert t.schema.field("handshake_seen").type == pa.bool_()
    d = pq.read_table(out / "dns.parquet")
    assert d.schema.field("latency").type == pa.duration("ns")
    h = pq.read_table(out / "http.parquet")
    assert h.schema.field("total").type == pa.duration("ns")
    assert h.schema.field("status").type == pa.uint16()


def test_pandas_types(run):
    _, _, out = run
    df = pd.read_parquet(out / "connections.parquet")
    assert str(df["start"].dtype) == "datetime64[ns, UTC]"
    assert str(df["connect"].dtype) == "timedelta64[ns]"
    assert str(df["client_port"].dtype) == "uint16"
    if len(df):
        assert df["start"].iloc[0].tzinfo is not None


def test_polars_types(run):
    _, _, out = run
    df = pl.read_parquet(out / "connections.parquet")
    assert df.schema["start"] == pl.Datetime("ns", "UTC")
    assert df.schema["connect"] == pl.Duration("ns")
    assert df.schema["client_port"] == pl.UInt16
    dns = pl.read_parquet(out / "dns.parquet")
    assert dns.schema["query_ts"] == pl.Datetime("ns", "UTC")


def test_duckdb_join_and_percentile(run):
    _, summary, out = run
    con = duckdb.connect()
    for t in TABLES:
        con.execute(f"create view {t} as select * from read_parquet('{out / (t + '.parquet')}')")
    types = dict(con.execute("select column_name, column_type from (describe connections)").fetchall())
    # time-zone aware; recent DuckDB keeps the nanoseconds (TIMESTAMPTZ_NS)
    assert types["start"] in ("TIMESTAMPTZ_NS", "TIMESTAMP WITH TIME ZONE")
    # Parquet has no duration type: pyarrow, pandas and polars restore Duration(ns) from the Arrow
    # schema stored in the file, DuckDB reads the plain INT64 nanoseconds (docs/metrics.md).
    assert types["connect"] == "BIGINT"
    (n,) = con.execute(
        "select count(*) from http h join connections c using (capture, conn_id)"
    ).fetchone()
    assert n == expected_rows(summary)["http"], "every request has its connection"
    p95 = con.execute("select quantile_disc(connect, 0.95) from connections").fetchone()[0]
    stats = summary["tcp_connections"]["connect"]
    if stats["count"]:
        # nearest rank, as the CLI computes it
        assert p95 == stats["p95_ns"]
    else:
        assert p95 is None


def test_nulls_not_zeros_for_refused_connections(tmp_path):
    summary = analyze("testdata/lab/f_refused_syndrop/capture.pcap", tmp_path)
    df = pl.read_parquet(tmp_path / "connections.parquet")
    refused = df.filter(pl.col("outcome") == "refused")
    assert refused.height == summary["tcp_connections"]["outcomes"]["refused"] == 3
    assert refused["connect"].null_count() == 3
    assert refused["reset_by"].to_list() == ["server"] * 3
    # the timed-out connection retried its SYN three times (tshark: 4 SYNs)
    timeout = df.filter(pl.col("outcome") == "timeout")
    assert timeout["syn_retries"].to_list() == [3]


@pytest.mark.parametrize("capture", CAPTURES)
def test_csv_and_ndjson_have_the_parquet_columns_and_rows(capture, tmp_path):
    subprocess.run(
        [
            str(binary()), "analyze", capture, "--parquet", str(tmp_path / "pq"),
            "--csv", str(tmp_path / "csv"), "--ndjson", str(tmp_path / "nd"),
        ],
        cwd=REPO, capture_output=True, check=True,
    )
    for t in TABLES:
        ref = pl.read_parquet(tmp_path / "pq" / f"{t}.parquet")
        csv = pd.read_csv(tmp_path / "csv" / f"{t}.csv")
        assert list(csv.columns) == ref.columns, t
        assert len(csv) == ref.height, t
        lines = (tmp_path / "nd" / f"{t}.ndjson").read_text().splitlines()
        assert len(lines) == ref.height, t
        if lines:
            first = json.loads(lines[0])
            assert list(first) == ref.columns, t
        # durations are integer nanoseconds in text; the same values as the Parquet durations
        durations = [c for c, d in ref.schema.items() if d == pl.Duration("ns")]
        for c in durations:
            want = ref[c].cast(pl.Int64).to_list()
            got = [None if pd.isna(v) else int(v) for v in csv[c].tolist()]
            assert got == want, (t, c)


def test_example_notebook_draws_its_figures(tmp_path):
    """docs/notebook.py (the example notebook as a script) runs on the binary's Parquet tables
    and saves both figures (test_package.py runs it on the Python package)."""
    env = dict(os.environ, PCAPSTAT_BIN=str(binary()), MPLBACKEND="Agg", PCAPSTAT_NOTEBOOK="binary")
    subprocess.run(
        ["python3", str(REPO / "docs/notebook.py"), "testdata/link-raw12-ipv6-http.pcap",
         str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, check=True,
    )
    for name in ["waterfall.png", "connect.png"]:
        png = (tmp_path / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000, name


def test_partitioned_layout_reads_as_one_dataset_in_every_reader(tmp_path):
    """--partition writes DIR/TABLE/capture=NAME/part.parquet; every reader decodes NAME back
    to the capture column (names with '/', '=', '%' and spaces included) and sees the rows and
    columns of the unpartitioned files."""
    odd = tmp_path / "in" / "a b=c%d.pcap"
    odd.parent.mkdir()
    odd.write_bytes((REPO / CAPTURES[1]).read_bytes())
    inputs = [CAPTURES[0], str(odd), CAPTURES[2]]
    subprocess.run(
        [str(binary()), "analyze", *inputs, "--parquet", str(tmp_path / "flat")],
        cwd=REPO, capture_output=True, check=True,
    )
    subprocess.run(
        [str(binary()), "analyze", *inputs, "--partition", "--parquet", str(tmp_path / "hive"),
         "--csv", str(tmp_path / "hivecsv")],
        cwd=REPO, capture_output=True, check=True,
    )
    import pyarrow.dataset as ds

    for t in TABLES:
        flat = pl.read_parquet(tmp_path / "flat" / f"{t}.parquet")
        want = flat.group_by("capture").len().sort("capture").rows()
        want = [(c, n) for c, n in want]
        root = tmp_path / "hive" / t
        dirs = sorted(p.name for p in root.iterdir())
        assert len(dirs) == len(inputs), (t, dirs)
        assert all(d.startswith("capture=") for d in dirs)
        # the capture column is in the path, not in the file
        one = pq.read_table(next(root.glob("*/part.parquet")))
        assert "capture" not in one.column_names
        assert sorted(one.column_names) == sorted(c for c in flat.columns if c != "capture")

        def counts(values):
            out = {}
            for v in values:
                out[v] = out.get(v, 0) + 1
            return sorted((c, n) for c, n in out.items() if n)

        got_pa = ds.dataset(root, partitioning="hive").to_table()
        got_pd = pd.read_parquet(root)
        got_pl = pl.scan_parquet(str(root / "**" / "*.parquet"), hive_partitioning=True).collect()
        got_dd = duckdb.sql(
            f"SELECT capture FROM read_parquet('{root}/*/*.parquet', hive_partitioning = true,"
            " hive_types = {'capture': VARCHAR})"
        ).fetchall()
        nonempty = [(c, n) for c, n in want if n]
        assert counts(got_pa.column("capture").to_pylist()) == nonempty, t
        assert counts(got_pd["capture"].astype(str).tolist()) == nonempty, t
        assert counts(got_pl["capture"].cast(pl.String).to_list()) == nonempty, t
        assert counts(r[0] for r in got_dd) == nonempty, t
        # types survive: the durations of the flat file are durations in the dataset too
        for c, d in flat.schema.items():
            if c != "capture":
                assert got_pl.schema[c] == d, (t, c)
        csv_parts = sorted(p.parent.name for p in (tmp_path / "hivecsv" / t).glob("*/part.csv"))
        assert csv_parts == dirs, t
    # every input appears (the names as the tables spell them), the odd one decoded
    caps = set(pl.read_parquet(tmp_path / "flat" / "connections.parquet")["capture"].to_list())
    assert str(odd) in caps


def test_partition_without_an_output_is_a_usage_error():
    res = subprocess.run(
        [str(binary()), "analyze", CAPTURES[1], "--partition"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert res.returncode == 2
    assert "--partition needs" in res.stderr
