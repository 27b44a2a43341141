"""Blobs in a bucket of any S3-compatible service (AWS S3, SeaweedFS, MinIO, …).

    <prefix>blobs/ab/<sha256>   a blob: its bytes, named by their sha256, never changed
    <prefix>tmp/<32 hex>        an upload on its way: a multipart upload, or the
                                object a client sent to a presigned URL
    <prefix>tmp/<32 hex>.check  a direct upload's private copy, being verified

A blob's name is only known once its last byte is read. A large regular file
is read twice: hashed first (a local read, far quicker than any upload), then
sent in a multipart upload straight to its content key, which is completed
only when what was sent hashes the same (a file changed in between is sent
again the other way). Any other large source is streamed into a multipart
upload under a temporary key and then copied (inside the service) to its
content key; a service's copy rewrites the bytes, so it costs about what the
upload did. Either way nothing appears under ``blobs/`` until it is whole and
named by its own hash; what a crash leaves under ``tmp/`` is removed by
``sweep`` once it is ``STALE_UPLOAD_AGE`` old.

A client may also move bytes straight to and from the bucket with presigned
URLs (``presigned_get``; ``presigned_put`` then ``commit``). No URL handed out
can make a blob visible under a hash its bytes do not have. Every upload URL
is signed with the announced sha256 (``x-amz-checksum-sha256``) and size. When
the service refuses bytes that do not match that header (``checks_sha256``:
asked once, by sending it a wrong one), the URL is the blob's own key: the
service lands the bytes there only if they hash as named, and ``commit`` asks
it for that hash (and hashes the object itself if it does not say). Otherwise
the URL is a temporary key, and ``commit`` copies what arrived to a key no URL
reaches, hashes that copy and lands it only when it matches (two copies in
the service and a read, where the first way costs none).

Credentials come from the arguments or, as for any AWS tool, from
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN`` (and the
shared config files); the endpoint from ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` (AWS itself when neither is set); the region from
``AWS_REGION`` or ``AWS_DEFAULT_REGION``.

Every failure of the service is a ``StoreUnavailable`` naming the endpoint and
the bucket (unreachable, credentials refused, no such bucket), never the S3
client's own exception.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.response import StreamingBody

from ._blobs import DirectUpload, HashedSource, announced_mismatch, too_large
from ._embedded.blobs import _regular_file_span
from ._errors import ArtifactTooLarge, IntegrityError, InvalidInput, StoreUnavailable
from ._settings import InvalidSetting
from ._validate import check_sha256, is_sha256

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef

log = logging.getLogger("runhistory")

#: Bytes sent in one part of a multipart upload (8 MiB; S3 wants 5 MiB or more
#: for every part but the last).
PART_SIZE = 8 * 1024 * 1024

#: Parts of one upload sent at once. One at a time leaves the service idle
#: between parts (a local SeaweedFS took 1.5x as long); ``put`` holds at most
#: this many parts in memory, and one more being read.
PUT_CONCURRENCY = 4

#: Most parts in one multipart upload (S3's own limit): with ``PART_SIZE`` a
#: blob may be up to 80,000 MiB.
MAX_PARTS = 10_000

#: Largest blob put in one request (S3's limit, 5 GiB): bytes whose sha256 and size are
#: announced go to a service that checks the sha256 (``checks_sha256``) in one ``PUT``
#: it checks, up to this size; larger ones in a multipart upload this module checks.
MAX_PUT_SIZE = 5 * 1024 * 1024 * 1024

#: Largest object the service copies in one request (S3's limit, 5 GiB); a
#: larger blob is copied in parts of ``COPY_PART_SIZE``.
MAX_COPY_SIZE = 5 * 1024 * 1024 * 1024

#: Bytes copied by one part of a multipart copy (1 GiB).
COPY_PART_SIZE = 1024 * 1024 * 1024

#: Seconds a presigned URL stays valid unless asked otherwise (15 minutes).
PRESIGN_EXPIRY = 15 * 60

#: Longest validity a presigned URL may be given, in seconds (12 hours).
#: Shorter than ``STALE_UPLOAD_AGE``, so a sweep never takes an upload whose
#: URL can still be used.
MAX_PRESIGN_EXPIRY = 12 * 3600

#: A temporary object or multipart upload this many seconds old is left by a
#: crash or a client that never committed; ``sweep`` removes it (24 hours).
STALE_UPLOAD_AGE = 24 * 3600

_READ_PIECE = 1024 * 1024  # bytes read from a source at a time (the limit is checked between them)
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
# What the service says when it does not take the credentials.
_REFUSED = {
    "AccessDenied",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "403",
}
_MISSING = {"NoSuchKey", "404", "NotFound"}


_session_lock = threading.Lock()


@cache
def _session() -> boto3.session.Session:
    """The one session every ``S3Blobs`` makes its client from: it reads the S3 service's
    description once (about 0.3 s), not once a client."""
    return boto3.session.Session()


def parse_s3_url(url: str) -> tuple[str, str]:
    """The bucket and key prefix of ``s3://bucket/prefix``.

    Raises:
        InvalidSetting: ``url`` is not of that form.
    """
    found = re.fullmatch(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(.*))?", url.strip())
    if found is None:
        raise InvalidSetting(f"{url!r} is not an s3://bucket/prefix URL (a bucket name is 3-63 of a-z 0-9 . -)")
    return found.group(1), found.group(2) or ""


class S3Blobs:
    """Blobs under ``prefix`` in ``bucket`` (see the module docstring).

    Args:
        bucket: The bucket (it must exist; it is never created).
        prefix: Where in the bucket, e.g. ``team/runhistory``; empty for its root.
        endpoint: The service's URL (``http://127.0.0.1:8333``); ``None`` for the
            environment's or AWS's.
        region: The region; ``None`` for the environment's (or the shared config's).
        access_key: With ``secret_key`` (and ``session_token``): explicit credentials
            instead of the environment's.
        secret_key: See ``access_key``.
        session_token: See ``access_key``.
        environ: Where ``AWS_*`` variables are read (``os.environ`` by default).
        checks_sha256: Whether the service refuses bytes that do not match their
            ``x-amz-checksum-sha256`` (see ``checks_sha256``); ``None`` to ask it.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        environ: Mapping[str, str] | None = None,
        checks_sha256: bool | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._checks_sha256 = checks_sha256

        def get(*names: str) -> str | None:
            return next((env[n].strip() for n in names if env.get(n, "").strip()), None)

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        endpoint = endpoint or get("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        if endpoint is not None and not re.match(r"https?://[^/\s]+", endpoint):
            raise InvalidSetting(f"S3 endpoint {endpoint!r} is not an http:// or https:// URL")
        config = Config(
            signature_version="s3v4",
            # Services other than AWS name buckets in the path, not in the host name.
            s3={"addressing_style": "path" if endpoint else "auto"},
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 3},
            # Integrity is this module's own (sha256 on every blob, verified on read and
            # on commit); the client's newer default checksums are refused by some services.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        with _session_lock:  # a session is not thread-safe; the clients it makes are
            self.client: S3Client = _session().client(
                "s3",
                endpoint_url=endpoint,
                region_name=region or get("AWS_REGION", "AWS_DEFAULT_REGION"),
                aws_access_key_id=access_key or get("AWS_ACCESS_KEY_ID"),
                aws_secret_access_key=secret_key or get("AWS_SECRET_ACCESS_KEY"),
                aws_session_token=session_token or get("AWS_SESSION_TOKEN"),
                config=config,
            )
        self.endpoint: str = self.client.meta.endpoint_url
        self._bucket_seen = False

    @classmethod
    def from_url(cls, url: str, *, endpoint: str | None = None, environ: Mapping[str, str] | None = None) -> S3Blobs:
        """Blobs at ``s3://bucket/prefix``, credentials from the environment.

        Raises:
            InvalidSetting: ``url`` or the endpoint is not a URL of the right kind.
        """
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, endpoint=endpoint, environ=environ)

    def __repr__(self) -> str:
        return f"S3Blobs(s3://{self.bucket}/{self.prefix} at {self.endpoint})"

    # -- the BlobStore protocol ---------------------------------------------------

    def key(self, sha256: str) -> str:
        """The object key of the blob ``sha256``."""
        return f"{self.prefix}blobs/{sha256[:2]}/{sha256}"

    def put(self, data: bytes | BinaryIO, *, limit: int, path: str, sha256: str | None = None) -> tuple[str, int]:
        """Stream ``data`` into the bucket, hashing it; returns (sha256, size).

        A regular file of a part or more is hashed first, then sent straight to
        its content key (nothing is sent when the blob is there already); any
        other stream goes through a temporary key (see the module docstring),
        unless the caller says its ``sha256``: then it is sent straight to that
        content key as it is read, and the upload completed only if it hashes the
        same (``IntegrityError`` otherwise, with nothing kept).

        Memory: at most ``PUT_CONCURRENCY`` parts (``PART_SIZE``) of the source
        are held while they are sent, and one more while it is read.

        Raises:
            ArtifactTooLarge: more than ``limit`` bytes; the upload is aborted, nothing is kept.
            StoreUnavailable: the service failed; nothing is visible under ``blobs/``.
        """

        if sha256 is not None:
            return self._put_announced(data, check_sha256(sha256), limit=limit, path=path)
        if isinstance(data, (bytes, bytearray, memoryview)):
            body = bytes(data)
            if len(body) > limit:
                raise too_large(path, len(body), limit)
            sha256 = hashlib.sha256(body).hexdigest()
            self._put_whole(sha256, body)
            return sha256, len(body)
        regular = _regular_file_span(data)
        if regular is not None and regular[2] > limit:
            raise too_large(path, regular[2], limit)
        if regular is not None and regular[2] >= PART_SIZE:
            named = self._put_named(data, *regular, limit=limit, path=path)
            if named is not None:
                return named
            data.seek(regular[1])  # it changed while it was read: the other way, from its start
        source = HashedSource(data, limit, path)

        def next_part() -> bytes:
            return _part_of(source)

        first = next_part()
        if len(first) < PART_SIZE:  # the whole source fits in one request
            self._put_whole(source.sha256(), first)
            return source.sha256(), source.size
        held = [first]
        del first  # held only until it is sent: one part in memory at a time

        def parts() -> bytes:
            return held.pop() if held else next_part()

        temporary = self._temporary()
        self._multipart(temporary, parts)
        sha256, size = source.sha256(), source.size
        try:
            if not self.exists(sha256):
                self._copy(temporary, self.key(sha256), size)
        finally:
            self._forget(temporary)
        return sha256, size

    def _put_announced(self, data: bytes | BinaryIO, sha256: str, *, limit: int, path: str) -> tuple[str, int]:
        """Put bytes said to hash to ``sha256`` at its content key as they are read (a stream
        received by the server is sent on while it arrives), completing the upload only
        when they do; read and hashed only when the blob is there already."""
        held = isinstance(data, (bytes, bytearray, memoryview))
        length = len(data) if held else _length_of(data)  # type: ignore[arg-type]
        if length is not None and length > limit:
            raise too_large(path, length, limit)
        stream: BinaryIO = io.BytesIO(bytes(data)) if held else data  # type: ignore[assignment,arg-type]
        there = self.exists(sha256)
        if not there and length is not None and PART_SIZE <= length <= MAX_PUT_SIZE and self.checks_sha256():
            return self._put_checked(stream, sha256, length, limit=limit, path=path)
        source = HashedSource(stream, limit, path)

        def same() -> None:
            if length is not None and source.size != length:
                raise announced_mismatch(path, sha256, None, f"{length} bytes were announced, {source.size} came")
            if source.sha256() != sha256:
                raise announced_mismatch(path, sha256, source.sha256())

        if there:
            while source.read(_READ_PIECE):
                pass
            same()
            return sha256, source.size
        first = _part_of(source)
        if len(first) < PART_SIZE:  # the whole source, in one request the service checks too
            same()
            self._put_whole(sha256, first)
            return sha256, source.size
        waiting = [first]
        del first

        def parts() -> bytes:
            return waiting.pop() if waiting else _part_of(source)

        self._multipart(self.key(sha256), parts, before_completing=same)
        return sha256, source.size

    def _put_checked(self, data: BinaryIO, sha256: str, size: int, *, limit: int, path: str) -> tuple[str, int]:
        """Send ``size`` bytes said to hash to ``sha256`` to its content key in one ``PUT`` that
        the service checks against it (as a client's direct upload is): the bytes pass through
        once, unhashed here, and land whole or not at all."""
        import httpx

        offer = self.presigned_put(sha256, size=size)

        def pieces() -> Iterator[bytes]:
            left = size
            while left > 0 and (piece := data.read(min(_READ_PIECE, left))):
                left -= len(piece)
                yield piece
            if left or data.read(1):
                raise announced_mismatch(path, sha256, None, f"{size} bytes were announced")

        headers = {**offer.headers, "Content-Length": str(size), "Content-Type": "application/octet-stream"}
        try:
            with httpx.Client(timeout=httpx.Timeout(60.0, connect=5.0)) as http:
                answer = http.put(offer.url, content=pieces(), headers=headers)
        except httpx.TransportError as error:
            raise StoreUnavailable(f"S3 {self._where()} cannot be reached (writing blob {sha256}): {error}") from None
        if answer.status_code == 400:  # the bytes are not what their checksum says: nothing landed
            raise announced_mismatch(path, sha256, None, f"the service refused them: {answer.text[:200]!r}")
        if answer.status_code >= 300:
            raise StoreUnavailable(
                f"S3 {self._where()} answered {answer.status_code} writing blob {sha256}: {answer.text[:200]!r}"
            )
        return self._landed(offer.upload, sha256, limit=limit, path=path)

    def _put_named(
        self, data: BinaryIO, fd: int, start: int, size: int, *, limit: int, path: str
    ) -> tuple[str, int] | None:
        """Put a regular file's ``size`` bytes from ``start`` straight to its content key: hashed
        first, then sent, the upload completed only when what was sent hashes the same. ``None``
        when the file changed in between (the upload is aborted, nothing is visible)."""
        digest = hashlib.sha256()
        offset = start
        while piece := os.pread(fd, min(PART_SIZE, start + size - offset), offset):
            digest.update(piece)
            offset += len(piece)
        sha256, size = digest.hexdigest(), offset - start
        if self.exists(sha256):
            data.seek(start + size)  # read, as a put reads its source
            return sha256, size
        source = HashedSource(data, limit, path)

        def next_part() -> bytes:
            return source.read(PART_SIZE)

        def unchanged() -> None:
            if (source.sha256(), source.size) != (sha256, size):
                raise _Changed

        try:
            self._multipart(self.key(sha256), next_part, before_completing=unchanged)
        except _Changed:
            log.info("%s changed while it was sent to %s; sending it again", path, self._where())
            return None
        return sha256, size

    def open(self, sha256: str) -> BinaryIO:
        """A stream of the blob's bytes that checks their sha256 as it reaches their end.

        The bytes come as the service sends them (nothing is read ahead beyond
        the stream's buffer); the caller closes the stream.

        Raises:
            FileNotFoundError: no such blob.
            IntegrityError: from a read, at the end: the stored bytes do not match ``sha256``.
            StoreUnavailable: the service failed (now or during a read).
        """
        try:
            with self._answers(f"reading blob {sha256}"):
                answer = self.client.get_object(Bucket=self.bucket, Key=self.key(check_sha256(sha256)))
        except _NoSuchObject:
            raise FileNotFoundError(f"blob {sha256} is not in {self._where()}") from None
        raw = _CheckedBody(answer["Body"], sha256, answer["ContentLength"], self._where())
        return io.BufferedReader(raw, buffer_size=_READ_PIECE)

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        return self._size(self.key(check_sha256(sha256))) is not None

    def size(self, sha256: str) -> int | None:
        """The blob's size in bytes (``None`` when it is not there)."""
        return self._size(self.key(check_sha256(sha256)))

    def delete(self, sha256: str) -> None:
        """Remove the blob (nothing happens when it is not there)."""
        with self._answers(f"deleting blob {sha256}"):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(check_sha256(sha256)))

    def all(self) -> Iterator[tuple[str, float]]:
        """Every blob with when it was stored (epoch seconds), page by page."""
        for key, modified in self._objects(f"{self.prefix}blobs/"):
            sha256 = key.rsplit("/", 1)[-1]
            if is_sha256(sha256) and key == self.key(sha256):
                yield sha256, modified

    # -- checks and upkeep --------------------------------------------------------

    def check(self) -> None:
        """Make sure the bucket is there and the credentials are taken.

        Raises:
            StoreUnavailable: it is not, or they are not, or the service cannot be reached.
        """
        try:
            with self._answers("opening the bucket"):
                self.client.head_bucket(Bucket=self.bucket)
        except _NoSuchObject:
            raise StoreUnavailable(f"bucket {self.bucket!r} does not exist at {self.endpoint}") from None

    def sweep(self, *, now: float | None = None) -> int:
        """Remove what crashed uploads and uncommitted direct uploads left under ``tmp/``
        once it is ``STALE_UPLOAD_AGE`` old; returns how many objects and uploads went."""
        cutoff = (time.time() if now is None else now) - STALE_UPLOAD_AGE
        removed = 0
        for key, modified in list(self._objects(f"{self.prefix}tmp/")):
            if modified < cutoff:
                self._forget(key)
                removed += 1
        with self._answers("listing unfinished uploads"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}tmp/"
            )
            stale = [
                (upload["Key"], upload["UploadId"])
                for page in pages
                for upload in page.get("Uploads", [])
                if upload["Initiated"].timestamp() < cutoff
            ]
        for key, upload_id in stale:
            self._abort(key, upload_id)
            removed += 1
        return removed

    # -- direct transfers ---------------------------------------------------------

    def presigned_get(self, sha256: str, *, expires: int = PRESIGN_EXPIRY) -> str:
        """A URL from which anyone holding it may ``GET`` the blob for ``expires`` seconds.

        The URL is made without asking the service: it does not say whether the
        blob exists (a ``GET`` of a missing one answers 404). Whoever downloads
        should check the bytes' sha256, as the project's own downloads do.

        Raises:
            InvalidInput: ``sha256`` is not a hash, or ``expires`` is not 1 to ``MAX_PRESIGN_EXPIRY``.
        """
        with self._answers("signing a download URL"):
            return self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self.key(check_sha256(sha256))},
                ExpiresIn=_checked_expiry(expires),
            )

    def checks_sha256(self) -> bool:
        """Whether the service refuses a presigned ``PUT`` whose bytes do not match its signed
        ``x-amz-checksum-sha256`` (AWS S3, SeaweedFS and MinIO do). Asked once, by sending it a
        few bytes under a wrong one; anything but a refusal (an answer of 2xx, a failure, an
        error other than 400) is taken as no."""
        if self._checks_sha256 is None:
            import urllib.error
            import urllib.request

            key = f"{self._temporary()}.probe"
            wrong = _base64_sha256(hashlib.sha256(b"").hexdigest())
            with self._answers("signing an upload URL"):
                url = self.client.generate_presigned_url(
                    "put_object", Params={"Bucket": self.bucket, "Key": key, "ChecksumSHA256": wrong}, ExpiresIn=60
                )
            request = urllib.request.Request(
                url, data=b"not empty", method="PUT", headers={"x-amz-checksum-sha256": wrong}
            )
            try:
                with urllib.request.urlopen(request, timeout=10):
                    refused = False
            except urllib.error.HTTPError as error:
                refused = error.code == 400
                error.close()  # its answer's socket
            except OSError:
                refused = False
            if not refused:
                self._forget(key)
            self._checks_sha256 = refused
            log.info("%s %s bytes that do not match their sha256", self._where(), "refuses" if refused else "may keep")
        return self._checks_sha256

    def presigned_put(self, sha256: str, *, size: int | None = None, expires: int = PRESIGN_EXPIRY) -> DirectUpload:
        """A URL to which a client ``PUT``s a blob's bytes itself, for ``expires`` seconds.

        The URL is signed with the announced sha256 (``x-amz-checksum-sha256``)
        and, given, the ``size`` (``Content-Length``): nothing else can be sent
        to it. When the service checks the hash (``checks_sha256``) the bytes
        land at the blob's own key; otherwise under a temporary key, which
        ``commit`` verifies and copies (see the module docstring).

        Raises:
            InvalidInput: ``sha256`` is not a hash, or ``expires`` is not 1 to ``MAX_PRESIGN_EXPIRY``.
        """
        upload = uuid.uuid4().hex
        checksum = _base64_sha256(check_sha256(sha256))
        expires = _checked_expiry(expires)
        key = self.key(sha256) if self.checks_sha256() else self._temporary(upload)
        params: dict[str, object] = {"Bucket": self.bucket, "Key": key, "ChecksumSHA256": checksum}
        if size is not None:
            params["ContentLength"] = size
        with self._answers("signing an upload URL"):
            url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires)
        return DirectUpload(url, {"x-amz-checksum-sha256": checksum}, upload, sha256, time.time() + expires)

    def commit(self, upload: str, sha256: str, *, limit: int, path: str) -> tuple[str, int]:
        """Make the bytes a client sent for ``upload`` the blob ``sha256``; returns (sha256, size).

        Sent to the blob's own key (a service that checks the hash): the blob is
        there, and the service's word on its sha256 is asked for (``HEAD`` with
        its checksum); a service that does not give it has the object read and
        hashed here. Sent to a temporary key: it is copied to a key no URL
        reaches, read and hashed there, and only a copy that matches lands (is
        copied to ``blobs/``).

        Raises:
            InvalidInput: ``upload`` is not an upload id, or nothing was sent to it.
            ArtifactTooLarge: it holds more than ``limit`` bytes (a temporary upload is dropped).
            IntegrityError: its bytes do not match ``sha256`` (they are dropped).
            StoreUnavailable: the service failed; nothing is visible under ``blobs/``.
        """
        if not _UPLOAD_ID.fullmatch(upload):
            raise InvalidInput(f"{upload!r} is not an upload id")
        sent, private = self._temporary(upload), self._temporary(upload) + ".check"
        size = self._size(sent)
        if size is None and self.checks_sha256():
            return self._landed(upload, check_sha256(sha256), limit=limit, path=path)
        if size is None:
            raise InvalidInput(f"nothing was uploaded for {upload} (or it was committed already)")
        try:
            if size > limit:
                raise too_large(path, size, limit)
            self._copy(sent, private, size)
            size = self._size(private)  # what was sent may have changed before the copy
            if size is None or size > limit:
                raise too_large(path, "?" if size is None else size, limit)
            digest = self._hash_of(private, f"reading upload {upload}")
            if digest != check_sha256(sha256):
                raise IntegrityError(
                    f"upload {upload} for {path!r} does not match its sha256 {sha256} (it has {digest}); it was dropped"
                )
            if not self.exists(sha256):
                self._copy(private, self.key(sha256), size)
        finally:
            self._forget(sent)
            self._forget(private)
        return sha256, size

    def _landed(self, upload: str, sha256: str, *, limit: int, path: str) -> tuple[str, int]:
        """The blob a client sent straight to its key (a service that checks the hash): its size,
        once the service's sha256 for it (or, when it gives none, a read of it) matches."""
        key = self.key(sha256)
        try:
            with self._answers(f"looking for {key}"):
                head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except _NoSuchObject:
            raise InvalidInput(f"nothing was uploaded for {upload}") from None
        size, said = head["ContentLength"], head.get("ChecksumSHA256")
        if said is None:
            digest = self._hash_of(key, f"reading blob {sha256}")
        elif said == _base64_sha256(sha256):
            digest = sha256
        else:
            digest = base64.b64decode(said).hex()
        if digest != sha256:
            # Not what its key says: no row may name it. (A service that checks keeps none such.)
            self.delete(sha256)
            raise IntegrityError(
                f"upload {upload} for {path!r} does not match its sha256 {sha256} (it has {digest}); it was dropped"
            )
        if size > limit:
            # Whole and named by its hash, it stays (a row under a larger limit may name it; gc takes an orphan).
            raise too_large(path, size, limit)
        return sha256, size

    def _hash_of(self, key: str, doing: str) -> str:
        """The sha256 of the object ``key``, read from the service."""
        digest = hashlib.sha256()
        with self._answers(doing):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            for piece in body.iter_chunks(_READ_PIECE):
                digest.update(piece)
        return digest.hexdigest()

    # -- inside -------------------------------------------------------------------

    def _where(self) -> str:
        return f"bucket {self.bucket!r} at {self.endpoint}"

    def _temporary(self, upload: str | None = None) -> str:
        return f"{self.prefix}tmp/{upload or uuid.uuid4().hex}"

    @contextmanager
    def _answers(self, doing: str) -> Iterator[None]:
        """The service's failures as the project's errors (see the module docstring)."""
        try:
            yield
        except ClientError as error:
            raise self._error(error, doing) from None
        except BotoCoreError as error:
            raise StoreUnavailable(f"S3 {self._where()} cannot be reached ({doing}): {error}") from None

    def _error(self, error: ClientError, doing: str) -> Exception:
        """The service answered with an error: which, in the project's words."""
        answer = error.response.get("Error", {})
        code = str(answer.get("Code", ""))
        message = answer.get("Message") or code
        if code in _MISSING:
            return _NoSuchObject(code)
        if code == "NoSuchBucket":
            return StoreUnavailable(f"bucket {self.bucket!r} does not exist at {self.endpoint} ({doing})")
        if code in _REFUSED:
            return StoreUnavailable(
                f"{self.endpoint} refused the credentials for bucket {self.bucket!r} ({doing}): {message}"
            )
        return StoreUnavailable(f"S3 {self._where()} answered {code} ({doing}): {message}")

    def _size(self, key: str) -> int | None:
        """The object's size, ``None`` when there is no such object."""
        try:
            with self._answers(f"looking for {key}"):
                return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except _NoSuchObject:
            # A missing bucket answers a HEAD as a missing object does: the first time, ask which.
            if not self._bucket_seen:
                self.check()
                self._bucket_seen = True
            return None

    def _put_whole(self, sha256: str, body: bytes) -> None:
        """Store a blob sent in one request (a ``PUT`` is whole or absent); the service checks
        the bytes against ``sha256`` on arrival."""
        if self.exists(sha256):
            return
        with self._answers(f"writing blob {sha256}"):
            self.client.put_object(
                Bucket=self.bucket, Key=self.key(sha256), Body=body, ChecksumSHA256=_base64_sha256(sha256)
            )

    def _multipart(
        self, key: str, next_part: Callable[[], bytes], *, before_completing: Callable[[], None] | None = None
    ) -> None:
        """Upload what ``next_part`` gives until it gives nothing as one object ``key``,
        ``PUT_CONCURRENCY`` parts at a time; ``before_completing`` may still refuse it (by
        raising). Any failure (of the source, of the service, or that refusal) aborts the upload."""
        with self._answers("starting an upload"):
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]

        def send(number: int, part: bytes) -> CompletedPartTypeDef:
            with self._answers(f"uploading part {number}"):
                answer = self.client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
                )
            return {"ETag": answer["ETag"], "PartNumber": number}

        try:
            parts: list[CompletedPartTypeDef] = []
            with ThreadPoolExecutor(PUT_CONCURRENCY, thread_name_prefix="runhistory-s3") as pool:
                sending: deque[Future[CompletedPartTypeDef]] = deque()
                number = 0
                part = next_part()
                while part or number == 0:
                    if number == MAX_PARTS:
                        raise ArtifactTooLarge(f"a blob may have at most {MAX_PARTS * PART_SIZE} bytes")
                    number += 1
                    sending.append(pool.submit(send, number, part))
                    part = b""  # the pool holds it until it is sent
                    if len(sending) == PUT_CONCURRENCY:
                        parts.append(sending.popleft().result())
                    part = next_part()
                while sending:
                    parts.append(sending.popleft().result())
            if before_completing is not None:
                before_completing()
            with self._answers("finishing an upload"):
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            self._abort(key, upload_id)
            raise

    def _copy(
        self, source: str, target: str, size: int, *, largest: int = MAX_COPY_SIZE, part: int = COPY_PART_SIZE
    ) -> None:
        """Copy an object inside the service: in one request up to ``largest`` bytes, else in parts of ``part``."""
        where: CopySourceTypeDef = {"Bucket": self.bucket, "Key": source}
        if size <= largest:
            with self._answers(f"copying {source} to {target}"):
                self.client.copy_object(Bucket=self.bucket, Key=target, CopySource=where)
            return
        with self._answers(f"copying {source} to {target}"):
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=target)["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            for number, start in enumerate(range(0, size, part), 1):
                end = min(start + part, size) - 1
                with self._answers(f"copying {source} to {target}"):
                    answer = self.client.upload_part_copy(
                        Bucket=self.bucket,
                        Key=target,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource=where,
                        CopySourceRange=f"bytes={start}-{end}",
                    )
                parts.append({"ETag": answer["CopyPartResult"]["ETag"], "PartNumber": number})
            with self._answers(f"copying {source} to {target}"):
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=target, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            self._abort(target, upload_id)
            raise

    def _abort(self, key: str, upload_id: str) -> None:
        """Abort a multipart upload, as well as can be: what stays is swept later."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError) as error:
            log.warning("could not abort the upload of %s in %s (a sweep will): %s", key, self._where(), error)

    def _forget(self, key: str) -> None:
        """Delete a temporary object, as well as can be: what stays is swept later."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as error:
            log.warning("could not delete %s in %s (a sweep will): %s", key, self._where(), error)

    def _objects(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Every object under ``prefix`` with its last-modified time, a page at a time."""
        with self._answers(f"listing {prefix}"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"], item["LastModified"].timestamp()


class _Changed(Exception):
    """A file sent to its content key no longer hashes as it did when it was named."""


class _NoSuchObject(Exception):
    """The key (or the bucket, for ``head_bucket``) is not there: the caller says what that means."""


class _CheckedBody(io.RawIOBase):
    """An object's bytes as the service sends them, hashed; at their end, checked against
    the blob's name (a damaged or replaced object is an ``IntegrityError``, not data)."""

    def __init__(self, body: StreamingBody, sha256: str, size: int, where: str) -> None:
        self._body = body
        self._sha256 = sha256
        self._expected = size
        self._where = where
        self._digest = hashlib.sha256()
        self._size = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        try:
            piece = self._body.read(len(view))
        except (BotoCoreError, OSError) as error:
            raise StoreUnavailable(f"reading blob {self._sha256} from {self._where} failed: {error}") from None
        if piece:
            self._digest.update(piece)
            self._size += len(piece)
            view[: len(piece)] = piece
            return len(piece)
        if not self._checked:
            self._checked = True
            if self._size != self._expected or self._digest.hexdigest() != self._sha256:
                raise IntegrityError(
                    f"blob {self._sha256} in {self._where} is damaged: its {self._size} bytes have sha256 {self._digest.hexdigest()}"
                )
        return 0

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _length_of(data: BinaryIO) -> int | None:
    """The bytes left in ``data`` when it says: a regular file's, or a ``length`` it carries
    (a request body with its ``Content-Length``)."""
    regular = _regular_file_span(data)
    if regular is not None:
        return regular[2]
    length = getattr(data, "length", None)
    return length if isinstance(length, int) else None


def _part_of(source: HashedSource) -> bytes:
    """The next ``PART_SIZE`` bytes of ``source`` (fewer at its end, none past it)."""
    pieces: list[bytes] = []
    held = 0
    while held < PART_SIZE and (piece := source.read(min(_READ_PIECE, PART_SIZE - held))):
        pieces.append(piece)
        held += len(piece)
    return b"".join(pieces)


def _checked_expiry(expires: int) -> int:
    if not 1 <= expires <= MAX_PRESIGN_EXPIRY:
        raise InvalidInput(f"a presigned URL lasts 1 to {MAX_PRESIGN_EXPIRY} seconds, not {expires}")
    return expires


def _base64_sha256(sha256: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256)).decode()
