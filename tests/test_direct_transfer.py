"""Direct transfer: artifact bytes go between a client and the team backend's bucket by
presigned URL, not through a server replica; and every other case falls back to the server.

Whether bytes passed through the server is measured at its front door: the client talks to
a real ``runhistory serve`` through a relay that counts the bytes each way (the bucket is
reached past it). A server that moves the files itself is measured the same way, to show
that the count sees them.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import httpx
import pytest

from runhistory.api import HttpStore, IntegrityError, InvalidInput, NewRun, Store

from ._balancer import Balancer
from ._inprocess import in_process
from ._processes import partial_files, run
from ._relay import Relay
from ._s3 import BUCKET, SeaweedFS
from ._server import Server, start_replicas, unused_port

if TYPE_CHECKING:
    from runhistory.api._s3 import S3Blobs

MIB = 1024 * 1024


@dataclass
class Team:
    """A team backend of the test's own: its ``serve`` arguments, AWS variables, and the store itself."""

    args: tuple[str, ...]
    env: dict[str, str]
    store: Store
    blobs: S3Blobs


@pytest.fixture
def team(postgres_dsn: str, seaweedfs: SeaweedFS, tmp_path: Path) -> Iterator[Team]:
    from runhistory.api._postgres import PostgresStore

    blobs = seaweedfs.blobs()
    store = PostgresStore(postgres_dsn, blobs=blobs, staging=tmp_path / "staging")
    url = f"s3://{blobs.bucket}/{blobs.prefix}"
    yield Team(("--db", postgres_dsn, "--blobs", url), seaweedfs.environ(), store, blobs)
    store.close()


@pytest.fixture
def served(team: Team, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Server, Relay]]:
    """The team backend served by a real ``runhistory serve`` (with the test's extra arguments),
    reached through a counting relay."""
    extra: tuple[str, ...] = getattr(request, "param", ())
    server = Server(tmp_path / "server", *team.args, *extra, env=team.env).start()
    relay = Relay(server.port)
    yield server, relay
    relay.close()
    server.stop()


