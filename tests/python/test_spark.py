"""The PySpark job examples/spark/pcapstat_job.py, in local mode (local[2]): its dataset equals
`pcapstat analyze --partition --parquet` over the same captures (the same files: paths, rows,
types, metadata), from paths and from Spark's binaryFile source; a capture that is not one fails
the job with pcapstat's message and leaves the output as it was; Spark SQL reads the dataset.

Needs pyspark and Java 17 (`.ci/run` installs both); outside CI the module is skipped without
them. Spark binds to the loopback address only.
"""

import importlib.util
import os
import shutil
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

REPO = Path(__file__).resolve().parents[2]

try:
    import pcapstat
    import pyspark  # noqa: F401
    from pyspark.sql import SparkSession

    if shutil.which("java") is None:
        raise ImportError("java is not on the PATH")
except ImportError as e:
    if os.environ.get("CI"):  # .ci/run installs pyspark, Java and the package
        raise
    pytest.skip(f"Spark job tests need pyspark, Java and pcapstat: {e}", allow_module_level=True)

spec = importlib.util.spec_from_file_location("pcapstat_job", REPO / "examples/spark/pcapstat_job.py")
job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(job)

from captures import CAPTURES as BUNDLED, LAB  # noqa: E402  (tests/python/captures.py)

# The package's captures and the legacy-pcap twin of the TLS one.
CAPTURES = [f"{LAB}/d_tls_resumption/capture.pcap", *BUNDLED]


def binary() -> Path:
    if os.environ.get("PCAPSTAT_BIN"):
        return Path(os.environ["PCAPSTAT_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "pcapstat"


def cli_partitioned(inputs, out: Path):
    subprocess.run(
        [str(binary()), "analyze", "--partition", "--parquet", str(out), *map(str, inputs)],
        cwd=REPO, capture_output=True, check=True,
    )


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("pcapstat-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        # pcapstat's timestamps are nanoseconds: Spark reads them as bigint with this
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def files(root: Path):
    return sorted(p.relative_to(root) for p in root.rglob("*.parquet"))


def metadata(path: Path) -> dict:
    import pyarrow.parquet as pq

    kv = dict(pq.read_metadata(path).metadata)
    kv.pop(b"ARROW:schema", None)
    return kv


def assert_same_dataset(got: Path, want: Path):
    assert files(got) == files(want)
    assert len(files(want)) > 0
    for rel in files(want):
        assert_frame_equal(pl.read_parquet(got / rel), pl.read_parquet(want / rel))
        assert metadata(got / rel) == metadata(want / rel), rel
    # no staging directory left behind
    assert not [p for p in got.iterdir() if p.name.startswith(".")]


def test_job_equals_the_cli_partitioned_output(spark, tmp_path):
    odd = tmp_path / "in" / "a b=c%d.pcap"
    odd.parent.mkdir()
    odd.write_bytes((REPO / CAPTURES[3]).read_bytes())
    inputs = CAPTURES + [str(odd)]
    cli_partitioned(inputs, tmp_path / "cli")
    start = time.monotonic()
    manifest = job.run(spark, inputs, str(tmp_path / "job"))
    print(f"Spark job: {len(inputs)} captures in {time.monotonic() - start:.1f} s")
    assert_same_dataset(tmp_path / "job", tmp_path / "cli")
    assert [m["capture"] for m in manifest[:: len(pcapstat.TABLES)]] == inputs
    for m in manifest:
        assert pl.read_parquet(m["file"]).height == m["rows"]


def test_job_reads_directories_and_binary_files_as_the_cli(spark, tmp_path):
    """A directory stands for its capture files (the CLI's list); --binary reads them with
    binaryFile and names them by absolute path."""
    rotated = tmp_path / "rotated"
    rotated.mkdir()
    for i, c in enumerate(CAPTURES[3:6]):
        (rotated / f"trace.pcap{i or ''}").write_bytes((REPO / c).read_bytes())
    (rotated / "notes.txt").write_text("not a capture\n")
    cli_partitioned([rotated], tmp_path / "cli")
    job.run(spark, [str(rotated)], str(tmp_path / "job"))
    assert_same_dataset(tmp_path / "job", tmp_path / "cli")
    absolute = [str(REPO / c) for c in CAPTURES[:4]]
    cli_partitioned(absolute, tmp_path / "cli-abs")
    job.run(spark, absolute, str(tmp_path / "job-bin"), binary=True)
    assert_same_dataset(tmp_path / "job-bin", tmp_path / "cli-abs")


def test_failing_capture_fails_the_job_and_keeps_the_output(spark, tmp_path):
    out = tmp_path / "out"
    job.run(spark, [CAPTURES[3]], str(out))
    before = files(out)
    broken = "testdata/broken/text-file.pcap"
    res = subprocess.run([str(binary()), "analyze", broken], cwd=REPO, capture_output=True,
                         text=True)
    message = res.stderr.strip().splitlines()[-1].removeprefix("pcapstat: error: ")
    with pytest.raises(RuntimeError) as e:
        job.run(spark, [CAPTURES[4], broken], str(out))
    assert message in str(e.value)
    assert "PcapstatError" in str(e.value)
    assert files(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_duplicate_input_is_refused_as_the_cli_refuses_it(spark, tmp_path):
    with pytest.raises(ValueError, match="given twice"):
        job.run(spark, [CAPTURES[3], CAPTURES[3]], str(tmp_path / "out"))


def test_spark_sql_reads_the_dataset(spark, tmp_path):
    inputs = CAPTURES[3:6]
    job.run(spark, inputs, str(tmp_path / "out"))
    for table in pcapstat.TABLES:
        df = spark.read.parquet(str(tmp_path / "out" / table))
        got = {r["capture"]: r["count"] for r in df.groupBy("capture").count().collect()}
        want = {c: getattr(pcapstat.analyze(c), table).height for c in inputs}
        assert got == {c: n for c, n in want.items() if n}, table
    conns = spark.read.parquet(str(tmp_path / "out" / "connections"))
    refused = conns.filter("outcome = 'refused'").count()
    assert refused == 6  # 3 in each f_refused_syndrop capture
