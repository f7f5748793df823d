"""pcapstat: network timing tables (connections, TLS, HTTP, DNS) from packet captures.

    import pcapstat, polars as pl
    a = pcapstat.analyze("testdata/lab/f_refused_syndrop/capture.pcap")
    a.connections.filter(pl.col("outcome") == "refused")   # polars DataFrames
    a.summary["tcp_connections"]["outcomes"]               # the CLI's JSON report, as a dict
    a.figures["connect.p95"]                               # named figures (durations in ns)

The tables have the columns and types of ``pcapstat analyze --parquet`` (docs/metrics.md); they
reach Python through the Arrow C stream interface, without a copy. Full documentation:
docs/python.md.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import os as _os
import time as _clock
import warnings as _warnings
from functools import cached_property as _cached_property
from typing import Any, Dict, List, Optional, Union

import polars as _pl

from . import _native
from ._errors import DamagedCaptureWarning, PcapstatError, ReadError

__all__ = [
    "Analysis",
    "DamagedCaptureWarning",
    "FIGURES",
    "PcapstatError",
    "ReadError",
    "TABLES",
    "analyze",
    "capture_files",
    "partition_value",
]

__version__: str = _native.VERSION

#: The table names: ``connections``, ``tls``, ``http``, ``dns``, ``websocket``.
TABLES = tuple(_native.TABLES)

#: Every named figure (docs/figures.md): name -> {"unit", "better", "definition"}. ``unit`` is
#: ``count``, ``ratio``, ``number`` or ``duration`` (values in nanoseconds); ``better`` is
#: ``lower``, ``higher`` or ``neither``.
FIGURES: Dict[str, Dict[str, str]] = {
    name: {"unit": unit, "better": better, "definition": definition}
    for name, unit, better, definition in _native.figure_definitions()
}

Source = Union[str, "_os.PathLike[str]", bytes, bytearray, memoryview]
Time = Union[str, _dt.datetime, _dt.timedelta]


def _time(what: str, value: Optional[Time]) -> Optional[str]:
    """A time bound as the CLI's ``--since``/``--until`` text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what}: a datetime without a time zone is ambiguous; give tzinfo")
        utc = value.astimezone(_dt.timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, _dt.timedelta):
        us = value // _dt.timedelta(microseconds=1)
        if us < 0:
            raise ValueError(f"{what}: a timedelta after the first packet cannot be negative")
        return f"+{us}us"
    raise TypeError(f"{what}: expected str, datetime or timedelta, got {type(value).__name__}")


class Analysis:
    """One capture's analysis: the tables, the report and the figures.

    Returned by :func:`analyze`; the tables are built when first read, then kept.
    """

    def __init__(self, native: "_native.NativeAnalysis", size: Optional[int] = None) -> None:
        self._native = native
        self._size = size

    def _table(self, name: str) -> _pl.DataFrame:
        return _pl.DataFrame(self._native.table(name))

    @_cached_property
    def connections(self) -> _pl.DataFrame:
        """One row per TCP connection (docs/metrics.md, "connections")."""
        return self._table("connections")

    @_cached_property
    def tls(self) -> _pl.DataFrame:
        """One row per TLS handshake (docs/metrics.md, "tls")."""
        return self._table("tls")

    @_cached_property
    def http(self) -> _pl.DataFrame:
        """One row per HTTP request, with its DNS, connect, TLS, send, wait and receive phases."""
        return self._table("http")

    @_cached_property
    def dns(self) -> _pl.DataFrame:
        """One row per DNS query (docs/metrics.md, "dns")."""
        return self._table("dns")

    @_cached_property
    def websocket(self) -> _pl.DataFrame:
        """One row per WebSocket connection (docs/metrics.md, "websocket")."""
        return self._table("websocket")

    @_cached_property
    def quic(self) -> _pl.DataFrame:
        """One row per QUIC connection (docs/metrics.md, "quic")."""
        return self._table("quic")

    @property
    def tables(self) -> Dict[str, _pl.DataFrame]:
        """The tables by name (``connections``, ``tls``, ``http``, ``dns``, ``websocket``,
        ``quic``)."""
        return {name: getattr(self, name) for name in TABLES}

    @_cached_property
    def summary(self) -> Dict[str, Any]:
        """The JSON report of ``pcapstat analyze --format json`` for this capture, as a dict
        (keys: docs/summary.md). Durations are integer nanoseconds."""
        return _json.loads(self._native.summary_json)

    @_cached_property
    def figures(self) -> Dict[str, Union[int, float, None]]:
        """The named figures (docs/figures.md): counts and durations (nanoseconds) as int,
        ratios and numbers as float, None without data. Units: :data:`FIGURES`."""
        return self._native.figures()

    @property
    def source(self) -> Optional[str]:
        """The name of the capture (the ``capture`` column): the path given, or ``name=``."""
        return self._native.source

    @property
    def damaged(self) -> Optional[str]:
        """The damage warning (``NAME: capture damaged at byte N after frame M: reason``), or
        None for an intact capture; ``summary["damaged"]`` has the same as fields."""
        return self._native.damage

    def write_parquet(
        self, directory: Union[str, "_os.PathLike[str]"], *, partition: bool = False
    ) -> List[str]:
        """Write the tables as Parquet with the CLI's writer, types and metadata:
        ``DIRECTORY/TABLE.parquet`` (as ``pcapstat analyze CAPTURE --parquet DIRECTORY``), or
        with ``partition=True`` ``DIRECTORY/TABLE/capture=NAME/part.parquet`` (as
        ``--partition``; NAME percent-encoded, see :func:`partition_value`). Each file is
        written under a temporary name and renamed; the files are not one transaction. Returns
        the paths written. Raises :class:`PcapstatError` when a file cannot be written."""
        metadata = [
            ("pcapstat.sources", self._source_description()),
            ("pcapstat.options", self._native.parquet_options),
        ]
        paths = self._native.write_parquet(_os.fspath(directory), partition, metadata)
        return [_os.fspath(p) for p in paths]

    def _source_description(self) -> str:
        """``NAME (N bytes, FIRST..LAST)``: the CLI's ``pcapstat.sources`` entry."""
        s = self.summary
        name = self.source or ""
        size = self._size
        if size is None and self.source is not None:
            try:
                size = _os.stat(self.source).st_size
            except OSError:
                size = None
        size_text = "unknown size" if size is None else f"{size} bytes"
        if s.get("first_ts") is None or s.get("last_ts") is None:
            span = "no frames"
        else:
            span = f"{_rfc3339(s['first_ts'])}..{_rfc3339(s['last_ts'])}"
        return f"{name} ({size_text}, {span})"

    def __repr__(self) -> str:
        s = self.summary
        apps = s.get("applications", {})
        inferred = apps["http"].get("inferred", {}).get("requests", 0)
        http = f"{apps['http']['requests'] + inferred} http"
        if inferred:
            http += f" ({inferred} inferred)"
        return (
            f"<pcapstat.Analysis {self.source or '(unnamed)'}: "
            f"{s['tcp_connections']['connections']} connections, "
            f"{apps['tls']['handshakes']} tls, {http}, "
            f"{apps['dns']['queries']} dns{', damaged' if self.damaged else ''}>"
        )


