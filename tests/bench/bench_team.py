"""Team server benchmark: ingest into PostgreSQL + S3 through one and two replicas, against MLflow.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_team.py            # about 9 minutes with MLflow
    .venv/bin/python tests/bench/bench_team.py --quick    # points / 10, a smoke run
    .venv/bin/python tests/bench/bench_team.py --no-ingest --no-mlflow   # the reads and artifacts alone

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
replica (``HttpStore``, medians of 9) and through MLflow's server
(``MlflowClient``): the first page of 100,000 runs, a filtered and sorted
query, a word searched for, a 1M-point series read at 1,000 points, and a
1 GiB artifact up and down (straight between client and bucket, and streamed
through the replica) with the servers' peak RSS before and after, beside boto3
straight to the bucket (the service's own ceiling, in the same run) and the
service's CPU time per MiB moved.

The 100,000 runs are built as ``bench_queries.py`` builds them: runhistory's in
an embedded store whose rows are copied into PostgreSQL (the same tables);
MLflow's written into the schema its server made, with ``COPY`` (its client
would take hours at its ingest rate), and likewise its 1M-point series (rows of
its ``metrics`` table). MLflow's client reads a metric's whole history
(``get_metric_history``); its server also answers its UI's sampled read
(``get-history-bulk-interval``: up to 1,000 of the logged steps, evenly picked),
which is timed beside it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # the repository: tests._postgres, tests._s3, tests._balancer

from bench_queries import ML_FILTER, ML_ORDER, MLFLOW_RUN_COLUMNS, median_ms, mlflow_rows  # noqa: E402
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
#: A word searched for: runs trial-4242 and trial-42420 to -42429 hold it.
WORD = "trial-4242"
#: What a page shows.
PAGE = 50


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


def service_cpu(s3: SeaweedFS) -> float:
    """CPU seconds the S3 service (``weed mini``, one process) has used so far."""
    assert s3.process is not None
    fields = Path(f"/proc/{s3.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_file(tmp: Path, artifact_mb: int) -> Path:
    """The artifact: ``artifact_mb`` MiB that neither compress nor repeat a MiB."""
    big = tmp / "artifact.bin"
    with open(big, "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(artifact_mb):
            f.write(i.to_bytes(8, "little") + block[8:])
    return big


def _rate(mb: int, seconds: float, cpu: float) -> str:
    return f"{mb / seconds:.0f} MiB/s (SeaweedFS {cpu / mb * 1000:.1f} ms CPU/MiB)"


def artifact(url: str, replica: TeamReplica, big: Path, how: str, s3: SeaweedFS) -> dict[str, str]:
    """``big`` up and down through ``url`` (``how`` the replica moves it): ``up_<how>``,
    ``down_<how>``, ``rss_<how>`` (the replica's peak RSS before and after both)."""
    from runhistory.api import HttpStore, NewRun

    mb = big.stat().st_size >> 20
    with HttpStore(url) as store:
        run = store.create_run(NewRun(experiment="artifact"))
        before = replica.memory()["handler_hwm_mb"]
        cpu, t0 = service_cpu(s3), time.perf_counter()
        with open(big, "rb") as f:
            stored = store.put_artifact(run.id, "model.bin", f, max_size=MAX_FILE)
        up = _rate(mb, time.perf_counter() - t0, service_cpu(s3) - cpu)
        cpu, t0 = service_cpu(s3), time.perf_counter()
        with store.open_artifact(run.id, "model.bin") as f:
            while f.read(1 << 20):
                pass
        down = _rate(mb, time.perf_counter() - t0, service_cpu(s3) - cpu)
        after = replica.memory()["handler_hwm_mb"]
    assert stored.size == mb << 20
    return {f"up_{how}": up, f"down_{how}": down, f"rss_{how}": f"{before:.0f} → {after:.0f} MiB"}


def s3_ceiling(s3: SeaweedFS, big: Path) -> dict[str, str]:
    """``big`` up and down with boto3 straight to the bucket, in parts as ``S3Blobs`` sends them:
    what the service itself takes, in the same run."""
    from boto3.s3.transfer import TransferConfig

    from runhistory.api._s3 import PART_SIZE, PUT_CONCURRENCY

    mb = big.stat().st_size >> 20
    client, key = s3.client(), f"{s3.new_prefix()}/ceiling.bin"
    config = TransferConfig(
        multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=PUT_CONCURRENCY
    )
    cpu, t0 = service_cpu(s3), time.perf_counter()
    client.upload_file(str(big), BUCKET, key, Config=config)
    up = _rate(mb, time.perf_counter() - t0, service_cpu(s3) - cpu)
    cpu, t0 = service_cpu(s3), time.perf_counter()
    for _ in client.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(1 << 20):
        pass
    down = _rate(mb, time.perf_counter() - t0, service_cpu(s3) - cpu)
    client.delete_object(Bucket=BUCKET, Key=key)
    return {"up": up, "down": down}


def _ms(ms: float) -> str:
    return f"{ms / 1000:,.1f} s" if ms >= 10_000 else f"{ms:,.1f} ms"


def reads(url: str, runs: int, points: int) -> dict[str, str]:
    """The queries and the downsampled read through ``url`` (one replica): ``first``,
    ``filtered``, ``word``, ``series``."""
    from runhistory.api import HttpStore, NewRun
    from runhistory.api._models import SeriesBatch

    out: dict[str, str] = {}
    with HttpStore(url) as store:
        out["first"] = _ms(median_ms(lambda: store.list_runs(limit=PAGE), REPS))
        where, sort = "params.optimizer = adam and metrics.val/accuracy > 0.9", "metrics.val/accuracy desc"
        assert len(store.list_runs(limit=PAGE, where=where, sort=sort).runs) == PAGE
        out["filtered"] = _ms(median_ms(lambda: store.list_runs(limit=PAGE, where=where, sort=sort), REPS))
        found = len(store.list_runs(limit=PAGE, where=WORD).runs)
        assert found, "the word found nothing"
        out["word"] = f"{_ms(median_ms(lambda: store.list_runs(limit=PAGE, where=WORD), REPS))} ({found} found)"
        run = store.create_run(NewRun(experiment="series"))
        step = 50_000
        for start in range(0, points, step):
            values = [float(i % 977) for i in range(start, start + step)]
            store.append_metrics(run.id, {"x": SeriesBatch("number", values, [None] * step, [time.time()] * step)})
        series = store.read_series(run.id, "x", max_points=SERIES_READ)
        assert len(series.values) <= SERIES_READ
        out["series"] = _ms(median_ms(lambda: store.read_series(run.id, "x", max_points=SERIES_READ), REPS))
    return out


def mlflow_reads(
    server: MlflowTeam, dsn: str, runs: int, points: int, big: Path, tmp: Path, s3: SeaweedFS
) -> dict[str, str]:
    """The same measures through MLflow's server, its store filled with ``COPY`` (see the module
    docstring); keyed as ``reads`` and ``artifact`` key theirs."""
    import httpx
    import psycopg
    from bench_server import _mlflow_quiet, tree_memory
    from mlflow import MlflowClient

    _mlflow_quiet()
    client = MlflowClient(tracking_uri=server.url)
    experiment = client.create_experiment("queries")
    other = client.create_experiment("series and artifacts")
    series_run = client.create_run(other, run_name="series").info.run_id
    t0 = time.perf_counter()
    run_rows, params_rows, latest_rows = mlflow_rows(
        runs, experiment, client.get_experiment(experiment).artifact_location
    )
    now_ms = int(time.time() * 1000)
    metric_columns = "(key, value, timestamp, step, is_nan, run_uuid)"
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.cursor()
        with cursor.copy(f"COPY runs ({MLFLOW_RUN_COLUMNS}) FROM STDIN") as copy:
            for row in run_rows:
                copy.write_row(row)
        with cursor.copy("COPY params (key, value, run_uuid) FROM STDIN") as copy:
            for row in params_rows:
                copy.write_row(row)
        # MLflow keeps a run's name as a tag too, and searches that (``attributes.run_name``).
        with cursor.copy("COPY tags (key, value, run_uuid) FROM STDIN") as copy:
            for row in run_rows:
                copy.write_row(("mlflow.runName", row[1], row[0]))
        for table in ("latest_metrics", "metrics"):
            with cursor.copy(f"COPY {table} {metric_columns} FROM STDIN") as copy:
                for row in latest_rows:
                    copy.write_row((*row[:4], bool(row[4]), row[5]))
        with cursor.copy(f"COPY metrics {metric_columns} FROM STDIN") as copy:
            for i in range(points):
                copy.write_row(("x", float(i % 977), now_ms + i, i, False, series_run))
        last = float((points - 1) % 977)
        conn.execute(
            f"INSERT INTO latest_metrics {metric_columns} VALUES ('x', %s, %s, %s, false, %s)",
            (last, now_ms + points - 1, points - 1, series_run),
        )
        conn.execute("ANALYZE")
    print(
        f"  MLflow: {runs:,} runs and a {points:,}-point series written in {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
    )

    out: dict[str, str] = {}
    out["first"] = _ms(median_ms(lambda: client.search_runs([experiment], max_results=PAGE), REPS))
    assert len(client.search_runs([experiment], filter_string=ML_FILTER, order_by=ML_ORDER, max_results=PAGE)) == PAGE
    out["filtered"] = _ms(
        median_ms(
            lambda: client.search_runs([experiment], filter_string=ML_FILTER, order_by=ML_ORDER, max_results=PAGE), REPS
        )
    )
    word = f"attributes.run_name ILIKE '%{WORD}%'"
    found = len(client.search_runs([experiment], filter_string=word, max_results=PAGE))
    assert found, "MLflow found no run by its name"
    out["word"] = (
        f"{_ms(median_ms(lambda: client.search_runs([experiment], filter_string=word, max_results=PAGE), REPS))} ({found} found; `{word}`)"
    )
    got: list[int] = []
    history = median_ms(lambda: got.append(len(client.get_metric_history(series_run, "x"))), REPS)
    assert got[0] == points, got
    sampled: list[int] = []

    def sample() -> None:
        answer = httpx.get(
            f"{server.url}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
            params={"run_ids": series_run, "metric_key": "x", "max_results": SERIES_READ},
            timeout=600,
        )
        answer.raise_for_status()
        sampled.append(len(answer.json()["metrics"]))

    picked = median_ms(sample, REPS)
    out["series"] = (
        f"all {points:,} points (`get_metric_history`, no downsampled read in its client): {_ms(history)}; "
        f"{sampled[0]:,} logged steps picked by its UI's `get-history-bulk-interval`: {_ms(picked)}"
    )

    assert server.proc is not None
    mb = big.stat().st_size >> 20
    run_id = client.create_run(other, run_name="artifact").info.run_id
    before = tree_memory(server.proc.pid)["handler_hwm_mb"]
    cpu, t0 = service_cpu(s3), time.perf_counter()
    client.log_artifact(run_id, str(big))
    out["up_proxied"] = _rate(mb, time.perf_counter() - t0, service_cpu(s3) - cpu) + " (`log_artifact`)"
    dest = tmp / "mlflow-download"
    cpu, t0 = service_cpu(s3), time.perf_counter()
    client.download_artifacts(run_id, big.name, str(dest))
    out["down_proxied"] = (
        _rate(mb, time.perf_counter() - t0, service_cpu(s3) - cpu) + " (`download_artifacts`, to a file)"
    )
    after = tree_memory(server.proc.pid)["handler_hwm_mb"]
    assert (dest / big.name).stat().st_size == big.stat().st_size
    shutil.rmtree(dest)
    out["rss_proxied"] = f"{before:.0f} → {after:.0f} MiB (largest worker)"
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
    parser.add_argument("--no-ingest", action="store_true", help="skip the ingest table (the reads and artifacts only)")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    total = TOTAL_POINTS // scale
    tmp = Path(tempfile.mkdtemp(prefix="bench-team-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    cluster = Cluster().start()
    s3 = SeaweedFS(tmp / "seaweedfs").start()
    rows: list[tuple[str, str, float, str]] = []
    try:
        # One replica straight, then behind nginx (what the balancer costs), then two behind it.
        for replicas, balanced in () if args.no_ingest else ((1, False), (1, True), (2, True)):
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
        runs, points = RUNS // scale, SERIES_POINTS // scale
        big = make_file(tmp, ARTIFACT_MB // scale)
        limit = ("--max-file-size", str(MAX_FILE))
        rh: dict[str, str] = {}
        # Each replica its own database and prefix: a blob already in the bucket is not sent again.
        for how, extra in (("direct", ()), ("proxied", ("--no-direct",))):
            database, blobs = cluster.new_database(), f"s3://{BUCKET}/{s3.new_prefix()}"
            replica = TeamReplica(tmp / f"replica-{how}", cluster.dsn(database), blobs, s3.environ(), *limit, *extra)
            replica.start()
            try:
                if how == "direct":
                    fill_runs(cluster, database, runs, tmp)
                    rh.update(reads(replica.url, runs, points))
                rh.update(artifact(replica.url, replica, big, how, s3))
            finally:
                replica.stop()
        ceiling = s3_ceiling(s3, big)
        ml: dict[str, str] = {}
        if not args.no_mlflow and mlflow_installed():
            if not args.no_ingest:
                database = cluster.new_database()
                server = MlflowTeam(tmp / "mlflow", cluster.dsn(database), s3)
                try:
                    print("  MLflow: 8 writers, 1 server …", file=sys.stderr, flush=True)
                    server.start()
                    r = ingest([server.url], "ml", 8, total // 10, tmp)
                    rows.append(("MLflow server", "8 writers, 1 server", r["points_per_s"], ""))
                finally:
                    server.stop()
            database = cluster.new_database()
            server = MlflowTeam(tmp / "mlflow-reads", cluster.dsn(database), s3)
            try:
                print("  MLflow: queries, a series, an artifact …", file=sys.stderr, flush=True)
                server.start()
                ml = mlflow_reads(server, cluster.dsn(database), runs, points, big, tmp, s3)
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
    mb = ARTIFACT_MB // scale
    measures = [
        ("first", f"first page of {PAGE} of {runs:,} runs, newest first"),
        (
            "filtered",
            f"`params.optimizer = adam and metrics.val/accuracy > 0.9`, sort `metrics.val/accuracy desc`, first {PAGE} (MLflow: `{ML_FILTER}`, `{ML_ORDER[0]}`)",
        ),
        ("word", f"a word, `{WORD}`, first {PAGE}"),
        ("series", f"a {points:,}-point series read at {SERIES_READ:,} points"),
        ("up_direct", f"a {mb:,} MiB artifact up, straight to the bucket"),
        ("up_proxied", "the same, through the server"),
        ("down_direct", "the same artifact down, straight from the bucket"),
        ("down_proxied", "the same, through the server"),
        ("rss_direct", "the server's peak RSS before and after both, straight"),
        ("rss_proxied", "the same, through the server"),
    ]
    print("| measure | runhistory (`HttpStore`, one replica) | MLflow server (`MlflowClient`) |")
    print("|---|---|---|")
    for key, what in measures:
        print(f"| {what} | {rh.get(key, '—')} | {ml.get(key, '—')} |")
    print(
        f"| boto3 straight to the bucket, {mb:,} MiB up / down (the service's ceiling) | {ceiling['up']} / {ceiling['down']} | |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
