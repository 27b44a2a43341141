"""The blob contract (``runhistory.api._blobs.BlobStore``) on every blob store, and what only
the S3 one does: verified reads, presigned transfers, clear errors, an outage mid-upload.

The S3 store runs against a real SeaweedFS (``tests/_s3.py``), under a key prefix per test.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runhistory.api import ArtifactTooLarge, IntegrityError, InvalidInput, StoreUnavailable
from runhistory.api._blobs import BlobStore
from runhistory.api._embedded.blobs import LocalBlobs
from runhistory.api._s3 import (
    MAX_PRESIGN_EXPIRY,
    PART_SIZE,
    PUT_CONCURRENCY,
    STALE_UPLOAD_AGE,
    S3Blobs,
    parse_s3_url,
)
from runhistory.api._settings import InvalidSetting

from ._s3 import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedFS
from ._server import unused_port
from ._streams import Trickle

MiB = 1024 * 1024


class Generated(io.RawIOBase):
    """``size`` bytes made as they are read (never all at once), hashed on the way.

    Args:
        size: How many bytes.
        when: Called once with the bytes given so far when they pass ``after``.
        after: See ``when``.
    """

    def __init__(self, size: int, when: Callable[[int], None] | None = None, after: int = 0) -> None:
        self.left = size
        self.given = 0
        self.when, self.after = when, after
        self.digest = hashlib.sha256()
        self.block = hashlib.sha256(str(size).encode()).digest() * (64 * 1024 // 32)  # 64 KiB

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.when is not None and self.given >= self.after:
            when, self.when = self.when, None
            when(self.given)
        n = min(len(buffer), self.left, len(self.block) - self.given % len(self.block))
        piece = self.block[self.given % len(self.block) :][:n]
        buffer[:n] = piece
        self.digest.update(piece)
        self.left -= n
        self.given += n
        return n

    def sha256(self) -> str:
        return self.digest.hexdigest()


def fail(given: int) -> None:
    raise OSError(f"the disk went away after {given} bytes")


@pytest.fixture
def s3_blobs(seaweedfs: SeaweedFS) -> S3Blobs:
    """S3 blobs under a fresh prefix."""
    return S3Blobs(
        BUCKET,
        seaweedfs.new_prefix() + "/history",
        endpoint=seaweedfs.endpoint,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )


@pytest.fixture
def local_blobs(tmp_path: Path) -> LocalBlobs:
    """The embedded store's blob folder (which the store makes)."""
    (tmp_path / "blobs").mkdir()
    return LocalBlobs(tmp_path / "blobs", tmp_path / "tmp")


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest) -> BlobStore:
    """Each blob store in turn."""
    found: BlobStore = request.getfixturevalue(f"{request.param}_blobs")
    return found


def leftovers(blobs: BlobStore) -> list[str]:
    """What a failed or finished write left behind: partial files, temporary objects,
    unfinished multipart uploads."""
    if isinstance(blobs, LocalBlobs):
        return [str(p) for p in blobs.tmp.rglob("*") if p.is_file() and p.name != "lock"]
    assert isinstance(blobs, S3Blobs)
    objects = blobs.client.list_objects_v2(Bucket=blobs.bucket, Prefix=blobs.prefix + "tmp/").get("Contents", [])
    uploads = blobs.client.list_multipart_uploads(Bucket=blobs.bucket, Prefix=blobs.prefix).get("Uploads", [])
    return [o["Key"] for o in objects] + [f"upload of {u['Key']}" for u in uploads]


def read_all(blobs: BlobStore, sha256: str) -> bytes:
    with blobs.open(sha256) as stream:
        return stream.read()


# -- the contract ------------------------------------------------------------------