def _file(tmp_path: Path, size: int) -> tuple[Path, str]:
    """A file of ``size`` bytes that compress badly, and its sha256."""
    path = tmp_path / "weights.bin"
    block = os.urandom(MIB)
    with open(path, "wb") as out:
        for n in range(size // MIB):
            out.write(bytes([n % 256]) + block[1:])
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _read_all(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    with stream as source:
        while piece := source.read(MIB):
            digest.update(piece)
    return digest.hexdigest()


@pytest.mark.slow
def test_a_large_file_goes_to_and_comes_from_the_bucket_past_the_server(
    served: tuple[Server, Relay], team: Team, tmp_path: Path
) -> None:
    _, relay = served
    path, sha256 = _file(tmp_path, 64 * MIB)
    client = HttpStore(relay.url)
    run = client.create_run(NewRun(experiment="direct"))
    before = relay.counts()
    with open(path, "rb") as stream:
        info = client.put_artifact(run.id, "model/weights.bin", stream)
    sent, received = (now - then for now, then in zip(relay.counts(), before))
    assert (info.sha256, info.size) == (sha256, 64 * MIB)
    assert sent < 64 * 1024, f"{sent} bytes of a 64 MiB upload went through the server"
    assert received < 64 * 1024
    assert team.store.list_artifacts(run.id) == [info]  # recorded, as the store itself sees it

    before = relay.counts()
    assert _read_all(client.open_artifact(run.id, "model/weights.bin")) == sha256
    sent, received = (now - then for now, then in zip(relay.counts(), before))
    assert received < 64 * 1024, f"{received} bytes of a 64 MiB download came through the server"

    client.promote(run.id, "model", "weights")
    before = relay.counts()
    assert _read_all(client.open_asset_file("weights", 1, "model/weights.bin")) == sha256
    assert relay.counts()[1] - before[1] < 64 * 1024
    client.close()


@pytest.mark.slow
@pytest.mark.parametrize("served", [("--no-direct",)], indirect=True)
def test_a_server_told_no_direct_moves_the_files_itself(
    served: tuple[Server, Relay], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, relay = served
    path, sha256 = _file(tmp_path, 16 * MIB)
    client = HttpStore(relay.url)
    run = client.create_run(NewRun(experiment="direct"))
    with caplog.at_level(logging.INFO, logger="runhistory"), open(path, "rb") as stream:
        info = client.put_artifact(run.id, "weights.bin", stream)
    assert info.sha256 == sha256
    assert relay.counts()[0] > 16 * MIB  # the relay sees what passes through the server
    assert "offers no direct transfer" in caplog.text and "--no-direct" in caplog.text
    before = relay.counts()[1]
    assert _read_all(client.open_artifact(run.id, "weights.bin")) == sha256
    assert relay.counts()[1] - before > 16 * MIB
    client.close()


@pytest.mark.slow
def test_direct_false_in_the_config_file_sends_the_files_through_the_server(
    team: Team, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "serve.toml"
    config.write_text("[serve]\ndirect = false\n")
    server = Server(tmp_path / "server", *team.args, "--config", str(config), env=team.env).start()
    relay = Relay(server.port)
    try:
        path, sha256 = _file(tmp_path, 16 * MIB)
        run = team.store.create_run(NewRun(experiment="direct"))
        # No presigned URL is handed out, and a download asked for directly is answered with its bytes.
        said = {"path": "weights.bin", "sha256": sha256, "size": 16 * MIB}
        answer = httpx.post(f"{relay.url}/api/v1/runs/{run.id}/direct-uploads", json=said)
        assert answer.status_code == 409 and answer.json()["error"] == "DirectTransferNotOffered"
        assert "direct = false in its config file" in answer.json()["message"]
        client = HttpStore(relay.url)
        with caplog.at_level(logging.INFO, logger="runhistory"), open(path, "rb") as stream:
            info = client.put_artifact(run.id, "weights.bin", stream)
        assert (info.sha256, info.size) == (sha256, 16 * MIB)
        assert relay.counts()[0] > 16 * MIB  # the whole file went through the server
        assert "offers no direct transfer" in caplog.text
        answer = httpx.get(f"{relay.url}/api/v1/runs/{run.id}/artifacts/weights.bin", params={"direct": "true"})
        assert answer.status_code == 200 and hashlib.sha256(answer.content).hexdigest() == sha256
        assert "location" not in answer.headers
        before = relay.counts()[1]
        assert _read_all(client.open_artifact(run.id, "weights.bin")) == sha256
        assert relay.counts()[1] - before > 16 * MIB
        client.close()
    finally:
        relay.close()
        server.stop()


@pytest.mark.slow
def test_direct_transfers_across_two_replicas_behind_a_balancer(team: Team, tmp_path: Path) -> None:
    """Two replicas on one PostgreSQL and one bucket, behind nginx, each reached through a relay
    that counts its bytes: a file sent straight to the bucket through either is read back whole
    through each, and an upload begun on one replica is finished on the other."""
    with ExitStack() as started:  # whatever started is stopped, even when a later start fails
        replicas = start_replicas(started, tmp_path, 2, *team.args, env=team.env)
        relays = [Relay(r.port) for r in replicas]
        for relay in relays:
            started.callback(relay.close)
        balancer = Balancer(tmp_path / "nginx", [r.url.removeprefix("http://") for r in relays])
        started.callback(balancer.stop)
        balancer.start()
        path, sha256 = _file(tmp_path, 24 * MIB)
        client = HttpStore(balancer.url)
        run = client.create_run(NewRun(experiment="direct"))
        with open(path, "rb") as stream:
            info = client.put_artifact(run.id, "model/weights.bin", stream)  # its three steps go round the replicas
        assert (info.sha256, info.size) == (sha256, 24 * MIB)
        for relay in relays:
            alone = HttpStore(relay.url)
            assert alone.list_artifacts(run.id) == [info]
            assert _read_all(alone.open_artifact(run.id, "model/weights.bin")) == sha256  # from the bucket
            through = HttpStore(relay.url, direct=False)
            assert _read_all(through.open_artifact(run.id, "model/weights.bin")) == sha256  # through the replica
            alone.close()
            through.close()
        # Begun on the first replica, sent to the bucket, finished on the second.
        said = {"path": "second.bin", "sha256": sha256, "size": 24 * MIB}
        before = [r.counts() for r in relays]
        offer = httpx.post(f"{relays[0].url}/api/v1/runs/{run.id}/direct-uploads", json=said)
        assert offer.status_code == 201
        upload = offer.json()
        with open(path, "rb") as stream:
            sent = httpx.put(upload["url"], content=stream.read(), headers=upload["headers"], timeout=60)
        assert sent.status_code == 200
        finished = httpx.post(f"{relays[1].url}/api/v1/runs/{run.id}/direct-uploads/{upload['upload']}", json=said)
        assert finished.status_code == 201 and finished.json()["sha256"] == sha256
        moved = [sum(now) - sum(then) for now, then in zip((r.counts() for r in relays), before)]
        assert max(moved) < 64 * 1024, f"{moved} bytes went through the replicas"
        with HttpStore(relays[0].url) as first:
            assert [a.path for a in first.list_artifacts(run.id)] == ["model/weights.bin", "second.bin"]
        assert _read_all(team.store.open_artifact(run.id, "second.bin")) == sha256
        client.close()


def test_an_embedded_store_server_takes_the_files_itself(
    fresh_server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = os.urandom(9 * MIB)
    client = HttpStore(fresh_server.url)
    run = client.create_run(NewRun())
    with caplog.at_level(logging.INFO, logger="runhistory"):
        info = client.put_artifact(run.id, "a.bin", data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert "offers no direct transfer" in caplog.text
    assert client.open_artifact(run.id, "a.bin").read() == data
    answer = httpx.post(
        f"{fresh_server.url}/api/v1/runs/{run.id}/direct-uploads",
        json={"path": "b.bin", "sha256": info.sha256, "size": len(data)},
    )
    assert answer.status_code == 409 and answer.json()["error"] == "DirectTransferNotOffered"
    client.close()


def test_a_client_that_sends_other_bytes_than_it_said_stores_nothing(
    served: tuple[Server, Relay], team: Team, seaweedfs: SeaweedFS
) -> None:
    server, _ = served
    api = f"{server.url}/api/v1"
    run = team.store.create_run(NewRun())
    said = {"path": "w.bin", "sha256": hashlib.sha256(b"what was said").hexdigest(), "size": 13}
    offer = httpx.post(f"{api}/runs/{run.id}/direct-uploads", json=said).json()
    # The bucket checks the signed hash: other bytes are refused at once, and the hash cannot be left out.
    assert httpx.put(offer["url"], content=b"something els", headers=offer["headers"]).status_code == 400
    assert httpx.put(offer["url"], content=b"something els").status_code == 403
    refused = httpx.post(f"{api}/runs/{run.id}/direct-uploads/{offer['upload']}", json=said)
    assert refused.status_code == 422 and "nothing was uploaded" in refused.json()["message"]
    # A bucket that kept them anyway: the server hashes what arrived before anything is recorded.
    offer = httpx.post(f"{api}/runs/{run.id}/direct-uploads", json=said).json()
    key = f"{team.blobs.prefix}tmp/{offer['upload']}"
    seaweedfs.client().put_object(Bucket=BUCKET, Key=key, Body=b"something els")
    refused = httpx.post(f"{api}/runs/{run.id}/direct-uploads/{offer['upload']}", json=said)
    assert refused.status_code == 422 and f"does not match its sha256 {said['sha256']}" in refused.json()["message"]
    for upload in ("../blobs/x", "0" * 32):
        answer = httpx.post(f"{api}/runs/{run.id}/direct-uploads/{upload}", json=said)
        assert answer.status_code in (404, 422)
    assert team.store.list_artifacts(run.id) == []
    left = seaweedfs.client().list_objects_v2(Bucket=BUCKET, Prefix=team.blobs.prefix)
    assert left.get("Contents", []) == []  # neither a blob nor what was sent


def test_begin_checks_the_run_the_path_and_the_size_first(served: tuple[Server, Relay], team: Team) -> None:
    server, _ = served
    api = f"{server.url}/api/v1"
    run = team.store.create_run(NewRun())
    sha256 = "0" * 64
    cases = [
        ("f" * 32, {"path": "a", "size": 1}, 404, "RunNotFound"),
        (run.id, {"path": "../a", "size": 1}, 422, "InvalidPath"),
        (run.id, {"path": "a", "size": 513 * MIB}, 413, "ArtifactTooLarge"),
    ]
    for run_id, body, status, error in cases:
        answer = httpx.post(f"{api}/runs/{run_id}/direct-uploads", json={**body, "sha256": sha256})
        assert (answer.status_code, answer.json()["error"]) == (status, error)


def test_a_bucket_the_client_cannot_reach_sends_the_file_through_the_server(
    team: Team, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Every connection the client makes itself (to the bucket; its server answers in this
    # process) goes to a proxy that is not there: the bucket cannot be reached from here.
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{unused_port()}")
    with in_process(team.store, direct_min_size=0) as client:
        run = client.create_run(NewRun())
        data = b"the bucket is out of reach" * 1000
        with caplog.at_level(logging.WARNING, logger="runhistory"):
            info = client.put_artifact(run.id, "far.txt", data)
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert "the bucket cannot be reached from here" in caplog.text
        assert client.open_artifact(run.id, "far.txt").read() == data
        assert client.list_artifacts(run.id) == [info]
        caplog.clear()
        # It was learnt: the next file goes through the server without trying (and saying so) again.
        client.put_artifact(run.id, "far2.txt", data)
        assert caplog.text == ""


def test_a_download_from_the_bucket_is_checked_against_its_hash(team: Team, seaweedfs: SeaweedFS) -> None:
    with in_process(team.store, direct_min_size=0) as client:
        run = client.create_run(NewRun())
        info = client.put_artifact(run.id, "x.bin", b"x" * 1000)
        # Damaged in the bucket: the client finds out at the end of the bytes it fetched there.
        seaweedfs.client().put_object(Bucket=BUCKET, Key=team.blobs.key(info.sha256), Body=b"y" * 1000)
        with pytest.raises(IntegrityError, match=f"not {info.sha256}"):
            client.open_artifact(run.id, "x.bin").read()


def test_direct_upload_errors_are_the_stores_own(team: Team) -> None:
    from runhistory.api._postgres import PostgresStore

    store = team.store
    assert isinstance(store, PostgresStore) and store.offers_direct_transfer
    run = store.create_run(NewRun())
    with pytest.raises(InvalidInput, match="nothing was uploaded"):
        store.finish_direct_upload(run.id, "a", "0" * 32, "0" * 64)


def test_the_loggers_upload_goes_to_the_bucket_and_is_stored_once(
    served: tuple[Server, Relay], team: Team, tmp_path: Path
) -> None:
    _, relay = served
    done = run(
        tmp_path,
        tmp_path / "client",
        """
        import os
        from runhistory.logger import get_logger
        lg = get_logger(experiment="direct")
        with open("weights.bin", "wb") as out:
            out.write(os.urandom(12 * 1024 * 1024))
        lg.upload_file("weights.bin", "weights.bin").wait()
        lg.finish()
        print(lg.run_id)
        """,
        RUNHISTORY_URL=relay.url,
    )
    assert done.returncode == 0, done.stderr
    (info,) = team.store.list_artifacts(done.stdout.strip())
    assert info.sha256 == hashlib.sha256((tmp_path / "weights.bin").read_bytes()).hexdigest()
    assert relay.counts()[0] < MIB  # the run, its end and the upload's two requests: not the file
    assert partial_files(tmp_path / "client") == []  # the staged copy is gone
