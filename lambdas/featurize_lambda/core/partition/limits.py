"""The sizes that bound the partition step's memory and its chunks (module constants and :class:`Limits`)."""

from __future__ import annotations

from dataclasses import dataclass

#: Rows per chunk when the execution input leaves ``chunk_size`` null: large enough that the
#: per-chunk overhead (a Lambda invocation, two S3 round trips) is small, small enough that a chunk
#: computes in seconds with the full feature library.
TARGET_ROWS_PER_CHUNK = 100_000
#: Upper bound on the number of chunks of one run when chunk sizes are chosen automatically.
MAX_CHUNKS = 10_000
#: Rows of one bucket: the unit the sort step holds in memory (about 40 bytes a row, plus the sort).
BUCKET_ROWS = 1_000_000
#: At most this many buckets (open spill files) in the first pass; Lambda allows 1,024 open files.
MAX_BUCKETS = 512
#: Routed rows buffered before they are written to the spill files (a bound on the first pass's memory).
SPILL_BUFFER_ROWS = 1_000_000
#: Rows per record batch read from the input (CSV blocks are gathered into batches of about this size).
BATCH_ROWS = 262_144
#: The longest series (one id, all its kinds) a chunk may hold: what one features Lambda (1,769 MB)
#: computes comfortably. A longer one is an error naming the id.
MAX_CHUNK_ROWS = 10_000_000
#: Compression of the spill files (fast; they live for one invocation).
SPILL_COMPRESSION = "lz4"
#: How often a bucket that came out too large is split again before it counts as one giant id.
MAX_RESPLIT_LEVELS = 3


@dataclass(frozen=True)
class Limits:
    """Sizes that bound memory and chunk sizes; the defaults are the module constants.

    Tests shrink them to exercise several buckets, re-splits and giant ids on small data.
    """

    target_rows: int = TARGET_ROWS_PER_CHUNK
    max_chunks: int = MAX_CHUNKS
    bucket_rows: int = BUCKET_ROWS
    max_buckets: int = MAX_BUCKETS
    buffer_rows: int = SPILL_BUFFER_ROWS
    batch_rows: int = BATCH_ROWS
    max_chunk_rows: int = MAX_CHUNK_ROWS

    def __post_init__(self) -> None:
        # A series longer than a chunk may be must land in a bucket that step 2 inspects.
        if self.max_chunk_rows < 2 * self.bucket_rows:
            raise ValueError("max_chunk_rows must be at least twice bucket_rows")
