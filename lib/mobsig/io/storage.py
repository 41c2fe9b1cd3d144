"""Input files on the local disk or on any Hadoop file system (hdfs://, s3a://, viewfs://...).

A configured input location is either a plain path (resolved against the config file's
folder, read with pathlib as before) or a URI with a scheme, which is read through Hadoop's
``FileSystem`` in the session's JVM, with the session's Hadoop configuration (so whatever
the cluster mounts - HDFS, S3A, OSS, viewfs, ``file://`` - works the same way).

Both implement :class:`Files`, the few driver-side operations the ingest jobs need before
Spark reads the data: a path's kind (file, folder, missing), the data files under a
folder (one ``listStatus`` per folder, never one call per file), the first bytes and the
first text line of a file, and the schema of a Parquet file (its footer only).
:func:`first_line_of` finds a file's first line in its first bytes (gunzipping them for a
``.gz`` name), so one read of a file's head tells its format, compression and first line.

Nothing here is imported before Spark starts except the pure URI helpers
(:func:`is_uri`, :func:`local_path`), which config validation uses.
"""

from __future__ import annotations

import gzip
import posixpath
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from mobsig.errors import InputError

# a scheme of two or more characters, then ':/' (hdfs://nn/x, s3a://b/x, file:/x,
# file:///x); one letter would be a Windows drive
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:/")
FILE = "file"
DIR = "dir"
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
_EOL = re.compile(rb"[\r\n]")  # a line ends at \n, \r or \r\n (as readline and Hadoop)
_GUNZIP_CHUNK = 1 << 16


def is_uri(location: str | Path) -> bool:
    """True for a location with a scheme (read through Hadoop), False for a plain path."""
    return isinstance(location, str) and bool(_URI.match(location))


def local_path(location: str | Path) -> Path | None:
    """The local path of a plain path or a ``file:`` URI; None for any other scheme.

    Like Hadoop's ``Path``, the URI's path is taken literally (no %-decoding)."""
    if not is_uri(location):
        return Path(location)
    parts = urlsplit(str(location))
    if parts.scheme.lower() != "file":
        return None
    return Path(parts.path)


def join(root: str | Path, *names: str) -> str | Path:
    """``root/name/...`` keeping the kind of ``root`` (Path stays Path, URI stays str)."""
    if is_uri(root):
        return "/".join([str(root).rstrip("/"), *names])
    return Path(root).joinpath(*names)


def basename(location: str | Path) -> str:
    if is_uri(location):
        return posixpath.basename(urlsplit(str(location)).path.rstrip("/"))
    return Path(location).name


@dataclass(frozen=True)
class DataFile:
    """A data file found under a folder: its location (as Spark should read it), its
    name and its size in bytes."""
    location: str
    name: str
    size: int


class Files(Protocol):
    """Driver-side file operations on one kind of storage (see the module doc)."""

    def kind(self, location: str | Path) -> str | None:
        """``file``, ``dir`` or None when the location does not exist."""

    def data_files(self, folder: str | Path) -> list[DataFile]:
        """Files under ``folder`` (recursively), sorted by location, skipping names that
        start with ``_`` or ``.`` at any level below the folder and ``.crc`` checksums."""

    def head(self, location: str, n: int, size: int | None = None) -> bytes:
        """The first ``n`` bytes (fewer for a shorter file), with one open of the file.
        ``size`` (the length from the listing, when known) spares object stores a status
        call before the read."""

    def first_line(self, location: str) -> str:
        """The first text line (UTF-8, gunzipped when the name ends in ``.gz``), without
        the line end and a byte-order mark."""

    def parquet_schema(self, location: str) -> Any:
        """A hashable description of the Parquet file's schema (equal for equal schemas);
        InputError when the file is not readable Parquet."""


def _skipped(name: str) -> bool:
    return name.startswith(("_", ".")) or name.endswith(".crc")


