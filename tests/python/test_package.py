"""The Python package `pcapstat` against the CLI: the same tables (columns, types, rows and
values) as `pcapstat analyze --parquet`, the same JSON report as `--format json`, the same
filters, key logs and error messages.

Run: `python3 -m pytest tests/python/test_package.py` after installing the package
(`maturin develop`, or the wheel .ci/run builds) and building the CLI (`cargo build -p
pcapstat-cli`, or set PCAPSTAT_BIN).
"""

import datetime as dt
import json
import os
import subprocess
import warnings
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

try:
    import pcapstat
except ImportError:
    if os.environ.get("CI"):  # .ci/run installs the package: missing there is a failure
        raise
    pytest.skip("the pcapstat package is not installed (docs/python.md)", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
from captures import CAPTURES, KEYLOG, LAB  # noqa: E402  (tests/python/captures.py)


def binary() -> Path:
    if os.environ.get("PCAPSTAT_BIN"):
        return Path(os.environ["PCAPSTAT_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "pcapstat"


def cli(*args, check=True):
    return subprocess.run(
        [str(binary()), *map(str, args)], cwd=REPO, capture_output=True, text=True, check=check
    )


def cli_analyze(capture, out: Path, *flags) -> dict:
    res = cli("analyze", "--format", "json", "--parquet", out, *flags, capture)
    return json.loads(res.stdout.splitlines()[0])


def parquet_tables(out: Path) -> dict:
    return {t: pl.read_parquet(out / f"{t}.parquet") for t in pcapstat.TABLES}


def assert_same_tables(analysis, out: Path):
    for t, want in parquet_tables(out).items():
        got = getattr(analysis, t)
        assert got.columns == want.columns, t
        assert got.schema == want.schema, t
        assert got.height == want.height, t
        assert_frame_equal(got, want, check_exact=True), t


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    """Capture names are relative paths, as the CLI's are when run from the repository."""
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("capture", CAPTURES)
def test_tables_and_report_equal_the_clis(capture, tmp_path):
    summary = cli_analyze(capture, tmp_path)
    a = pcapstat.analyze(capture)
    assert_same_tables(a, tmp_path)
    assert a.summary == summary
    assert a.figures == summary["figures"]
    assert a.source == capture == summary["file"]
    assert a.damaged is None
    # row counts as the report counts them
    apps = summary["applications"]
    assert a.connections.height == summary["tcp_connections"]["connections"]
    assert a.tls.height == apps["tls"]["handshakes"]
    # the report counts rows inferred from encrypted records apart (docs/http.md)
    assert a.http.height == apps["http"]["requests"] + apps["http"]["inferred"]["requests"]
    assert a.http["inferred"].sum() == apps["http"]["inferred"]["requests"]
    assert a.dns.height == apps["dns"]["queries"]


def test_types_of_the_column_contract():
    """docs/metrics.md's types, in polars, pyarrow and pandas (through polars)."""
    import pyarrow as pa

    a = pcapstat.analyze(f"{LAB}/f_refused_syndrop/capture.pcap")
    c = a.connections
    assert c.schema["start"] == pl.Datetime("ns", "UTC")
    assert c.schema["connect"] == pl.Duration("ns")
    assert c.schema["client_port"] == pl.UInt16
    assert c.schema["packets_c2s"] == pl.UInt64
    assert c.schema["handshake_seen"] == pl.Boolean
    assert c.schema["capture"] == pl.String
    t = c.to_arrow()
    assert t.schema.field("start").type == pa.timestamp("ns", tz="UTC")
    assert t.schema.field("connect").type == pa.duration("ns")
    df = c.to_pandas()
    assert str(df["start"].dtype) == "datetime64[ns, UTC]"
    assert str(df["connect"].dtype) == "timedelta64[ns]"
    refused = c.filter(pl.col("outcome") == "refused")
    assert refused.height == 3 and refused["connect"].null_count() == 3


def test_tables_are_arrow_streams_any_reader_takes():
    """The native tables implement the Arrow PyCapsule interface: pyarrow reads them too, and
    each call gives a fresh stream."""
    import pyarrow as pa

    a = pcapstat.analyze(f"{LAB}/e_dns/capture.pcap")
    native = a._native.table("dns")
    first = pa.table(native)
    second = pa.table(native)
    assert first.num_rows == second.num_rows == a.dns.height > 0
    assert first.schema.field("latency").type == pa.duration("ns")
    with pytest.raises(ValueError, match="no table"):
        a._native.table("flows")


def test_bytes_input_and_its_name():
    capture = f"{LAB}/f_refused_syndrop/capture.pcap"
    data = (REPO / capture).read_bytes()
    by_path = pcapstat.analyze(capture)
    anonymous = pcapstat.analyze(data)
    assert anonymous.source is None
    assert anonymous.summary["file"] is None
    assert anonymous.connections["capture"].null_count() == anonymous.connections.height
    assert_frame_equal(
        anonymous.connections.drop("capture"), by_path.connections.drop("capture")
    )
    named = pcapstat.analyze(bytearray(data), name=capture)
    assert_frame_equal(named.connections, by_path.connections)
    assert named.summary == by_path.summary
    with pytest.raises(ValueError, match="name= is for bytes"):
        pcapstat.analyze(capture, name="x")


def test_pathlike_and_threads():
    capture = REPO / "testdata/link-raw12-ipv6-http.pcap"
    one = pcapstat.analyze(capture, threads=1)
    two = pcapstat.analyze(capture, threads=2)
    assert one.source == str(capture)
    for t in pcapstat.TABLES:
        assert_frame_equal(getattr(one, t), getattr(two, t))
    assert one.summary == two.summary


@pytest.mark.parametrize(
    "kwargs,flags",
    [
        ({"server": ":81"}, ["--server", ":81"]),
        ({"client": "10.0.0.0/8", "port": 80}, ["--client", "10.0.0.0/8", "--port", "80"]),
        ({"since": "+0.5s", "until": "+1h"}, ["--since", "+0.5s", "--until", "+1h"]),
    ],
)
def test_filters_as_the_clis(kwargs, flags, tmp_path):
    capture = f"{LAB}/f_refused_syndrop/capture.pcap"
    summary = cli_analyze(capture, tmp_path, *flags)
    a = pcapstat.analyze(capture, **kwargs)
    assert a.summary == summary
    assert summary["filter"] is not None
    assert_same_tables(a, tmp_path)


def test_time_bounds_as_datetime_and_timedelta():
    capture = f"{LAB}/e_dns/capture.pcap"
    whole = pcapstat.analyze(capture)
    first = whole.dns["query_ts"].min()
    assert whole.dns.height > 1
    later = pcapstat.analyze(capture, since=first + dt.timedelta(microseconds=1))
    assert later.dns.height < whole.dns.height
    by_text = pcapstat.analyze(capture, since="+1us")
    assert by_text.dns.height == pcapstat.analyze(capture, since=dt.timedelta(microseconds=1)).dns.height
    with pytest.raises(ValueError, match="time zone"):
        pcapstat.analyze(capture, since=dt.datetime(2020, 1, 1))


def test_sni_filter():
    a = pcapstat.analyze(f"{LAB}/d_tls_resumption/capture.pcapng")
    snis = a.tls["sni"].drop_nulls().unique().to_list()
    assert snis
    one = pcapstat.analyze(f"{LAB}/d_tls_resumption/capture.pcapng", sni=snis[0])
    assert one.tls.height > 0
    assert set(one.tls["sni"].to_list()) == {snis[0]}
    none = pcapstat.analyze(f"{LAB}/d_tls_resumption/capture.pcapng", sni="absent.invalid")
    assert none.tls.height == 0 and none.connections.height == 0


def test_keylog_decrypts_as_the_cli(tmp_path):
    capture = f"{LAB}/d_tls_resumption/capture.pcapng"
    summary = cli_analyze(capture, tmp_path, "--keylog", KEYLOG)
    a = pcapstat.analyze(capture, keylog=KEYLOG)
    without = pcapstat.analyze(capture)
    parsed = pl.col("inferred").not_()
    assert a.http.filter(parsed).height > without.http.filter(parsed).height
    # without keys the same exchanges are inferred from the encrypted records
    assert without.http["inferred"].all() and without.http.height == a.http.height
    assert a.summary == summary
    assert_same_tables(a, tmp_path)


def test_websocket_table_as_the_cli(tmp_path):
    capture = "testdata/lab/k_websocket/capture.pcap"
    keylog = "testdata/lab/k_websocket/sslkeylog.txt"
    summary = cli_analyze(capture, tmp_path, "--keylog", keylog)
    a = pcapstat.analyze(capture, keylog=keylog)
    assert_same_tables(a, tmp_path)
    ws = a.websocket
    assert ws.height == summary["applications"]["websocket"]["connections"] == 6
    assert ws["abnormal"].sum() == a.figures["websocket.abnormal_closes"] == 1
    assert ws.filter(pl.col("secure"))["url"].to_list() == ["wss://10.88.11.2:8766/echo"]


def test_embedded_secrets_can_be_ignored():
    capture = f"{LAB}/d_tls_resumption/capture-with-keys.pcapng"
    parsed = pl.col("inferred").not_()
    assert pcapstat.analyze(capture).http.filter(parsed).height > pcapstat.analyze(
        capture, embedded_secrets=False
    ).http.filter(parsed).height


def cli_error(*args) -> str:
    res = cli(*args, check=False)
    assert res.returncode == 2, res.stderr
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("pcapstat: error: "), line
    return line[len("pcapstat: error: "):]


def test_missing_file_is_a_read_error_with_the_clis_message():
    missing = "testdata/no-such-capture.pcap"
    with pytest.raises(pcapstat.ReadError) as e:
        pcapstat.analyze(missing)
    assert str(e.value) == cli_error("analyze", missing)
    assert "cannot read file" in str(e.value)
    assert isinstance(e.value, OSError) and isinstance(e.value, pcapstat.PcapstatError)


@pytest.mark.parametrize(
    "capture", ["testdata/broken/text-file.pcap", "testdata/broken/random-bytes.bin",
                "testdata/broken/empty.pcap"]
)
def test_not_a_capture_is_an_error_with_the_clis_message(capture):
    with pytest.raises(pcapstat.PcapstatError) as e:
        pcapstat.analyze(capture)
    assert not isinstance(e.value, OSError)
    assert str(e.value) == cli_error("analyze", capture)
    # bytes: the same message, without a name unless one is given
    data = (REPO / capture).read_bytes()
    with pytest.raises(pcapstat.PcapstatError) as b:
        pcapstat.analyze(data, name=capture)
    assert str(b.value) == str(e.value)


DAMAGED = "testdata/broken/pcap-trunc-packet-data.pcap"


def test_damaged_capture_warns_and_fills_the_summary(tmp_path):
    summary = cli_analyze(DAMAGED, tmp_path)
    res = cli("analyze", DAMAGED)
    warning = res.stderr.strip().splitlines()[-1]
    with pytest.warns(pcapstat.DamagedCaptureWarning) as w:
        a = pcapstat.analyze(DAMAGED)
    assert f"pcapstat: warning: {w[0].message}" == warning
    assert a.damaged == str(w[0].message)
    assert a.summary["damaged"] is not None
    assert a.summary == summary
    assert_same_tables(a, tmp_path)


def test_damaged_capture_is_an_error_when_strict():
    with pytest.raises(pcapstat.PcapstatError) as e:
        pcapstat.analyze(DAMAGED, strict=True)
    assert str(e.value) == cli_error("analyze", "--strict", DAMAGED)
    # intact captures do not warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pcapstat.analyze(f"{LAB}/e_dns/capture.pcap", strict=True)


def test_missing_keylog_is_a_read_error_with_the_clis_message():
    capture = f"{LAB}/e_dns/capture.pcap"
    with pytest.raises(pcapstat.ReadError) as e:
        pcapstat.analyze(capture, keylog="no-such-keylog.txt")
    assert str(e.value) == cli_error("analyze", "--keylog", "no-such-keylog.txt", capture)


def test_malformed_keylog_lines_are_counted_as_the_cli_counts_them(tmp_path):
    bad = tmp_path / "bad-keylog.txt"
    bad.write_text("not a key log line\nCLIENT_RANDOM zz 00\n")
    capture = f"{LAB}/d_tls_resumption/capture.pcapng"
    summary = cli_analyze(capture, tmp_path / "out", "--keylog", bad)
    a = pcapstat.analyze(capture, keylog=bad)
    assert a.summary == summary
    assert a.summary["stats"]["keylog"]["lines"] == 2
    assert a.summary["stats"]["keylog"]["malformed"] == 2


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"server": "999.1.1.1"}, "invalid value '999.1.1.1' for server"),
        ({"client": "10.0.0.0/33"}, "for client"),
        ({"since": "yesterday"}, "is not a time"),
        ({"port": 70000}, "not a port"),
        ({"threads": -1}, "threads"),
        ({"idle_timeout": 0}, "idle_timeout must be a positive number"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pcapstat.analyze(f"{LAB}/e_dns/capture.pcap", **kwargs)


def test_bad_filter_message_is_the_clis_reason():
    res = cli("analyze", "--server", "999.1.1.1", f"{LAB}/e_dns/capture.pcap", check=False)
    assert res.returncode == 2
    with pytest.raises(ValueError) as e:
        pcapstat.analyze(f"{LAB}/e_dns/capture.pcap", server="999.1.1.1")
    reason = str(e.value).split(": ", 1)[1]
    assert reason in res.stderr


def test_figure_definitions_match_the_cli():
    listed = json.loads(cli("figures", "--format", "json").stdout)
    assert [f["figure"] for f in listed] == list(pcapstat.FIGURES)
    for f in listed:
        assert pcapstat.FIGURES[f["figure"]]["unit"] == f["unit"]
    a = pcapstat.analyze(f"{LAB}/f_refused_syndrop/capture.pcap")
    assert list(a.figures) == list(pcapstat.FIGURES)
    assert a.figures["connections.failed"] == 4
    assert isinstance(a.figures["connect.p95"], int)


def test_repr_and_tables():
    a = pcapstat.analyze(f"{LAB}/f_refused_syndrop/capture.pcap")
    assert "connections" in repr(a) and "f_refused_syndrop" in repr(a)
    assert list(a.tables) == ["connections", "tls", "http", "dns", "websocket", "quic"]
    assert a.tables["connections"] is a.connections  # built once


def test_notebook_runs_on_the_package(tmp_path):
    """docs/notebook.py uses the package when it is installed (PCAPSTAT_NOTEBOOK=package makes
    that a requirement) and draws both figures."""
    env = dict(os.environ, MPLBACKEND="Agg", PCAPSTAT_NOTEBOOK="package")
    env.pop("PCAPSTAT_BIN", None)
    res = subprocess.run(
        ["python3", str(REPO / "docs/notebook.py"), "testdata/link-raw12-ipv6-http.pcap",
         str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, check=True,
    )
    assert "tables from the pcapstat package" in res.stdout
    for name in ["waterfall.png", "connect.png"]:
        png = (tmp_path / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000, name


def metadata(path: Path) -> dict:
    import pyarrow.parquet as pq

    kv = dict(pq.read_metadata(path).metadata)
    kv.pop(b"ARROW:schema", None)
    return kv


@pytest.mark.parametrize("capture", [f"{LAB}/e_dns/capture.pcap", "testdata/pcap-empty.pcap"])
def test_write_parquet_writes_the_clis_files(capture, tmp_path):
    """Analysis.write_parquet: the files of `pcapstat analyze --parquet`, with their metadata."""
    cli("analyze", capture, "--parquet", tmp_path / "cli")
    a = pcapstat.analyze(capture)
    written = a.write_parquet(tmp_path / "pkg")
    assert sorted(Path(p).name for p in written) == sorted(f"{t}.parquet" for t in pcapstat.TABLES)
    for t in pcapstat.TABLES:
        want, got = tmp_path / "cli" / f"{t}.parquet", tmp_path / "pkg" / f"{t}.parquet"
        assert_frame_equal(pl.read_parquet(got), pl.read_parquet(want))
        assert metadata(got) == metadata(want), t


def test_write_parquet_partitioned_as_the_cli(tmp_path):
    odd = tmp_path / "in" / "a b=c%d.pcap"
    odd.parent.mkdir()
    odd.write_bytes((REPO / f"{LAB}/e_dns/capture.pcap").read_bytes())
    inputs = [f"{LAB}/f_refused_syndrop/capture.pcap", str(odd)]
    cli("analyze", *inputs, "--partition", "--parquet", tmp_path / "cli")
    for capture in inputs:
        pcapstat.analyze(capture).write_parquet(tmp_path / "pkg", partition=True)
    for t in pcapstat.TABLES:
        cli_parts = sorted(p.relative_to(tmp_path / "cli") for p in (tmp_path / "cli").rglob("*.parquet"))
        pkg_parts = sorted(p.relative_to(tmp_path / "pkg") for p in (tmp_path / "pkg").rglob("*.parquet"))
        assert cli_parts == pkg_parts
        for rel in cli_parts:
            assert_frame_equal(pl.read_parquet(tmp_path / "pkg" / rel),
                               pl.read_parquet(tmp_path / "cli" / rel))
            if rel.parts[0] == t:
                assert metadata(tmp_path / "pkg" / rel)[b"pcapstat.table"] == t.encode()
    assert (tmp_path / "pkg" / "dns" / f"capture={pcapstat.partition_value(str(odd))}").is_dir()
    unnamed = pcapstat.analyze((REPO / inputs[0]).read_bytes())
    with pytest.raises(ValueError, match="without a name"):
        unnamed.write_parquet(tmp_path / "x", partition=True)


def test_capture_files_lists_a_directory_as_the_cli(tmp_path):
    rotated = tmp_path / "rotated"
    rotated.mkdir()
    for name in ["trace.pcap10", "trace.pcap", "trace.pcap2"]:
        (rotated / name).write_bytes((REPO / f"{LAB}/e_dns/capture.pcap").read_bytes())
    (rotated / "keys.txt").write_text("CLIENT_RANDOM 00 00\n")
    res = cli("analyze", "--format", "json", rotated)
    want = [json.loads(line)["file"] for line in res.stdout.splitlines()]
    assert pcapstat.capture_files(rotated) == want
    assert [Path(p).name for p in want] == ["trace.pcap", "trace.pcap2", "trace.pcap10"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(pcapstat.PcapstatError) as e:
        pcapstat.capture_files(empty)
    assert str(e.value) == cli_error("analyze", empty)
    with pytest.raises(pcapstat.ReadError):
        pcapstat.capture_files(tmp_path / "missing")


def test_http3_rows_with_the_keys_embedded_in_the_pcapng():
    # testdata/quic/j_quic-h3.pcapng: 4 aioquic connections, the keys of 3 in the file (DSB).
    a = pcapstat.analyze("testdata/quic/j_quic-h3.pcapng")
    assert a.quic.height == 4
    http = a.http
    assert http.height == 4
    assert set(http["version"]) == {"HTTP/3"}
    assert sorted(http["path"]) == ["/10K.bin", "/10K.bin", "/1K.bin", "/1K.bin"]
    assert set(http["status"]) == {200}
    # QUIC has no TCP connect phase; the QUIC handshake is `tls` on each connection's first
    # request.
    assert http["connect"].null_count() == 4
    first = http.filter(pl.col("request_index") == 0)
    assert first["tls"].null_count() == 0
    assert set(http["conn_id"]) <= set(a.quic["conn_id"])
