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

The table: points per second for 8 and 32 writers through one replica, one
behind nginx, and two behind nginx (target ≥ 300,000, and more with two than
with one), and MLflow's server with 8 writers. The query, series and artifact measures of the team backend are not
here yet.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
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
    ServerError,
    _child_env,
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


class TeamReplica(RunhistoryServer):
    """``runhistory serve --db DSN --blobs s3://…`` with the S3 service's variables."""

    def __init__(self, folder: Path, dsn: str, blobs: str, env: dict[str, str]) -> None:
        super().__init__(folder)
        self.dsn, self.blobs, self.env = dsn, blobs, env

    def start(self) -> TeamReplica:
        cmd = [sys.executable, "-m", "runhistory.app.cli", "serve", "--db", self.dsn, "--blobs", self.blobs]
        cmd += ["--port", "0"]
        t0 = time.monotonic()
        log = open(self.log, "w")
        self.proc = subprocess.Popen(
            cmd, env=_child_env(**self.env), cwd=self.folder, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "http://" not in self.log.read_text():
            if self.proc.poll() is not None:
                raise ServerError(f"runhistory serve exited: {self.log_tail()}")
            time.sleep(0.05)
        port = self.log.read_text().split("http://127.0.0.1:", 1)[1].split()[0]
        self.url = f"http://127.0.0.1:{port}"
        self._wait_health(t0)
        return self


class MlflowTeam(MlflowServer):
    """``mlflow server`` on PostgreSQL, its artifacts in the S3 service (proxied through it)."""

    def __init__(self, folder: Path, dsn: str, s3: SeaweedFS) -> None:
        super().__init__(folder)
        self.db_uri = dsn.replace("postgresql://", "postgresql+psycopg://")
        self.s3 = s3

    def start(self) -> MlflowTeam:
        import bench_server

        # MLflow finds the S3 service and its credentials in the environment of its server.
        saved = bench_server._child_env
        env = {**self.s3.environ(), "MLFLOW_S3_ENDPOINT_URL": self.s3.endpoint}
        bench_server._child_env = lambda **extra: saved(**env, **extra)  # type: ignore[assignment]
        try:
            super().start()
        finally:
            bench_server._child_env = saved  # type: ignore[assignment]
        return self


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
    total = TOTAL_POINTS // (10 if args.quick else 1)
    tmp = Path(tempfile.mkdtemp(prefix="bench-team-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    cluster = Cluster().start()
    s3 = SeaweedFS(tmp / "seaweedfs").start()
    rows: list[tuple[str, str, float, str]] = []
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
