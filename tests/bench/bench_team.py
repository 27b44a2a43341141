"""Team server benchmark: ingest into PostgreSQL + S3 through one and two replicas, against MLflow.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_team.py            # about 3 minutes with MLflow
    .venv/bin/python tests/bench/bench_team.py --quick    # points / 10, a smoke run

It starts what a team runs, on this machine: a throwaway PostgreSQL cluster
(the machine's PostgreSQL, as the tests start it), SeaweedFS as the S3 service,
``runhistory serve --db … --blobs s3://…`` replicas (two behind nginx), and
``mlflow server`` on the same PostgreSQL (its own database) with its artifacts in
the same S3 service. Then N writer processes log at once (each its own run, its
points through ``RUNHISTORY_URL`` with ``get_logger().log()`` then ``flush()``;
MLflow's through ``MlflowClient.log_batch`` of 1,000 metrics), timed from the
moment all are told to go to the last one done. Every point is counted back.

The first table: points per second for 8 and 32 writers through one replica,
one behind nginx, and two behind nginx (target ≥ 300,000, and more with two
than with one), and MLflow's server with 8 writers. The second, through one
replica (``HttpStore``, medians of 9): the first page of 100,000 runs (rows
copied into PostgreSQL from the store ``bench_queries.py`` builds), a filtered
and sorted query, a 1M-point series read at 1,000 points, and a 1 GiB artifact
up and down (streamed through the replica into S3 and back) with the replica's
peak RSS before and after.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # the repository: tests._postgres, tests._s3, tests._balancer

from bench_server import (  # noqa: E402
    MlflowServer,
    RunhistoryServer,
    run_workers,
)
from report import machine_line, mlflow_installed  # noqa: E402

from tests._balancer import Balancer  # noqa: E402
from tests._postgres import Cluster  # noqa: E402
from tests._s3 import BUCKET, SeaweedFS  # noqa: E402

#: Points per second the team backend must take (issue target).
TARGET = 300_000
#: Points all writers log together, per measure (MLflow's: a tenth, it is slower).
TOTAL_POINTS = 2_000_000
#: Runs in the store the queries are asked of.
RUNS = 100_000
#: Points of the series read downsampled, and the points it is read at.
SERIES_POINTS = 1_000_000
SERIES_READ = 1_000
#: The artifact sent up and read back through a replica, in MiB.
ARTIFACT_MB = 1024
#: The replicas' and the client's per-file limit for the artifact measure (bytes).
MAX_FILE = 2 << 30
#: Repetitions of each query and read (the median is quoted).
REPS = 9


def fill_runs(cluster: Cluster, database: str, runs: int, tmp: Path) -> None:
    """``runs`` runs of ``bench_queries.py`` (10 params, 5 metrics each) in ``database``: built in
    an embedded store, then its rows copied over with COPY (the schemas are the same tables)."""
    import sqlite3

    import psycopg
    from bench_queries import build_runhistory

    home = tmp / "queries-store"
    build_runhistory(home, runs)
    source = sqlite3.connect(home / "runhistory.sqlite3")
    with psycopg.connect(cluster.dsn(database), autocommit=True) as target:
        for table in ("runs", "run_params", "metrics", "latest_values", "run_text"):
            rows = source.execute(f"SELECT * FROM {table}")
            columns = [d[0] for d in rows.description if d[0] != "id" or table == "runs"]
            picked = [i for i, d in enumerate(rows.description) if d[0] in columns]
            names = ", ".join(f'"{c}"' for c in columns)
            with target.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[i] for i in picked])
        target.execute("ANALYZE")
    source.close()
    shutil.rmtree(home, ignore_errors=True)


def _median_ms(call: Any, reps: int = REPS) -> float:
    import statistics

    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def artifact(url: str, replica: TeamReplica, tmp: Path, artifact_mb: int, how: str) -> list[tuple[str, str]]:
    """An ``artifact_mb`` MiB file up and down through ``url`` (``how`` the replica moves it)."""
    from runhistory.api import HttpStore, NewRun

    out: list[tuple[str, str]] = []
    big = tmp / "artifact.bin"
    with open(big, "wb") as f:
        block = bytes(range(256)) * 4096
        for i in range(artifact_mb):
            f.write(block[i % 256 :] + block[: i % 256])
    with HttpStore(url) as store:
        run = store.create_run(NewRun(experiment="artifact"))
        before = replica.memory()["handler_hwm_mb"]
        t0 = time.perf_counter()
        with open(big, "rb") as f:
            stored = store.put_artifact(run.id, "model.bin", f, max_size=MAX_FILE)
        up = artifact_mb / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        with store.open_artifact(run.id, "model.bin") as f:
            while f.read(1 << 20):
                pass
        down = artifact_mb / (time.perf_counter() - t0)
        after = replica.memory()["handler_hwm_mb"]
    big.unlink()
    assert stored.size == artifact_mb << 20
    out.append((f"a {artifact_mb:,} MiB artifact up ({how})", f"{up:.0f} MiB/s"))
    out.append((f"the same artifact down ({how})", f"{down:.0f} MiB/s"))
    out.append((f"the replica's peak RSS before and after both ({how})", f"{before:.0f} → {after:.0f} MiB"))
    return out


def reads(url: str, tmp: Path, runs: int, points: int) -> list[tuple[str, str]]:
    """The queries and the downsampled read through ``url`` (one replica)."""
    from runhistory.api import HttpStore, NewRun
    from runhistory.api._models import SeriesBatch

    out: list[tuple[str, str]] = []
    with HttpStore(url) as store:
        first = _median_ms(lambda: store.list_runs(limit=50))
        out.append((f"first page of 50 of {runs:,} runs, newest first", f"{first:.1f} ms"))
        where, sort = "params.optimizer = adam and metrics.val/accuracy > 0.9", "metrics.val/accuracy desc"
        page = store.list_runs(limit=50, where=where, sort=sort)
        assert page.runs, "the filter found nothing"
        filtered = _median_ms(lambda: store.list_runs(limit=50, where=where, sort=sort))
        out.append((f"`{where}`, sort `{sort}`, first 50", f"{filtered:.1f} ms"))
        run = store.create_run(NewRun(experiment="series"))
        step = 50_000
        for start in range(0, points, step):
            values = [float(i % 977) for i in range(start, start + step)]
            store.append_metrics(run.id, {"x": SeriesBatch("number", values, [None] * step, [time.time()] * step)})
        series = store.read_series(run.id, "x", max_points=SERIES_READ)
        assert len(series.values) <= SERIES_READ
        read = _median_ms(lambda: store.read_series(run.id, "x", max_points=SERIES_READ))
        out.append((f"a {points:,}-point series read at {SERIES_READ:,} points", f"{read:.1f} ms"))
    return out


class TeamReplica(RunhistoryServer):
    """``runhistory serve --db DSN --blobs s3://…`` with the S3 service's variables."""

    def __init__(self, folder: Path, dsn: str, blobs: str, env: dict[str, str], *args: str) -> None:
        super().__init__(folder, **env)
        self.dsn, self.blobs, self.args = dsn, blobs, args

    def serve_args(self) -> list[str]:
        return ["--db", self.dsn, "--blobs", self.blobs, *self.args]