def test_put_open_exists_delete_all(blobs: BlobStore) -> None:
    small = b"hello, blobs"
    assert blobs.put(small, limit=100, path="a.txt") == (hashlib.sha256(small).hexdigest(), len(small))
    source = Generated(PART_SIZE + 12345)  # more than one part: streamed, not sent whole
    sha256, size = blobs.put(source, limit=1 << 30, path="b.bin")
    assert (sha256, size) == (source.sha256(), PART_SIZE + 12345)

    assert read_all(blobs, hashlib.sha256(small).hexdigest()) == small
    with blobs.open(sha256) as stream:
        assert hashlib.sha256(b"".join(iter(lambda: stream.read(100_000), b""))).hexdigest() == sha256
    assert blobs.exists(sha256)
    assert blobs.size(sha256) == PART_SIZE + 12345
    assert sorted(s for s, _ in blobs.all()) == sorted([sha256, hashlib.sha256(small).hexdigest()])
    assert all(abs(when - time.time()) < 120 for _, when in blobs.all())

    blobs.delete(sha256)
    blobs.delete(sha256)  # nothing there: nothing happens
    assert not blobs.exists(sha256) and blobs.size(sha256) is None
    assert [s for s, _ in blobs.all()] == [hashlib.sha256(small).hexdigest()]
    with pytest.raises(FileNotFoundError):
        blobs.open(sha256)
    assert leftovers(blobs) == []


def test_an_empty_blob(blobs: BlobStore) -> None:
    empty = hashlib.sha256(b"").hexdigest()
    assert blobs.put(io.BytesIO(b""), limit=0, path="empty") == (empty, 0)
    assert read_all(blobs, empty) == b""


def overwrite(blobs: BlobStore, sha256: str, data: bytes) -> None:
    """Replace a stored blob's bytes behind the store's back."""
    if isinstance(blobs, LocalBlobs):
        blobs.path(sha256).write_bytes(data)
    else:
        assert isinstance(blobs, S3Blobs)
        blobs.client.put_object(Bucket=blobs.bucket, Key=blobs.key(sha256), Body=data)


def test_putting_a_blob_again_changes_nothing(blobs: BlobStore) -> None:
    data = b"the same bytes" * 1000
    first = blobs.put(data, limit=len(data), path="a")
    overwrite(blobs, first[0], b"marked")  # a rewrite would replace the mark
    assert blobs.put(data, limit=len(data), path="b") == first
    assert blobs.put(io.BytesIO(data), limit=len(data), path="c") == first
    assert blobs.put(Generated(PART_SIZE), limit=PART_SIZE, path="d") == blobs.put(
        Generated(PART_SIZE), limit=PART_SIZE, path="e"
    )
    with blobs.open(first[0]) as stream:
        assert stream.read(6) == b"marked"
    assert len(list(blobs.all())) == 2
    assert leftovers(blobs) == []


@pytest.mark.parametrize("size", [PART_SIZE - 1, PART_SIZE, PART_SIZE + 1])
def test_the_limit_at_the_edge_of_a_part(blobs: BlobStore, size: int) -> None:
    """A blob of exactly ``limit`` bytes is kept and one more is refused, streamed or whole,
    on both sides of the size at which the S3 store turns to a multipart upload."""
    limit = PART_SIZE
    source = Generated(size)
    if size <= limit:
        assert blobs.put(source, limit=limit, path="edge") == (source.sha256(), size)
        assert [s for s, _ in blobs.all()] == [source.sha256()]
    else:
        with pytest.raises(ArtifactTooLarge, match=rf"'edge' is more than {limit} bytes"):
            blobs.put(source, limit=limit, path="edge")
        data = bytes(size)
        with pytest.raises(ArtifactTooLarge, match=rf"'edge' is {size} bytes; the limit is {limit}"):
            blobs.put(data, limit=limit, path="edge")
        assert list(blobs.all()) == []
    assert leftovers(blobs) == []


def test_a_regular_file_past_the_limit_is_refused_before_it_is_read(blobs: BlobStore, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(1001))
    with open(big, "rb") as file, pytest.raises(ArtifactTooLarge, match="is 1001 bytes"):
        blobs.put(file, limit=1000, path="big.bin")
    with open(big, "rb") as file:
        assert blobs.put(file, limit=1001, path="big.bin")[1] == 1001