def _rfc3339(ns: int) -> str:
    """Nanoseconds since the epoch as the CLI writes them: ``2023-11-14T22:13:20.123456789Z``."""
    secs, frac = divmod(ns, 1_000_000_000)
    return _clock.strftime("%Y-%m-%dT%H:%M:%S", _clock.gmtime(secs)) + f".{frac:09d}Z"


def partition_value(name: str) -> str:
    """The directory name of capture ``name`` in the Hive layout, after ``capture=``: bytes
    other than ASCII letters, digits, ``-``, ``_`` and ``.`` as ``%XX`` (pyarrow, polars,
    DuckDB and Spark decode it back)."""
    return _native.partition_value(name)


def capture_files(directory: Union[str, "_os.PathLike[str]"]) -> List[str]:
    """The capture files of a directory (not its subdirectories) as ``pcapstat analyze DIR``
    takes them: files whose first bytes look like a capture, in natural name order (tcpdump
    ``-C``/``-G`` rotations). Raises :class:`ReadError` when the directory cannot be read,
    :class:`PcapstatError` when it holds no capture."""
    return _native.capture_files(_os.fspath(directory))


def analyze(
    source: Source,
    *,
    keylog: Union[str, "_os.PathLike[str]", None] = None,
    threads: int = 0,
    name: Optional[str] = None,
    server: Optional[str] = None,
    client: Optional[str] = None,
    sni: Optional[str] = None,
    port: Optional[int] = None,
    since: Optional[Time] = None,
    until: Optional[Time] = None,
    idle_timeout: float = 300.0,
    top: int = 5,
    strict: bool = False,
    embedded_secrets: bool = True,
) -> Analysis:
    """Analyse one capture: ``pcapstat analyze`` as a function.

    ``source`` is a path (str or os.PathLike) to a pcap or pcapng file, plain, gzip or zstd, or
    the bytes of one. The other arguments are the CLI's options (docs/python.md):

    - ``keylog``: a TLS key log file (``SSLKEYLOGFILE``); keys embedded in a pcapng are used
      without it (``embedded_secrets=False`` ignores them).
    - ``threads``: 0 for one per core; the output is the same for any value.
    - ``name``: for bytes, the name of the capture (the ``capture`` column and the report's
      ``file``); a path names itself.
    - filters ``server``, ``client``, ``sni``, ``port``, ``since``, ``until``: the same forms as
      the CLI's flags (``server="10.0.0.2:443"``, ``since="+2s"``); ``since``/``until`` also take
      an aware ``datetime`` or a ``timedelta`` after the first packet.
    - ``idle_timeout`` (seconds), ``top`` (entries of the report's lists), as the CLI's.
    - ``strict``: a damaged capture raises :class:`PcapstatError` instead of a
      :class:`DamagedCaptureWarning`.

    Raises :class:`ReadError` (also an OSError) when a file cannot be read,
    :class:`PcapstatError` when the input is not a capture, ValueError for an argument the CLI
    would reject (``server="999.1.1.1"``). The analysis runs without the GIL.
    """
    if threads < 0:
        raise ValueError("threads must be 0 (one per core) or more")
    if top < 0:
        raise ValueError("top must be 0 or more")
    if port is not None and not 0 <= port <= 65535:
        raise ValueError(f"invalid value {port!r} for port: not a port (0-65535)")
    kwargs: Dict[str, Any] = dict(
        keylog=None if keylog is None else _os.fspath(keylog),
        threads=threads,
        idle_timeout=float(idle_timeout),
        top=top,
        server=server,
        client=client,
        sni=sni,
        port=port,
        since=_time("since", since),
        until=_time("until", until),
        embedded_secrets=embedded_secrets,
    )
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        native = _native.analyze(data=data, name=name, **kwargs)
        size: Optional[int] = len(data)
    else:
        if name is not None:
            raise ValueError("name= is for bytes; a path names its capture")
        native = _native.analyze(path=_os.fspath(source), **kwargs)
        size = None
    if native.damage is not None:
        if strict:
            raise PcapstatError(native.damage)
        _warnings.warn(native.damage, DamagedCaptureWarning, stacklevel=2)
    return Analysis(native, size)