class MlflowTeam(MlflowServer):
    """``mlflow server`` on PostgreSQL, its artifacts in the S3 service (proxied through it)."""

    def __init__(self, folder: Path, dsn: str, s3: SeaweedFS) -> None:
        # MLflow finds the S3 service and its credentials in its server's environment.
        super().__init__(folder, **s3.environ(), MLFLOW_S3_ENDPOINT_URL=s3.endpoint)
        self.db_uri = dsn.replace("postgresql://", "postgresql+psycopg://")
        self.artifacts = f"s3://{BUCKET}/{s3.new_prefix()}"


def ingest(urls: list[str], side: str, writers: int, total: int, tmp: Path) -> dict[str, Any]:
    """``writers`` processes logging ``total`` points between them through ``urls[i % len(urls)]``."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-team-{side}-{writers}-", dir=tmp))
    each = total // writers
    specs = [
        (f"{side}_ingest", {"points": each, "seed": i + 1, "url": urls[i % len(urls)], "experiment": "team"}, folder)
        for i in range(writers)
    ]
    try:
        # RUNHISTORY_URL is each worker's own: one balancer, or the replica it was given.
        env = {"RUNHISTORY_URL": urls[0]} if side == "rh" else {}
        results, _ = run_workers(specs, **env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    t0 = min(r["t0"] for r in results)
    t_end = max(r["t_end"] for r in results)
    out = {
        "writers": writers,
        "points": each * writers,
        "wall_s": t_end - t0,
        "points_per_s": each * writers / (t_end - t0),
    }
    if side == "rh":
        out["stored"] = sum(r["stored"] for r in results)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="points / 10: a smoke run")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    total = TOTAL_POINTS // scale
    tmp = Path(tempfile.mkdtemp(prefix="bench-team-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    cluster = Cluster().start()
    s3 = SeaweedFS(tmp / "seaweedfs").start()
    rows: list[tuple[str, str, float, str]] = []
    read_rows: list[tuple[str, str]] = []
    try:
        # One replica straight, then behind nginx (what the balancer costs), then two behind it.
        for replicas, balanced in ((1, False), (1, True), (2, True)):
            for writers in (8, 32):
                database = cluster.new_database()
                dsn = cluster.dsn(database)
                blobs = f"s3://{BUCKET}/{s3.new_prefix()}"
                servers = [
                    TeamReplica(tmp / f"replica-{database}-{n}", dsn, blobs, s3.environ()).start()
                    for n in range(replicas)
                ]
                balancer = None
                if balanced:
                    balancer = Balancer(tmp / f"nginx-{database}", [s.url.removeprefix("http://") for s in servers])
                    balancer.start()
                url = balancer.url if balancer else servers[0].url
                try:
                    how = f"{writers} writers, {replicas} replica{'s' if replicas > 1 else ''}" + (
                        " behind nginx" if balanced else ""
                    )
                    print(f"  runhistory: {how} …", file=sys.stderr, flush=True)
                    r = ingest([url], "rh", writers, total, tmp)
                    assert r["stored"] == r["points"], r
                    rows.append(("runhistory", how, r["points_per_s"], ""))
                finally:
                    if balancer:
                        balancer.stop()
                    for s in servers:
                        s.stop()
        print("  runhistory: queries, a series, an artifact …", file=sys.stderr, flush=True)
        database = cluster.new_database()
        blobs = f"s3://{BUCKET}/{s3.new_prefix()}"
        limit = ("--max-file-size", str(MAX_FILE))
        replica = TeamReplica(tmp / "replica-reads", cluster.dsn(database), blobs, s3.environ(), *limit)
        replica.start()
        try:
            fill_runs(cluster, database, RUNS // scale, tmp)
            read_rows += reads(replica.url, tmp, RUNS // scale, SERIES_POINTS // scale)
            read_rows += artifact(replica.url, replica, tmp, ARTIFACT_MB // scale, "direct: client and bucket")
        finally:
            replica.stop()
        proxied = TeamReplica(
            tmp / "replica-proxied", cluster.dsn(database), blobs, s3.environ(), *limit, "--no-direct"
        )
        proxied.start()
        try:
            read_rows += artifact(proxied.url, proxied, tmp, ARTIFACT_MB // scale, "proxied through the replica")
        finally:
            proxied.stop()
        if not args.no_mlflow and mlflow_installed():
            database = cluster.new_database()
            server = MlflowTeam(tmp / "mlflow", cluster.dsn(database), s3)
            try:
                print("  MLflow: 8 writers, 1 server …", file=sys.stderr, flush=True)
                server.start()
                r = ingest([server.url], "ml", 8, total // 10, tmp)
                rows.append(("MLflow server", "8 writers, 1 server", r["points_per_s"], ""))
            finally:
                server.stop()
    finally:
        s3.stop()
        cluster.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    print(machine_line())
    print(f"command: bench_team.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print()
    print("| system | ingest | points/s | target | met? |")
    print("|---|---|---|---|---|")
    for system, what, rate, _ in rows:
        met = "yes" if rate >= TARGET else "**NO**"
        print(f"| {system} | {what} | {rate:,.0f} | ≥ {TARGET:,} | {met if system == 'runhistory' else '—'} |")
    print()
    print("| through one replica | runhistory |")
    print("|---|---|")
    for what, figure in read_rows:
        print(f"| {what} | {figure} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