class LocalFiles:
    """Plain local paths, with pathlib and pyarrow (no Spark needed)."""

    def kind(self, location: str | Path) -> str | None:
        p = Path(location)
        return DIR if p.is_dir() else FILE if p.is_file() else None

    def data_files(self, folder: str | Path) -> list[DataFile]:
        folder = Path(folder)
        found = sorted(p for p in folder.rglob("*") if p.is_file()
                       and not any(part.startswith(("_", "."))
                                   for part in p.relative_to(folder).parts)
                       and not p.name.endswith(".crc"))
        return [DataFile(str(p), p.name, p.stat().st_size) for p in found]

    def head(self, location: str, n: int, size: int | None = None) -> bytes:
        try:
            with open(location, "rb") as fh:
                return fh.read(n)
        except OSError as exc:
            raise InputError(f"{location!r}: cannot read: {exc}") from None

    def first_line(self, location: str) -> str:
        opener = gzip.open if location.lower().endswith(".gz") else open
        try:
            with opener(location, "rt", encoding="utf-8", errors="replace", newline="") as fh:
                return fh.readline().rstrip("\r\n").lstrip("\ufeff")
        except (OSError, EOFError) as exc:
            raise InputError(f"{location!r}: cannot read: {exc}") from None

    def parquet_schema(self, location: str) -> Any:
        import pyarrow.parquet as pq

        try:
            sch = pq.read_schema(location)
        except Exception as exc:  # noqa: BLE001 - any failure means an unreadable file
            raise InputError(f"{location!r}: not a readable Parquet file: {exc}") from None
        return tuple((n.lower(), str(sch.field(n).type)) for n in sch.names)


class HadoopFiles:
    """Any Hadoop file system, through the session's JVM (``spark._jvm``).

    ``conf`` defaults to the session's Hadoop configuration (``spark._jsc
    .hadoopConfiguration()``), so the cluster's file systems and credentials apply.
    Listing costs one ``listStatus`` per folder; reading a first line or a Parquet footer
    opens that one file.
    """

    def __init__(self, spark: Any, conf: Any = None) -> None:
        self._jvm = spark._jvm
        self._conf = conf if conf is not None else spark._jsc.hadoopConfiguration()

    def _path(self, location: str | Path) -> tuple[Any, Any]:
        try:
            p = self._jvm.org.apache.hadoop.fs.Path(str(location))
            return p, p.getFileSystem(self._conf)
        except Exception as exc:  # noqa: BLE001 - Py4JJavaError: bad scheme, unknown host
            raise InputError(f"{str(location)!r}: no usable file system: "
                             f"{java_message(exc)}") from None

    def kind(self, location: str | Path) -> str | None:
        p, fs = self._path(location)
        try:
            if not fs.exists(p):
                return None
            return DIR if fs.getFileStatus(p).isDirectory() else FILE
        except Exception as exc:  # noqa: BLE001 - Py4JJavaError: permission, network
            raise InputError(f"{str(location)!r}: cannot check: {java_message(exc)}") from None

    def data_files(self, folder: str | Path) -> list[DataFile]:
        root, fs = self._path(folder)
        out: list[DataFile] = []
        todo = [root]
        while todo:
            here = todo.pop()
            try:
                listing = fs.listStatus(here)
            except Exception as exc:  # noqa: BLE001 - Py4JJavaError: permission, network
                raise InputError(f"{here.toString()!r}: cannot list: "
                                 f"{java_message(exc)}") from None
            for st in listing:
                path = st.getPath()
                name = path.getName()
                if _skipped(name):
                    continue
                if st.isDirectory():
                    todo.append(path)
                else:
                    out.append(DataFile(path.toString(), name, int(st.getLen())))
        return sorted(out, key=lambda f: f.location)

    def _open(self, location: str, size: int | None = None) -> Any:
        """An input stream; with the file's ``size`` known, through ``openFile`` with the
        standard length option, which lets object stores (S3A) skip the HEAD request that
        a plain ``open`` makes (other file systems ignore the option)."""
        p, fs = self._path(location)
        try:
            if size is None:
                return fs.open(p)
            future = (fs.openFile(p).opt("fs.option.openfile.length", str(size))
                      .build())
            return self._jvm.org.apache.hadoop.util.functional.FutureIO.awaitFuture(future)
        except Exception as exc:  # noqa: BLE001 - Py4JJavaError from the JVM
            raise InputError(f"{location!r}: cannot open: {java_message(exc)}") from None

    def head(self, location: str, n: int, size: int | None = None) -> bytes:
        stream = self._open(location, size)
        try:
            return bytes(stream.readNBytes(n))
        except Exception as exc:  # noqa: BLE001 - Py4JJavaError (a lazy open fails here)
            raise InputError(f"{location!r}: cannot read: {java_message(exc)}") from None
        finally:
            stream.close()

    def first_line(self, location: str) -> str:
        jvm = self._jvm
        stream = self._open(location)
        try:
            if location.lower().endswith(".gz"):
                stream = jvm.java.util.zip.GZIPInputStream(stream)
            reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(
                stream, jvm.java.nio.charset.StandardCharsets.UTF_8))
            line = reader.readLine()
        except Exception as exc:  # noqa: BLE001 - Py4JJavaError from the JVM
            raise InputError(f"{location!r}: cannot read: {java_message(exc)}") from None
        finally:
            stream.close()
        return (line or "").lstrip("\ufeff")

    def parquet_schema(self, location: str) -> Any:
        jvm = self._jvm
        p, _ = self._path(location)
        try:
            src = jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(p, self._conf)
            reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(src)
        except Exception as exc:  # noqa: BLE001 - Py4JJavaError from the JVM
            raise InputError(f"{location!r}: not a readable Parquet file: "
                             f"{java_message(exc)}") from None
        try:
            return reader.getFooter().getFileMetaData().getSchema().toString().lower()
        finally:
            reader.close()


