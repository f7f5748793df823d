"""Many captures on Spark: one task per capture calls ``pcapstat.analyze`` and writes its four
tables into one Hive-partitioned Parquet dataset, the layout (and the files) of
``pcapstat analyze --partition --parquet OUT CAPTURE...``::

    OUT/connections/capture=NAME/part.parquet
    OUT/tls/capture=NAME/part.parquet
    OUT/http/capture=NAME/part.parquet
    OUT/dns/capture=NAME/part.parquet

Run (examples/spark/README.md has the cluster version)::

    spark-submit --master 'local[2]' examples/spark/pcapstat_job.py --output out/ captures/*.pcap
    python3 examples/spark/pcapstat_job.py --master 'local[2]' --output out/ rotated/

Inputs are capture files or directories (each stands for its capture files, as for the CLI).
By default each task reads its capture by path, so the paths must be readable on every executor
(a shared file system); ``--binary`` reads them with Spark's ``binaryFile`` source instead (any
file system Spark reads, e.g. ``s3a://``; captures up to 2 GB each) and names each capture by the
path Spark reports (``file:`` dropped for local files).

The tables are written by the tasks with pcapstat's own Parquet writer, not by Spark's: Spark's
types have no unsigned integers, no nanosecond timestamps and no nanosecond durations, and the
dataset keeps the column contract of docs/metrics.md. OUT must therefore be a directory that the
driver and every executor see at the same path. The set is written all-or-nothing, as the CLI's:
into ``OUT/.pcapstat-staging-spark-APP`` first (a hidden name readers skip), moved into place when
every capture succeeded. A capture that cannot be read fails its task with pcapstat's error
(``x.pcap: not a pcap or pcapng file ...``), the job stops with that message, and OUT keeps the
tables it had before.

Spark itself (the driver and the executors' Python) needs ``pip install pyspark pyarrow`` and the
pcapstat wheel (docs/python.md); ``mapInArrow`` hands the tasks Arrow record batches.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence

import pcapstat

MANIFEST_SCHEMA = "capture string, table string, rows long, file string"


def expand(inputs: Sequence[str]) -> List[str]:
    """Files as given; a directory replaced by its capture files (``pcapstat.capture_files``,
    the CLI's list). Raises ``pcapstat.PcapstatError`` for a directory without a capture, and
    ValueError for a file given twice (its partitions would overwrite each other, as the CLI
    says for ``--partition``)."""
    out: List[str] = []
    for item in inputs:
        if os.path.isdir(item):
            out.extend(pcapstat.capture_files(item))
        else:
            out.append(item)
    seen = set()
    for path in out:
        if path in seen:
            raise ValueError(
                f"--partition: {path} is given twice; its partitions would overwrite each other"
            )
        seen.add(path)
    return out


def capture_name(spark_path: str) -> str:
    """The capture's name for a path Spark's binaryFile source reports: ``file:/a/b.pcap`` ->
    ``/a/b.pcap`` (what the CLI would be given); other schemes stay as they are."""
    if spark_path.startswith("file://"):
        return spark_path[len("file://"):]
    if spark_path.startswith("file:"):
        return spark_path[len("file:"):]
    return spark_path


def _analyze_partitions(staging: str, options: dict):
    """The mapInArrow function: each input row is one capture (``path``, and ``content`` with
    ``--binary``); its tables go to ``staging``, one manifest row per file comes back. An
    exception (a capture that is not one) fails the task with pcapstat's message."""

    def run(batches: Iterable) -> Iterator:
        import pyarrow as pa

        import pcapstat as pc

        for batch in batches:
            cols = batch.to_pydict()
            contents = cols.get("content")
            for i, path in enumerate(cols["path"]):
                if contents is None:
                    analysis = pc.analyze(path, **options)
                else:
                    analysis = pc.analyze(contents[i], name=capture_name(path), **options)
                files = analysis.write_parquet(staging, partition=True)
                rows = [analysis.tables[t].height for t in pc.TABLES]
                yield pa.RecordBatch.from_pydict(
                    {
                        "capture": [analysis.source] * len(files),
                        "table": list(pc.TABLES),
                        "rows": rows,
                        "file": files,
                    },
                    schema=pa.schema(
                        [("capture", pa.string()), ("table", pa.string()), ("rows", pa.int64()),
                         ("file", pa.string())]
                    ),
                )

    return run


def commit(staging: Path, output: Path) -> None:
    """Moves the tables of ``staging`` into ``output`` (each table directory replaced whole, as
    the CLI's table set), then removes ``staging``."""
    for table in pcapstat.TABLES:
        target = output / table
        if target.exists():
            shutil.rmtree(target)
        (staging / table).rename(target)
    shutil.rmtree(staging)


def run(
    spark,
    inputs: Sequence[str],
    output: str,
    *,
    binary: bool = False,
    keylog: Optional[str] = None,
    threads: int = 1,
    idle_timeout: float = 300.0,
) -> List[dict]:
    """Analyse ``inputs`` (files or directories) on ``spark``, one task per capture, into the
    dataset ``output``. Returns the manifest: one dict per file written (capture, table, rows,
    file). Raises the first failing capture's error (as a RuntimeError whose message contains
    pcapstat's), after removing the staging directory; ``output`` is then unchanged."""
    captures = expand(inputs)
    if not captures:
        raise ValueError("no capture given")
    out = Path(output).absolute()
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".pcapstat-staging-spark-{spark.sparkContext.applicationId}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    options = {"threads": threads, "idle_timeout": idle_timeout}
    if keylog is not None:
        options["keylog"] = os.path.abspath(keylog)
    try:
        if binary:
            # Spark lists the files; the tasks get their bytes (one capture per row)
            df = (
                spark.read.format("binaryFile")
                .load([c if "://" in c else os.path.abspath(c) for c in captures])
                .select("path", "content")
                .repartition(len(captures))
            )
        else:
            # one capture per task: each reads its file by path
            df = spark.sparkContext.parallelize(captures, len(captures)).map(
                lambda c: (c,)
            ).toDF("path string")
        manifest = df.mapInArrow(_analyze_partitions(str(staging), options), MANIFEST_SCHEMA)
        rows = [r.asDict() for r in manifest.collect()]
    except Exception as e:  # a failed task: keep OUT as it was, say which capture and why
        _discard(spark, staging)
        raise RuntimeError(f"pcapstat Spark job failed: {_python_error(e)}") from e
    names = [capture_name(c if "://" in c else os.path.abspath(c)) for c in captures] if binary \
        else list(captures)
    written = sorted((r["capture"], r["table"]) for r in rows)
    expected = sorted((c, t) for c in names for t in pcapstat.TABLES)
    if written != expected:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(
            f"pcapstat Spark job: {len(written)} files written, {len(expected)} expected"
        )
    commit(staging, out)
    prefix = str(staging)
    for r in rows:
        r["file"] = str(out) + r["file"][len(prefix):]
    order = {n: i for i, n in enumerate(names)}
    return sorted(rows, key=lambda r: (order[r["capture"]], pcapstat.TABLES.index(r["table"])))


def _discard(spark, staging: Path, timeout: float = 120.0, settle: float = 3.0) -> None:
    """Removes ``staging`` after a failed job. Spark fails the job as soon as one task fails,
    while the job's other tasks may still be writing into ``staging``: removed under them, it
    would come back with what they write next. So the other tasks are cancelled, and
    ``staging`` is removed once no task runs (or after ``timeout`` seconds), then again if a
    killed task's Python worker, which Spark stops within ``spark.python.task.killTimeout``
    (2 s), wrote after that, for ``settle`` seconds."""
    sc = spark.sparkContext
    sc.cancelAllJobs()
    tracker = sc._jsc.sc().statusTracker()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        infos = tracker.getExecutorInfos()
        if sum(infos[i].numRunningTasks() for i in range(len(infos))) == 0:
            break
        time.sleep(0.05)
    shutil.rmtree(staging, ignore_errors=True)
    settled = time.monotonic() + settle
    while time.monotonic() < settled:
        time.sleep(0.1)
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _python_error(e: BaseException) -> str:
    """The last line of a Python error raised in a task (``pcapstat._errors.PcapstatError:
    x.pcap: not a pcap ...``), else the exception as Spark gives it."""
    text = str(e)
    for line in reversed(text.splitlines()):
        if "pcapstat._errors." in line or "Error:" in line:
            return line.strip()
    return text.strip().splitlines()[-1] if text.strip() else repr(e)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", metavar="CAPTURE", help="capture files or directories")
    p.add_argument("--output", required=True, help="the dataset directory (shared by all nodes)")
    p.add_argument("--binary", action="store_true", help="read captures with binaryFile")
    p.add_argument("--keylog", help="TLS key log file (readable on every executor)")
    p.add_argument("--threads", type=int, default=1, help="pcapstat threads per task (default 1)")
    p.add_argument("--idle-timeout", type=float, default=300.0, help="seconds (as the CLI's)")
    p.add_argument("--master", help="Spark master when run with python3 (spark-submit sets it)")
    args = p.parse_args(argv)

    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("pcapstat")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    start = time.monotonic()
    try:
        manifest = run(
            spark, args.inputs, args.output, binary=args.binary, keylog=args.keylog,
            threads=args.threads, idle_timeout=args.idle_timeout,
        )
    except (RuntimeError, ValueError, pcapstat.PcapstatError) as e:
        print(f"pcapstat-spark: error: {e}", file=sys.stderr)
        return 2
    finally:
        elapsed = time.monotonic() - start
    captures = len({r["capture"] for r in manifest})
    for t in pcapstat.TABLES:
        n = sum(r["rows"] for r in manifest if r["table"] == t)
        print(f"{t:12} {n:8} rows")
    print(f"{captures} captures into {args.output} in {elapsed:.1f} s")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