@pytest.mark.parametrize("after", [0, 3 * PART_SIZE // 2], ids=["in the first part", "in the second part"])
def test_a_source_that_fails_midway_leaves_nothing(blobs: BlobStore, after: int) -> None:
    with pytest.raises(OSError, match="the disk went away"):
        blobs.put(Generated(3 * PART_SIZE, fail, after=after + 1), limit=1 << 30, path="broken")
    assert list(blobs.all()) == []
    assert leftovers(blobs) == []


@pytest.mark.slow
def test_a_large_blob_is_streamed_both_ways(blobs: BlobStore) -> None:
    """64 MiB in and out: the process never holds more than a few parts of it."""
    size = 64 * MiB
    source = Generated(size)
    tracemalloc.start()
    try:
        sha256, _ = blobs.put(source, limit=size, path="large")
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest, got = hashlib.sha256(), 0
        with blobs.open(sha256) as stream:
            for piece in iter(lambda: stream.read(MiB), b""):
                digest.update(piece)
                got += len(piece)
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (sha256, digest.hexdigest(), got) == (source.sha256(), source.sha256(), size)
    assert put_peak < (PUT_CONCURRENCY + 2) * PART_SIZE, f"put held {put_peak / MiB:.1f} MiB"
    assert get_peak < 8 * MiB, f"open held {get_peak / MiB:.1f} MiB"


# -- S3: reads are verified --------------------------------------------------------


def test_a_damaged_object_is_caught_at_the_end_of_its_read(s3_blobs: S3Blobs) -> None:
    sha256, _ = s3_blobs.put(b"the real bytes", limit=100, path="a")
    overwrite(s3_blobs, sha256, b"the fake bytes")
    with s3_blobs.open(sha256) as stream:
        assert stream.read(4) == b"the "  # bytes come as they arrive; the check is at the end
        with pytest.raises(IntegrityError, match=rf"blob {sha256} in bucket '{s3_blobs.bucket}' .* is damaged"):
            stream.read()
    overwrite(s3_blobs, sha256, b"the real bytes!")
    with s3_blobs.open(sha256) as stream, pytest.raises(IntegrityError):
        for _ in stream:  # iteration checks too
            pass


def test_a_multipart_copy_for_blobs_past_a_single_copy(s3_blobs: S3Blobs) -> None:
    """Above ``MAX_COPY_SIZE`` a blob is copied in parts; the same code path, with small parts."""
    source = Generated(PART_SIZE + 7)
    sha256, size = s3_blobs.put(source, limit=1 << 30, path="a")
    target = s3_blobs.prefix + "tmp/copied"
    s3_blobs._copy(s3_blobs.key(sha256), target, size, largest=5 * MiB, part=5 * MiB)  # 5 MiB: S3's smallest part
    body = s3_blobs.client.get_object(Bucket=s3_blobs.bucket, Key=target)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha256


def test_sweep_takes_only_stale_uploads(s3_blobs: S3Blobs) -> None:
    client, bucket = s3_blobs.client, s3_blobs.bucket
    sha256, _ = s3_blobs.put(b"kept", limit=10, path="a")
    client.put_object(Bucket=bucket, Key=s3_blobs.prefix + "tmp/" + "0" * 32, Body=b"left by a crash")
    client.create_multipart_upload(Bucket=bucket, Key=s3_blobs.prefix + "tmp/" + "1" * 32)
    assert s3_blobs.sweep() == 0
    assert len(leftovers(s3_blobs)) == 2
    assert s3_blobs.sweep(now=time.time() + STALE_UPLOAD_AGE + 60) == 2
    assert leftovers(s3_blobs) == []
    assert [s for s, _ in s3_blobs.all()] == [sha256]


# -- S3: a regular file goes straight to its content key ----------------------------


class _ChangedAfterItsHash(io.FileIO):
    """A real file that another writer changes once the store has hashed it (at the first read)."""

    def read(self, size: int = -1) -> bytes:
        if self.tell() == 0:
            os.pwrite(self.fileno(), b"changed", 0)
        return super().read(size)


def test_a_regular_file_is_hashed_first_and_sent_to_its_content_key(s3_blobs: S3Blobs, tmp_path: Path) -> None:
    file = tmp_path / "weights.bin"
    data = os.urandom(1024) * (2 * PART_SIZE // 1024 + 3)
    file.write_bytes(data)
    sha256 = hashlib.sha256(data).hexdigest()
    with open(file, "rb") as stream:
        assert s3_blobs.put(stream, limit=len(data), path="w") == (sha256, len(data))
        assert stream.tell() == len(data)
    assert read_all(s3_blobs, sha256) == data and leftovers(s3_blobs) == []
    # Stored already: not sent again (a mark on the stored object stays).
    overwrite(s3_blobs, sha256, b"marked")
    with open(file, "rb") as stream:
        assert s3_blobs.put(stream, limit=len(data), path="w") == (sha256, len(data))
        assert stream.tell() == len(data)
    stored = s3_blobs.client.get_object(Bucket=s3_blobs.bucket, Key=s3_blobs.key(sha256))["Body"].read()
    assert stored == b"marked"


def test_a_file_changed_after_its_hash_is_stored_as_it_was_sent(s3_blobs: S3Blobs, tmp_path: Path) -> None:
    file = tmp_path / "weights.bin"
    data = os.urandom(1024) * (PART_SIZE // 1024 + 1)
    file.write_bytes(data)
    with _ChangedAfterItsHash(file, "r+") as stream:
        sha256, size = s3_blobs.put(stream, limit=len(data), path="w")
    sent = b"changed" + data[7:]
    assert (sha256, size) == (hashlib.sha256(sent).hexdigest(), len(data))
    # Nothing under the name it had when it was hashed; no upload left open.
    assert [s for s, _ in s3_blobs.all()] == [sha256] and read_all(s3_blobs, sha256) == sent
    assert leftovers(s3_blobs) == []


# -- S3: direct transfers ----------------------------------------------------------


@pytest.fixture
def copying_blobs(s3_blobs: S3Blobs) -> S3Blobs:
    """The same blobs, told that the service may keep bytes that do not match their hash:
    direct uploads go to a temporary key, and ``commit`` verifies and copies them."""
    return S3Blobs(
        s3_blobs.bucket,
        s3_blobs.prefix,
        endpoint=s3_blobs.endpoint,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        checks_sha256=False,
    )


def test_the_service_is_asked_once_whether_it_checks_the_sha256(s3_blobs: S3Blobs) -> None:
    assert s3_blobs.checks_sha256() is True  # SeaweedFS refuses bytes that do not match
    assert s3_blobs.checks_sha256() is True
    assert leftovers(s3_blobs) == [] and list(s3_blobs.all()) == []  # the question left nothing


def test_a_presigned_upload_lands_at_its_key_where_the_service_checks_it(s3_blobs: S3Blobs) -> None:
    data = b"sent straight to the bucket" * 1000
    sha256 = hashlib.sha256(data).hexdigest()
    upload = s3_blobs.presigned_put(sha256, size=len(data))
    assert f"/{s3_blobs.key(sha256)}?" in upload.url
    # Other bytes, or bytes without the signed hash or of another size, are refused.
    assert httpx.put(upload.url, content=data[:-1] + b"?", headers=upload.headers).status_code == 400
    assert httpx.put(upload.url, content=data).status_code == 403
    assert httpx.put(upload.url, content=data + b"!", headers=upload.headers).status_code == 403
    assert not s3_blobs.exists(sha256)
    with pytest.raises(InvalidInput, match="nothing was uploaded"):
        s3_blobs.commit(upload.upload, sha256, limit=len(data), path="d")
    assert httpx.put(upload.url, content=data, headers=upload.headers).status_code == 200
    assert s3_blobs.commit(upload.upload, sha256, limit=len(data), path="d") == (sha256, len(data))
    assert read_all(s3_blobs, sha256) == data and leftovers(s3_blobs) == []
    # Past the limit: refused, but the blob is whole and named by its hash, so it stays (for gc).
    with pytest.raises(ArtifactTooLarge, match=f"is {len(data)} bytes; the limit is 10"):
        s3_blobs.commit(upload.upload, sha256, limit=10, path="d")
    answer = httpx.get(s3_blobs.presigned_get(sha256))
    assert answer.status_code == 200 and answer.content == data


def test_a_blob_at_its_key_that_does_not_hash_as_named_is_dropped(s3_blobs: S3Blobs) -> None:
    """What no checking service keeps, put there behind its back: commit never names it."""
    claimed = hashlib.sha256(b"what was promised").hexdigest()
    upload = s3_blobs.presigned_put(claimed)
    s3_blobs.client.put_object(Bucket=s3_blobs.bucket, Key=s3_blobs.key(claimed), Body=b"something else")
    with pytest.raises(IntegrityError, match=f"does not match its sha256 {claimed}"):
        s3_blobs.commit(upload.upload, claimed, limit=100, path="d")
    assert list(s3_blobs.all()) == [] and leftovers(s3_blobs) == []


def test_a_presigned_upload_becomes_a_blob_on_commit(copying_blobs: S3Blobs) -> None:
    data = b"sent straight to the bucket" * 1000
    sha256 = hashlib.sha256(data).hexdigest()
    upload = copying_blobs.presigned_put(sha256)
    assert f"/{copying_blobs.prefix}tmp/{upload.upload}?" in upload.url
    assert httpx.put(upload.url, content=data, headers=upload.headers).status_code == 200
    assert not copying_blobs.exists(sha256)  # not before it is committed
    assert copying_blobs.commit(upload.upload, sha256, limit=len(data), path="d") == (sha256, len(data))
    assert read_all(copying_blobs, sha256) == data
    assert leftovers(copying_blobs) == []
    with pytest.raises(InvalidInput, match="nothing was uploaded"):
        copying_blobs.commit(upload.upload, sha256, limit=len(data), path="d")  # once only

    answer = httpx.get(copying_blobs.presigned_get(sha256))
    assert answer.status_code == 200 and answer.content == data


def test_a_presigned_upload_of_other_bytes_never_becomes_a_blob(copying_blobs: S3Blobs) -> None:
    claimed = hashlib.sha256(b"what was promised").hexdigest()
    upload = copying_blobs.presigned_put(claimed)
    # The service checks the signed checksum: other bytes are refused at once.
    assert httpx.put(upload.url, content=b"something else", headers=upload.headers).status_code == 400
    # And the signature covers it: it cannot be left out or changed.
    assert httpx.put(upload.url, content=b"something else").status_code == 403
    assert leftovers(copying_blobs) == []
    # A service that kept them anyway: commit hashes what arrived, and drops it.
    key = copying_blobs.prefix + "tmp/" + upload.upload
    copying_blobs.client.put_object(Bucket=copying_blobs.bucket, Key=key, Body=b"something else")
    with pytest.raises(IntegrityError, match=f"does not match its sha256 {claimed}"):
        copying_blobs.commit(upload.upload, claimed, limit=100, path="d")
    assert list(copying_blobs.all()) == [] and leftovers(copying_blobs) == []


def test_commit_refuses_what_is_not_an_upload_or_too_large(copying_blobs: S3Blobs) -> None:
    sha256, _ = copying_blobs.put(b"a blob", limit=10, path="a")
    for upload in ("../blobs/" + sha256[:2] + "/" + sha256, "", "x" * 32):
        with pytest.raises(InvalidInput, match="is not an upload id"):
            copying_blobs.commit(upload, sha256, limit=10, path="a")
    data = b"eleven byte"
    upload = copying_blobs.presigned_put(hashlib.sha256(data).hexdigest())
    httpx.put(upload.url, content=data, headers=upload.headers).raise_for_status()
    with pytest.raises(ArtifactTooLarge, match="is 11 bytes; the limit is 10"):
        copying_blobs.commit(upload.upload, upload.sha256, limit=10, path="d")
    assert leftovers(copying_blobs) == [] and not copying_blobs.exists(upload.sha256)


def test_presigned_urls_last_at_most_the_named_expiry(s3_blobs: S3Blobs) -> None:
    sha256 = hashlib.sha256(b"").hexdigest()
    assert f"X-Amz-Expires={MAX_PRESIGN_EXPIRY}" in s3_blobs.presigned_get(sha256, expires=MAX_PRESIGN_EXPIRY)
    assert s3_blobs.presigned_put(sha256, expires=MAX_PRESIGN_EXPIRY).expires > time.time() + MAX_PRESIGN_EXPIRY - 60
    for expires in (0, MAX_PRESIGN_EXPIRY + 1):
        with pytest.raises(InvalidInput, match=f"1 to {MAX_PRESIGN_EXPIRY} seconds"):
            s3_blobs.presigned_get(sha256, expires=expires)
        with pytest.raises(InvalidInput, match=f"1 to {MAX_PRESIGN_EXPIRY} seconds"):
            s3_blobs.presigned_put(sha256, expires=expires)
    with pytest.raises(InvalidInput, match="is not a sha256"):
        s3_blobs.presigned_get("../../other-bucket")
    assert STALE_UPLOAD_AGE > MAX_PRESIGN_EXPIRY  # a sweep never takes an upload whose URL still works


# -- S3: settings and errors in the user's words -------------------------------------


def test_blobs_from_a_url_and_the_aws_variables(seaweedfs: SeaweedFS) -> None:
    prefix = seaweedfs.new_prefix()
    environ = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_ENDPOINT_URL": seaweedfs.endpoint,
        "AWS_REGION": "eu-west-3",
    }
    blobs = S3Blobs.from_url(f"s3://{BUCKET}/{prefix}/b/", environ=environ)
    assert (blobs.bucket, blobs.prefix, blobs.endpoint) == (BUCKET, f"{prefix}/b/", seaweedfs.endpoint)
    assert blobs.client.meta.region_name == "eu-west-3"
    blobs.check()
    sha256, _ = blobs.put(b"x", limit=1, path="x")
    assert (
        seaweedfs.client().head_object(Bucket=BUCKET, Key=f"{prefix}/b/blobs/{sha256[:2]}/{sha256}")["ContentLength"]
        == 1
    )

    assert parse_s3_url("s3://my-bucket") == ("my-bucket", "")
    for bad in ("http://bucket/x", "s3://", "s3://UPPER/x", "s3://ab"):
        with pytest.raises(InvalidSetting, match="is not an s3://bucket/prefix URL"):
            parse_s3_url(bad)
    with pytest.raises(InvalidSetting, match="is not an http"):
        S3Blobs.from_url(f"s3://{BUCKET}", environ={**environ, "AWS_ENDPOINT_URL": "localhost:1"})


def calls(blobs: S3Blobs) -> Iterator[Callable[[], object]]:
    """One call of each kind a store makes."""
    sha256 = hashlib.sha256(b"x").hexdigest()
    yield blobs.check
    yield lambda: blobs.put(b"x", limit=1, path="x")
    yield lambda: blobs.put(Generated(PART_SIZE + 1), limit=1 << 30, path="x")
    yield lambda: blobs.open(sha256)
    yield lambda: blobs.exists(sha256)
    yield lambda: blobs.delete(sha256)
    yield lambda: list(blobs.all())


@pytest.mark.parametrize(
    "problem, message",
    [
        ("unreachable", r"S3 bucket '{bucket}' at {endpoint} cannot be reached"),
        ("credentials", r"{endpoint} refused the credentials for bucket '{bucket}'"),
        ("bucket", r"bucket '{bucket}' does not exist at {endpoint}"),
    ],
)
def test_a_service_that_cannot_serve_is_named_with_its_endpoint_and_bucket(
    seaweedfs: SeaweedFS, problem: str, message: str
) -> None:
    endpoint = f"http://127.0.0.1:{unused_port()}" if problem == "unreachable" else seaweedfs.endpoint
    bucket = "no-such-bucket" if problem == "bucket" else BUCKET
    secret = "wrong" if problem == "credentials" else SECRET_KEY
    blobs = S3Blobs(bucket, seaweedfs.new_prefix(), endpoint=endpoint, access_key=ACCESS_KEY, secret_key=secret)
    for call in calls(blobs):
        with pytest.raises(StoreUnavailable, match=message.format(bucket=bucket, endpoint=endpoint)) as raised:
            call()
        assert raised.value.__suppress_context__ and "botocore" not in str(raised.value)
    assert "wrong" not in str(raised.value) or problem != "credentials"


@pytest.mark.slow
def test_the_service_gone_midway_through_an_upload(tmp_path: Path) -> None:
    """Killed (by its PID) while a blob streams in: a clear error; back up, no blob and nothing
    half-written is visible, and a sweep clears what the dead upload left."""
    service = SeaweedFS(tmp_path / "seaweedfs").start()
    try:
        blobs = S3Blobs(BUCKET, "p", endpoint=service.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        source = Generated(4 * PART_SIZE, lambda _: service.kill(), after=2 * PART_SIZE + 1)
        with pytest.raises(
            StoreUnavailable, match=rf"S3 bucket '{blobs.bucket}' at {service.endpoint} cannot be reached"
        ):
            blobs.put(source, limit=1 << 30, path="big")
        service.start()
        assert list(blobs.all()) == []
        assert not blobs.exists(source.sha256())
        blobs.sweep(now=time.time() + STALE_UPLOAD_AGE + 60)
        assert leftovers(blobs) == []
        # and the store works as before
        again = Generated(4 * PART_SIZE)
        assert blobs.put(again, limit=1 << 30, path="big") == (again.sha256(), 4 * PART_SIZE)
    finally:
        service.stop()


@pytest.mark.parametrize("checks", [True, False], ids=["service-checks", "blobs-check"])
def test_announced_bytes_of_known_length_land_whole_and_checked_or_not_at_all(
    s3_blobs: S3Blobs, copying_blobs: S3Blobs, checks: bool
) -> None:
    """A service that checks a sha256 gets them in one PUT it checks; another in parts checked here."""
    blobs = s3_blobs if checks else copying_blobs
    payload = os.urandom(PART_SIZE + 12_345)
    right, wrong = hashlib.sha256(payload).hexdigest(), hashlib.sha256(b"other").hexdigest()
    short = hashlib.sha256(payload[:-1]).hexdigest()
    cases = [
        (Trickle(payload, len(payload)), wrong),
        (Trickle(payload[:-1], len(payload)), short),  # fewer bytes than said
        (Trickle(payload, len(payload) - 1), right),  # more (a request body cannot: its Content-Length ends it)
    ]
    for stream, sha256 in cases:
        with pytest.raises(IntegrityError, match="do not match the sha256"):
            blobs.put(stream, limit=len(payload), path="m.bin", sha256=sha256)  # type: ignore[arg-type]
        assert not blobs.exists(sha256)
    assert list(blobs.all()) == []
    assert blobs.put(Trickle(payload, len(payload)), limit=len(payload), path="m.bin", sha256=right) == (  # type: ignore[arg-type]
        right,
        len(payload),
    )
    with blobs.open(right) as f:
        assert f.read() == payload
    with pytest.raises(ArtifactTooLarge):  # past the limit: refused from its length, before a byte is read
        blobs.put(Trickle(payload, len(payload)), limit=len(payload) - 1, path="m.bin", sha256=right)  # type: ignore[arg-type]
