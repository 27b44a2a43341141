"""Direct transfer benchmark: one large artifact up and down a real ``runhistory serve``
over PostgreSQL + a local SeaweedFS, straight to the bucket and through the server.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_direct.py              # 200 MiB, 3 repetitions
    .venv/bin/python tests/bench/bench_direct.py --mib 64 --reps 1

It starts a throwaway PostgreSQL cluster and ``weed mini`` as the tests do, then
a ``runhistory serve --db … --blobs s3://…`` twice: as it starts (direct transfer
on) and with ``--no-direct``. For each, an ``HttpStore`` uploads a file of N MiB
(``put_artifact`` from the file, as the logger does; its first bytes changed each
time, since a blob already stored is not sent again) and reads it back whole
(``open_artifact``, sha256 checked), through a relay that counts the bytes
passing the server's door. It prints the median seconds and MiB/s each way,
and the bytes through the server's door. (``/proc/<pid>/io`` is no measure
of that: its rchar and wchar leave out a socket's recv and send.)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from runhistory.api import HttpStore, NewRun  # noqa: E402
from runhistory.api._postgres import PostgresStore  # noqa: E402
from tests._postgres import Cluster  # noqa: E402
from tests._relay import Relay  # noqa: E402
from tests._s3 import SeaweedFS  # noqa: E402
from tests._server import Server  # noqa: E402

MiB = 1024 * 1024


def another(file: Path, mark: str) -> str:
    """Make ``file`` another file (its first bytes ``mark``), so that no upload finds its blob
    stored already; its sha256."""
    with open(file, "r+b") as out:
        out.write(f"{mark:<16}".encode())
    digest = hashlib.sha256()
    with open(file, "rb") as stream:
        while piece := stream.read(MiB):
            digest.update(piece)
    return digest.hexdigest()


def measure(server: Server, file: Path, label: str, reps: int) -> dict[str, list[float]]:
    relay = Relay(server.port)
    client = HttpStore(relay.url)
    run = client.create_run(NewRun(experiment="bench"))
    got: dict[str, list[float]] = {k: [] for k in ("up", "down", "door_up", "door_down")}
    try:
        for rep in range(reps):
            sha256 = another(file, f"{label}-{rep}")
            door, start = relay.counts()[0], time.perf_counter()
            with open(file, "rb") as stream:
                info = client.put_artifact(run.id, f"weights-{rep}.bin", stream)
            got["up"].append(time.perf_counter() - start)
            got["door_up"].append(relay.counts()[0] - door)
            assert info.sha256 == sha256
            door, start = relay.counts()[1], time.perf_counter()
            digest = hashlib.sha256()
            with client.open_artifact(run.id, f"weights-{rep}.bin") as source:
                while piece := source.read(MiB):
                    digest.update(piece)
            got["down"].append(time.perf_counter() - start)
            got["door_down"].append(relay.counts()[1] - door)
            assert digest.hexdigest() == sha256
    finally:
        client.close()
        relay.close()
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="artifact size in MiB")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        file = root / "weights.bin"
        with open(file, "wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(MiB))
        cluster, service = Cluster(), SeaweedFS(root / "seaweedfs")
        cluster.start()
        service.start()
        try:
            print(f"artifact {args.mib} MiB, {args.reps} repetitions, medians")
            print(
                f"{'':>12} {'up s':>7} {'MiB/s':>7} {'down s':>7} {'MiB/s':>7} {'through the server up / down MiB':>34}"
            )
            for label, extra in (("direct", ()), ("proxied", ("--no-direct",))):
                dsn = cluster.dsn(cluster.new_database())
                blobs = service.blobs()
                PostgresStore(dsn, blobs=blobs).close()  # the tables, before the server opens them
                server_args = ("--db", dsn, "--blobs", f"s3://{blobs.bucket}/{blobs.prefix}", *extra)
                server = Server(root / label, *server_args, env=service.environ()).start()
                try:
                    got = measure(server, file, label, args.reps)
                finally:
                    server.stop()
                m = {k: statistics.median(v) for k, v in got.items()}
                print(
                    f"{label:>12} {m['up']:7.2f} {args.mib / m['up']:7.0f} {m['down']:7.2f} {args.mib / m['down']:7.0f}"
                    f" {m['door_up'] / MiB:20.2f} / {m['door_down'] / MiB:<8.2f}"
                )
        finally:
            service.stop()
            cluster.remove()


if __name__ == "__main__":
    main()
