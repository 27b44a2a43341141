"""Every limit the store and the logger enforce, in one place.

Each constant is checked at the edge (accepted) and one past it (refused) by
``tests/test_limits.py``; the README lists them under "Limits".
"""

from __future__ import annotations

#: Longest metric name, in characters.
MAX_METRIC_NAME_LENGTH = 256

#: Longest experiment name, in characters.
MAX_EXPERIMENT_NAME_LENGTH = 256

#: Longest run name, in characters.
MAX_RUN_NAME_LENGTH = 256

#: Longest string metric value, in characters.
MAX_STRING_LENGTH = 65_536

#: Most numbers in one chart value (a list or 1-D array).
MAX_CHART_LENGTH = 100_000

#: Longest artifact path, in characters.
MAX_ARTIFACT_PATH_LENGTH = 1024

#: Longest single component of an artifact path, in UTF-8 bytes (what
#: file systems allow when the artifact is downloaded).
MAX_PATH_COMPONENT_BYTES = 255

#: Most pixels (width × height) of an image ``log_image()`` takes: 4096×4096. Checked
#: before the image is copied or converted; well under what the app draws
#: (``IMAGE_PIXELS`` in ``app/previews.py``).
MAX_IMAGE_PIXELS = 4096 * 4096

#: Largest PNG ``log_image()`` stores, in bytes (32 MiB): what the app reads whole to draw
#: an image (``IMAGE_BYTES`` in ``app/previews.py``), so every logged image can be drawn.
MAX_IMAGE_BYTES = 32 * 1024 * 1024

#: Longest caption of a logged image, in characters (a text prompt fits).
MAX_CAPTION_LENGTH = 4096

#: Largest artifact file, in bytes (512 MiB). The logger takes another
#: value from ``RUNHISTORY_MAX_FILE_SIZE``.
MAX_ARTIFACT_SIZE = 512 * 1024 * 1024

#: Smallest file moved straight between a client and the bucket (8 MiB) when the server
#: offers it (``DirectTransfer``): a smaller one goes through the server, in one request
#: there and one to the bucket, which costs less than a direct transfer's three round
#: trips and the server's copy and check of what was sent.
DIRECT_MIN_SIZE = 8 * 1024 * 1024

#: Seconds a client sends files through the server after learning that it offers no direct
#: transfer, or that the bucket cannot be reached from here, before it asks again.
DIRECT_RECHECK = 300.0

#: Longest asset name, in characters.
MAX_ASSET_NAME_LENGTH = 128

#: Points per stored chunk of a series. Every chunk but a series' last holds
#: exactly this many, which lets reads address points by index.
CHUNK_POINTS = 1024

#: Largest JSON request body the server reads (a metrics batch, a run), in
#: bytes (4 MiB; 413 past it). The HTTP store splits a larger metrics batch
#: into requests of at most this size; a logger's batch of numbers (at most
#: 50,000 points, 67 bytes a point at worst) fits in one.
MAX_BATCH_BYTES = 4 * 1024 * 1024

#: JSON request bodies the server reads, decodes and stores at once; the
#: others wait with their bytes still in the socket. With ``MAX_BATCH_BYTES``
#: this bounds the server's memory: a 4 MiB batch of small numbers or short
#: strings takes about 55 MiB while it is decoded and stored.
MAX_CONCURRENT_BATCHES = 2

#: Most runs one page of ``list_runs`` returns.
MAX_PAGE_SIZE = 1000

#: Seconds between a live run's heartbeats.
HEARTBEAT_INTERVAL = 10.0

#: A ``running`` run whose heartbeat is older than this many seconds is
#: reported as ``lost``.
LOST_AFTER = 60.0

#: How long a batch's idempotency key is remembered, in seconds (7 days).
BATCH_KEY_TTL = 7 * 24 * 3600.0

#: Seconds a blob no row names is left alone by ``runhistory gc``: a blob is put before the
#: row that names it is committed, and an upload that has not committed yet is no orphan (1 hour).
GC_GRACE = 3600.0

#: Largest integer magnitude a number metric or step may have (int64).
MAX_INT = 2**63 - 1

#: Earliest time a caller can give a run as its start or end (``NewRun.started_at``,
#: ``finish_run(ended_at=)``), or the server a point (its ``times``), in epoch seconds:
#: 1970-01-01 00:00 UTC.
EARLIEST_TIME = 0.0

#: Latest such time: 9999-12-30 00:00 UTC, the last day every time zone can still
#: show as a date (one more is past what a date holds somewhere).
LATEST_TIME = 253_402_128_000.0

#: Longest error text kept on a failed run, in characters (the end is kept).
MAX_ERROR_LENGTH = 65_536

#: Most points a logger stores in one transaction of the embedded store.
EMBEDDED_BATCH_POINTS = 200_000

#: Most points a logger sends in one request to a server (about 2.5 MB of JSON).
REMOTE_BATCH_POINTS = 50_000

#: A partial file of the flat ``tmp/`` layout (``upload-*``, ``receive-*``,
#: ``staged-*``) names no owner; a sweep removes it once it is this many
#: seconds old (an hour). Scratch folders go as soon as their process is gone.
STALE_TEMP_AGE = 3600.0

#: Seconds between the server's sweeps of its ``tmp/`` folder (10 minutes).
SWEEP_INTERVAL = 600.0

#: Seconds a new connection (or the next request on a kept-alive one, from its
#: first byte) has to send a whole request line and headers; then it is closed
#: (408 when part of a request came).
REQUEST_HEAD_TIMEOUT = 10.0

#: Seconds an idle kept-alive connection stays open. Longer than the HTTP
#: store's own 5 s, so the client closes first and never reuses a connection
#: the server is closing.
KEEP_ALIVE_TIMEOUT = 15

#: Longest wait, in seconds, for the next piece of a request body (408).
BODY_READ_TIMEOUT = 30.0

#: Seconds an admitted JSON body has to arrive whole (408), so that a slow
#: sender cannot hold one of the ``MAX_CONCURRENT_BATCHES`` places.
JSON_BODY_TIMEOUT = 60.0

#: Seconds a client may take nothing of a response before it is disconnected
#: (its file closed, its buffers freed).
SEND_STALL_TIMEOUT = 30.0

#: Most params one run holds (a large Hydra config flattens to a few hundred).
MAX_PARAMS = 2000

#: Longest param key, in characters (the flattened ``a.b.c`` path).
MAX_PARAM_KEY_LENGTH = 256

#: Longest text param, in characters.
MAX_PARAM_TEXT_LENGTH = 8192

#: Most items of a list param; longer lists are data, not configuration.
MAX_PARAM_LIST_LENGTH = 64

#: Longest tag, in characters.
MAX_TAG_LENGTH = 128

#: Most tags on one run.
MAX_TAGS = 100

#: Longest note, in characters.
MAX_NOTE_LENGTH = 65_536

#: Most installed packages recorded with a run.
MAX_PACKAGES = 5000

#: Largest git diff kept with a run, in bytes of UTF-8; a larger one is cut there and marked.
MAX_GIT_DIFF_BYTES = 1024 * 1024
