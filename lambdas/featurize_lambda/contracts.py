"""The documents the steps pass each other, defined once (handlers and client use only these classes).

Every handler and the client read and write them only through these classes.

Each is a frozen dataclass whose field names are the JSON keys: ``to_json`` gives the document (what
S3 or Step Functions holds), ``from_json`` reads one back (unknown keys ignored, so an older or newer
writer's document still reads).

============================  =============================================  =====================================
document                      written by                                     read by
============================  =============================================  =====================================
:class:`ManifestItem`         Partition (``runs/<run>/manifest.json``)       the Map's ItemReader, Features, Reduce
:class:`RunDocument`          Partition (``runs/<run>/run.json``)            Features, Reduce
:class:`PartitionSummary`     Partition (its task output)                    the ASL (``$.manifest_key``,
                                                                             ``$.max_concurrency``), Reduce
:class:`ChunkResult`          Features (its task output)                     the Map's ResultWriter
:class:`FailureRecord`        Features, on error (``runs/<run>/failures/``)  Reduce
:class:`FailureList`          Reduce (``runs/<run>/failures.json``, and      the client (``RunFailed.failures``)
                              next to a partial output)
:class:`RunSummary`           Reduce (the execution's output)                the client
:class:`DatasetManifest`      Reduce (``<output>/_manifest.json`` of a       the client, the dataset's readers
                              dataset output)
============================  =============================================  =====================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Self

from .options import RunOptions


class _Document:
    """``to_json``/``from_json`` of a flat dataclass whose field names are the document's keys."""

    def to_json(self) -> dict[str, Any]:
        """The JSON document."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        """Read a document: known keys only; a missing key takes the field's default."""
        values = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name in document:
                values[f.name] = document[f.name]
            elif f.default is MISSING and f.default_factory is MISSING:
                raise KeyError(f"{cls.__name__} document lacks {f.name!r}")
        return cls(**values)


@dataclass(frozen=True)
class ManifestItem(_Document):
    """One chunk of a run, as the manifest lists it and the Map hands it to a Features invocation.

    ``rows`` and ``ids`` are the partition step's counts (0 and None: not known, nothing to check).
    """

    run: str
    chunk: int
    rows: int = 0
    ids: int | None = None


@dataclass(frozen=True)
class RunDocument:
    """A run's parsed options, its output URI and the kinds of its series (``run.json``)."""

    options: RunOptions
    output: str
    kinds: list[str]

    def to_json(self) -> dict[str, Any]:
        """The JSON document (the options under ``config``)."""
        return {"config": self.options.to_json(), "output": self.output, "kinds": list(self.kinds)}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> RunDocument:
        """Read back :meth:`to_json`."""
        return cls(RunOptions.from_json(document["config"]), document["output"], list(document["kinds"]))


@dataclass(frozen=True)
class PartitionSummary(_Document):
    """The Partition task's output: small metadata only (the state machine passes it to the Map and Reduce).

    ``manifest_key`` is the Map's ItemReader key and ``max_concurrency`` its ``MaxConcurrencyPath``
    (always present: a path that does not resolve fails the run).
    """

    run: str
    manifest_key: str
    output: str
    rows: int
    ids: int
    kinds: int
    chunks: int
    chunk_size: int | None
    files: int
    notes: list[str] = field(default_factory=list)
    max_concurrency: int | None = None


@dataclass(frozen=True)
class ChunkResult(_Document):
    """A Features invocation's output (the result object's metadata holds the rows computed)."""

    chunk: int
    ids: int
    result_key: str


@dataclass(frozen=True)
class FailureRecord(_Document):
    """What a Features invocation writes before it raises: its chunk, the error type and message."""

    chunk: int
    error: str
    message: str


#: The ``error`` of a chunk with neither a result nor a failure record.
NO_RESULT = "NoResult"


@dataclass(frozen=True)
class ChunkFailure(_Document):
    """One failed chunk in a failure list: where it is, its ids and why it failed.

    ``error`` is the exception's type name, or :data:`NO_RESULT` when the Lambda died without writing a
    failure record.
    """

    chunk: int
    rows: int
    ids_count: int | None
    chunk_object: str
    error: str
    message: str
    ids: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class FailureList:
    """Every failed chunk of a run, with the counts (``runs/<run>/failures.json``)."""

    run: str
    output: str
    chunks: int
    failed_chunks: int
    failed_ids: int
    failed_rows: int
    tolerated_failure_percentage: float
    failures: list[ChunkFailure]

    def to_json(self) -> dict[str, Any]:
        """The JSON document."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {
            "failures": [failure.to_json() for failure in self.failures]
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> FailureList:
        """Read back :meth:`to_json`."""
        values = {f.name: document[f.name] for f in fields(cls) if f.name != "failures"}
        return cls(**values, failures=[ChunkFailure.from_json(f) for f in document.get("failures", [])])


@dataclass(frozen=True)
class RunSummary(_Document):
    """Reduce's output, the execution's output: the output URI and the counts.

    ``failures`` (the failure list next to a partial output) and ``failed_ids`` only for a partial output;
    ``parts`` only for a dataset output.
    """

    run: str
    output: str
    ids: int
    rows: int
    features: int
    chunks: int
    failed_chunks: int
    notes: list[str] = field(default_factory=list)
    failures: str | None = None
    failed_ids: int | None = None
    parts: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON document (no ``failures``/``failed_ids`` keys for a complete output, no ``parts`` for a file)."""
        document = asdict(self)
        if self.failures is None:
            del document["failures"], document["failed_ids"]
        if self.parts is None:
            del document["parts"]
        return document


#: The sort order a dataset manifest states (and the README): within a part, and across parts.
DATASET_SORT_ORDER = (
    "ids ascending within each part; across parts ids interleave (each part is one hash-routed chunk): "
    "sort after reading for tsfresh's global id order"
)


@dataclass(frozen=True)
class DatasetPart(_Document):
    """One part of a dataset output: its file name (in the prefix), chunk, ids (its rows), input rows, id range."""

    file: str
    chunk: int
    ids: int
    rows: int
    min_id: Any = None
    max_id: Any = None


@dataclass(frozen=True)
class DatasetManifest:
    """A dataset output's ``_manifest.json``: its parts, counts, columns and sort order.

    ``columns`` is every part's schema, in order (the id column first); ``failures`` the failure list's
    name in the prefix when failed chunks were tolerated, else None.
    """

    run: str
    output: str
    ids: int
    rows: int
    column_id: str
    columns: list[str]
    parts: list[DatasetPart]
    sort_order: str = DATASET_SORT_ORDER
    failures: str | None = None
    format: str = "parquet"

    def to_json(self) -> dict[str, Any]:
        """The JSON document."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"parts": [p.to_json() for p in self.parts]}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> DatasetManifest:
        """Read back :meth:`to_json`."""
        values = {f.name: document[f.name] for f in fields(cls) if f.name != "parts" and f.name in document}
        return cls(**values, parts=[DatasetPart.from_json(p) for p in document.get("parts", [])])