def first_line_of(head: bytes, location: str, gz: bool, complete: bool) -> str | None:
    """The first text line in a file's first bytes ``head``, or None when ``head`` ends
    before the line does (read the file with :meth:`Files.first_line` then).

    As :meth:`Files.first_line`: UTF-8 (bad bytes replaced), without the line end (``\\n``,
    ``\\r`` or ``\\r\\n``) and a byte-order mark; ``gz``: ``head`` is gunzipped first (only
    as far as the first line end, gzip members in turn). ``complete``: ``head`` is the whole
    file, so a file without a line end is one line. A ``gz`` head that is not gzip, or is
    corrupt, is an InputError naming ``location``.
    """
    text = _gunzip_first_line(head, location, complete) if gz else head
    if text is None:
        return None
    m = _EOL.search(text)
    if m is None and not complete:
        return None
    line = bytes(text[:m.start()] if m else text)
    return line.decode("utf-8", errors="replace").lstrip("\ufeff")


def _gunzip_first_line(head: bytes, location: str, complete: bool) -> bytes | None:
    """``head`` gunzipped up to and including its first line end; all of it for a complete
    file without one; None when the compressed bytes end first in an incomplete head."""
    if not head.startswith(GZIP_MAGIC):
        if not complete and GZIP_MAGIC.startswith(head):
            return None  # too few bytes to tell
        raise InputError(f"{location!r}: cannot read: not in gzip format")
    out = bytearray()
    data = head
    try:
        while data:  # one gzip member per round
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while not d.eof:
                chunk = d.decompress(data, _GUNZIP_CHUNK)
                out += chunk
                data = d.unconsumed_tail
                if _EOL.search(chunk):
                    return bytes(out)
                if not chunk and not data:
                    break  # everything given is decoded: the member needs more bytes
            if not d.eof:  # the head ends inside the member
                if complete:
                    raise InputError(f"{location!r}: cannot read: compressed file ended "
                                     "before the end-of-stream marker was reached")
                return None
            data = d.unused_data
    except zlib.error as exc:
        raise InputError(f"{location!r}: cannot read: {exc}") from None
    return bytes(out)


def java_message(exc: Exception) -> str:
    java = getattr(exc, "java_exception", None)
    return str(java.toString()) if java is not None else str(exc)


def files_for(location: str | Path, spark: Any = None) -> Files:
    """:class:`HadoopFiles` for a URI (needs ``spark``), :class:`LocalFiles` otherwise."""
    if not is_uri(location):
        return LocalFiles()
    if spark is None:
        raise ValueError(f"{location!r} has a scheme: reading it needs the Spark session")
    return HadoopFiles(spark)


def require(files: Files, location: str | Path, what: str) -> str:
    """The kind of ``location`` (``file``/``dir``); an InputError naming ``what`` and the
    location when it does not exist."""
    kind = files.kind(location)
    if kind is None:
        raise InputError(f"{what}: {str(location)!r} does not exist")
    return kind
