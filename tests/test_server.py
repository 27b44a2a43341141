"""The history service: a real ``runhistory serve``, remote loggers, outages and hostile requests."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from runhistory.api import EmbeddedStore, NewRun, SeriesBatch
from runhistory.api._http import HttpStore

from ._cli import cli
from ._processes import clean_env, partial_files, run, start
from ._server import Server, unused_port
from .conftest import TOKEN


@pytest.mark.slow
def test_remote_logger_behaves_like_the_embedded_one(server: Server, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = run(
        work,
        tmp_path / "client",
        """
        import math
        from pathlib import Path
        from runhistory.logger import get_logger
        logger = get_logger(experiment="remote")
        Path("outputs").mkdir()
        Path("outputs/weights.bin").write_bytes(bytes(5000))
        for i in range(30_000):
            logger.log("loss", 1 / (i + 1))
        for v in (math.nan, math.inf, -math.inf, 2.5):
            logger.log("odd", v)
        logger.log("note", "NaN")  # a string, not a number
        logger.log("chart", [1, math.nan, -math.inf])
        logger.upload("config.json", '{"lr": 0.1}')
        logger.log("last", 1).wait()
        print(logger.run_id)
        """,
        RUNHISTORY_URL=server.url,
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    store = EmbeddedStore(server.home)  # what the server keeps
    r = store.get_run(run_id)
    assert (r.experiment, r.status) == ("remote", "completed")
    assert store.read_series(run_id, "loss").values == [1 / (i + 1) for i in range(30_000)]
    odd = store.read_series(run_id, "odd").values
    assert math.isnan(odd[0]) and odd[1:] == [math.inf, -math.inf, 2.5]  # type: ignore[operator]
    assert store.read_series(run_id, "note").values == ["NaN"]
    chart = store.read_series(run_id, "chart").values[0]
    assert chart[0] == 1 and math.isnan(chart[1]) and chart[2] == -math.inf  # type: ignore[index]
    assert [a.path for a in store.list_artifacts(run_id)] == ["config.json", "outputs/weights.bin"]
    # and the HTTP store reads the same back, downsampled on the server
    with HttpStore(server.url) as remote:
        check_remote_reads(remote, run_id)


def check_remote_reads(remote: HttpStore, run_id: str) -> None:
    assert remote.get_run(run_id[:6]).id == run_id
    small = remote.read_series(run_id, "loss", max_points=100)
    assert small.downsampled and len(small) <= 100 and small.count == 30_000
    assert math.isnan(remote.read_series(run_id, "odd").values[0])  # type: ignore[arg-type]
    with remote.open_artifact(run_id, "outputs/weights.bin") as f:
        assert f.read() == b"\x00" * 5000


@pytest.mark.slow
def test_remote_failure_and_sigterm(server: Server, tmp_path: Path) -> None:
    failed = run(
        tmp_path,
        tmp_path / "client",
        "from runhistory.logger import get_logger\nlg = get_logger(experiment='sigterm')\nfor i in range(500): lg.log('x', i)\n"
        "raise ValueError('bad batch')\n",
        RUNHISTORY_URL=server.url,
    )
    assert failed.returncode == 1
    process = start(
        tmp_path,
        tmp_path / "client",
        "import time\nfrom runhistory.logger import get_logger\nlg = get_logger(experiment='sigterm')\nfor i in range(5000): lg.log('x', i)\n"
        "lg.log('x', -1).wait()\nprint('ready', flush=True)\n"
        "while True:\n    time.sleep(0.05)\n",  # short naps: SIGTERM's handler runs at once (see test_faults)
        RUNHISTORY_URL=server.url,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    store = EmbeddedStore(server.home)
    runs = {r.status: r for r in store.list_runs(experiment="sigterm").runs}
    assert "ValueError: bad batch" in (runs["failed"].error or "")
    assert store.read_series(runs["failed"].id, "x").values == list(range(500))
    assert store.read_series(runs["killed"].id, "x").values == [*range(5000), -1]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_server_killed_mid_run_and_restarted_keeps_every_point_once(
    fresh_server: Server, tmp_path: Path, how: str
) -> None:
    server = fresh_server
    process = start(
        tmp_path,
        tmp_path / "client",
        """
        import time
        from runhistory.logger import get_logger
        lg = get_logger()
        for i in range(60_000):
            lg.log("x", i)
            if i % 1000 == 999:
                time.sleep(0.05)
                if i == 9_999:
                    lg.flush()
                    print("flushed", flush=True)
        print(lg.run_id, flush=True)
        """,
        RUNHISTORY_URL=server.url,
        RUNHISTORY_SPOOL_AFTER="60",
        RUNHISTORY_EXIT_TIMEOUT="60",
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "flushed"
    if how == "SIGKILL":
        server.kill()  # mid-run, batches in flight
    else:
        server.stop()  # graceful: in-flight requests finish first
    time.sleep(1.5)
    restarted = Server(server.home, port=server.port).start()
    try:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        run_id = out.strip()
        store = EmbeddedStore(server.home)
        assert store.read_series(run_id, "x").values == list(range(60_000))  # every point, exactly once
        assert store.get_run(run_id).status == "completed"
    finally:
        restarted.stop()


@pytest.mark.slow
def test_server_down_for_the_whole_run_spools_then_sync_delivers_once(tmp_path: Path) -> None:
    port = unused_port()  # down from the start: nothing listens there until the server starts below
    url = f"http://127.0.0.1:{port}"
    client = tmp_path / "client"
    done = run(
        tmp_path,
        client,
        """
        from pathlib import Path
        from runhistory.logger import get_logger
        lg = get_logger(experiment="offline")
        Path("outputs").mkdir()
        Path("outputs/model.bin").write_bytes(b"m" * 10_000)
        for i in range(25_000):
            lg.log("x", i)
        lg.log("s", "text")
        lg.upload("notes.txt", "hello")
        from PIL import Image
        lg.log_image("samples", Image.new("RGB", (4, 3), (200, 10, 10)), caption="red")
        print(lg.run_id)
        """,
        RUNHISTORY_URL=url,
        RUNHISTORY_EXIT_TIMEOUT="1",
    )
    assert done.returncode == 0, done.stderr
    assert "runhistory sync" in done.stderr
    run_id = done.stdout.strip()
    spools = list((client / "spool").iterdir())
    assert len(spools) == 1
    again = Server(tmp_path / "server", port=port).start()
    try:
        sync = cli(client, "sync", "--json", RUNHISTORY_URL=url)
        assert sync.returncode == 0, sync.stderr
        assert json.loads(sync.stdout)["delivered"] == 1
        assert not list((client / "spool").iterdir())
        store = EmbeddedStore(tmp_path / "server")
        r = store.get_run(run_id)
        assert (r.experiment, r.status) == ("offline", "completed")
        assert store.read_series(run_id, "x").values == list(range(25_000))
        assert store.read_series(run_id, "s").values == ["text"]
        assert [a.path for a in store.list_artifacts(run_id)] == [
            "media/samples/00000000.png",
            "notes.txt",
            "outputs/model.bin",
        ]
        with store.open_artifact(run_id, "media/samples/00000000.png") as stream:
            image = Image.open(io.BytesIO(stream.read()))  # encoded while the server was away, kept in the spool
            assert (image.size, image.getpixel((0, 0)), image.info["Description"]) == ((4, 3), (200, 10, 10), "red")
        # a second sync finds nothing and duplicates nothing
        again_sync = cli(client, "sync", RUNHISTORY_URL=url)
        assert again_sync.returncode == 0 and b"nothing to sync" in again_sync.stdout
        assert store.read_series(run_id, "x").count == 25_000
    finally:
        again.stop()


def test_a_replayed_spool_stores_each_batch_once(server: Server, tmp_path: Path) -> None:
    """Delivery stopped halfway (done pointer lost) and started again: keys keep it exact."""
    from runhistory.api import NewRun, SeriesBatch
    from runhistory.logger._ops import AppendMetrics, CreateRun
    from runhistory.logger._spool import Spool, deliver

    spool = Spool.create(tmp_path / "spool", "ab" * 16, server.url)
    spool.append(CreateRun(NewRun(run_id="ab" * 16, experiment="replay")))
    for n in range(3):
        spool.append(
            AppendMetrics(f"k{n}", {"x": SeriesBatch("number", [float(n), math.nan], [None, None], [time.time()] * 2)})
        )
    spool.close()
    with HttpStore(server.url) as remote:
        assert deliver(remote, spool.folder) == 0
        (spool.folder / "done").unlink()  # as if the record of progress were lost
        assert deliver(remote, spool.folder) == 0
        values = remote.read_series("ab" * 16, "x").values
        assert values[::2] == [0.0, 1.0, 2.0] and all(math.isnan(v) for v in values[1::2])  # type: ignore[arg-type]


def test_a_spool_written_by_the_previous_format_is_delivered(server: Server, tmp_path: Path) -> None:
    """Format 1 (no version in meta.json, metric batches in the wire format), as an earlier runhistory left it."""
    from runhistory.logger._spool import deliver

    folder = tmp_path / "spool" / ("cd" * 16)
    (folder / "files").mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"run_id": "cd" * 16, "url": server.url, "pid": 1}))
    (folder / "files" / "0").write_bytes(b"weights")
    lines = [
        {
            "op": "create_run",
            "spec": {
                "run_id": "cd" * 16,
                "experiment": "old",
                "name": None,
                "command": [],
                "cwd": "",
                "host": "",
                "user": "",
                "python": "",
                "pid": 1,
            },
        },
        {
            "op": "metrics",
            "key": "old-1",
            "series": {
                "x": {
                    "kind": "number",
                    "values": [1, "NaN", "Infinity"],
                    "steps": [None, None, None],
                    "times": [1.0, 2.0, 3.0],
                }
            },
        },
        {"op": "artifact", "path": "model.bin", "file": "files/0", "max_size": None},
        {"op": "finish", "status": "completed", "error": None, "exit_code": None},
    ]
    (folder / "ops.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with HttpStore(server.url) as remote:
        assert deliver(remote, folder) == 0
        values = remote.read_series("cd" * 16, "x").values
        assert values[0] == 1 and math.isnan(values[1]) and values[2] == math.inf  # type: ignore[arg-type]
        assert remote.get_run("cd" * 16).status == "completed"
        assert [a.path for a in remote.list_artifacts("cd" * 16)] == ["model.bin"]


@pytest.mark.slow
def test_eight_remote_writers_at_once(server: Server, tmp_path: Path) -> None:
    code = """
        from runhistory.logger import get_logger
        lg = get_logger(experiment="eight")
        for i in range(20_000):
            lg.log("x", i)
        print(lg.run_id)
    """
    processes = []
    for n in range(8):
        folder = tmp_path / f"w{n}"
        folder.mkdir()
        processes.append(start(folder, tmp_path / f"client{n}", code, RUNHISTORY_URL=server.url))
    for p in processes:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    store = EmbeddedStore(server.home)
    runs = store.list_runs(experiment="eight").runs
    assert len(runs) == 8
    for r in runs:
        assert r.status == "completed"
        assert store.read_series(r.id, "x").values == list(range(20_000))


def test_tokens(token_server: Server, tmp_path: Path) -> None:
    srv = token_server
    assert httpx.get(srv.url + "/health").status_code == 200
    assert httpx.get(srv.url + "/api/v1/runs").status_code == 401
    assert httpx.get(srv.url + "/openapi.json").status_code == 401
    wrong = httpx.get(srv.url + "/api/v1/runs", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "Unauthorized"
    right = httpx.get(srv.url + "/api/v1/runs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200
    denied = cli(tmp_path / "client", "list", RUNHISTORY_URL=srv.url)
    assert denied.returncode == 1 and b"RUNHISTORY_TOKEN" in denied.stderr and b"Traceback" not in denied.stderr
    allowed = cli(tmp_path / "client", "list", RUNHISTORY_URL=srv.url, RUNHISTORY_TOKEN=TOKEN)
    assert allowed.returncode == 0, allowed.stderr


def test_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runhistory.app.cli",
            "serve",
            "--home",
            str(tmp_path),
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "refusing to serve on 0.0.0.0 without a token" in done.stderr and "--insecure" in done.stderr


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("..%2F..%2Fescape.txt", "'../../escape.txt'"),
        ("%2E%2E/%2E%2E/escape.txt", "'../../escape.txt'"),
        ("a/../../escape.txt", "'a/../../escape.txt'"),
        ("%2Fetc%2Fescape.txt", "'/etc/escape.txt'"),
        ("a%00b", "'a\\x00b'"),
        ("a%5C..%5Cescape.txt", "'a\\\\..\\\\escape.txt'"),
        ("%0d%0aescape", "Not Found"),
    ],  # a line break matches no route at all
)
def test_traversal_attempts_get_4xx_and_touch_nothing(server: Server, path: str, named: str) -> None:
    """Each path is sent as it is: httpx would rewrite ``a/../../escape.txt`` to ``/escape.txt``,
    which never reaches the artifact routes, so the server's own check would go untested."""
    with HttpStore(server.url) as remote:
        run_id = remote.create_run(NewRun()).id
    target = f"/api/v1/runs/{run_id}/artifacts/{path}"
    with httpx.Client(base_url=server.url) as client:
        put = client.put(target, content=b"owned", extensions={"target": target.encode()})
        get = client.get(target, extensions={"target": target.encode()})
    for response in (put, get):
        assert 400 <= response.status_code < 500, response.text
        assert named in response.json()["message"], response.text  # the server saw the path as sent
    assert not (server.home.parent / "escape.txt").exists()
    assert not (server.home / "escape.txt").exists()
    assert not list(server.home.parent.rglob("escape.txt"))
    assert EmbeddedStore(server.home).list_artifacts(run_id) == []
    assert partial_files(server.home) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"series": 3}',
        b'{"series": {}}',
        b'{"series": {"x": {"kind": "number"}}}',
        b'{"series": {"x": {"kind": "number", "values": [NaN], "steps": [null], "times": [1]}}}',
        b'{"series": {"x": {"kind": "number", "values": ["abc"], "steps": [null], "times": [1]}}}',
        b'{"series": {"x": {"kind": "number", "values": [1], "steps": ["a"], "times": [1]}}}',
        b'{"series": {"x": {"kind": "number", "values": [1], "steps": [null], "times": [true]}}}',
        b'{"series": {"x": {"kind": "number", "values": [1, 2], "steps": [null], "times": [1]}}}',
        b'{"series": {"": {"kind": "number", "values": [1], "steps": [null], "times": [1]}}}',
        b'{"key": 5, "series": {"x": {"kind": "number", "values": [1], "steps": [null], "times": [1]}}}',
        b'{"series": {"x": {"kind": "chart", "values": [[[1]]], "steps": [null], "times": [1]}}}',
    ],
)
def test_malformed_bodies_get_422_with_a_message(server: Server, body: bytes) -> None:
    with HttpStore(server.url) as remote:
        run_id = remote.create_run(NewRun()).id
    response = httpx.post(f"{server.url}/api/v1/runs/{run_id}/metrics", content=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "InvalidInput" and response.json()["message"]


@pytest.mark.slow
def test_uploads_past_the_limit_get_413(tmp_path: Path) -> None:
    srv = Server(tmp_path / "server", "--max-file-size", "1000").start()
    try:
        with HttpStore(srv.url) as remote:
            run_id = remote.create_run(NewRun()).id
            put_past_the_limit(srv.url, run_id)
            assert [a.path for a in remote.list_artifacts(run_id)] == ["a.bin"]
        assert partial_files(srv.home) == []
    finally:
        srv.stop()


def put_past_the_limit(url: str, run_id: str) -> None:
    assert httpx.put(f"{url}/api/v1/runs/{run_id}/artifacts/a.bin", content=b"x" * 1000).status_code == 201
    too_big = httpx.put(f"{url}/api/v1/runs/{run_id}/artifacts/b.bin", content=b"x" * 1001)
    assert too_big.status_code == 413 and "limit is 1000 bytes" in too_big.json()["message"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        for _ in range(20):
            yield b"x" * 100

    streamed = httpx.put(f"{url}/api/v1/runs/{run_id}/artifacts/c.bin", content=chunked())
    assert streamed.status_code == 413


@pytest.mark.slow
def test_cli_against_the_server(server: Server, tmp_path: Path) -> None:
    done = run(
        tmp_path,
        tmp_path / "client",
        "from runhistory.logger import get_logger\nlg = get_logger(experiment='cli-remote')\n"
        "lg.log('x', 1.0)\nlg.upload('outputs/m.txt', 'm')\n",
        RUNHISTORY_URL=server.url,
    )
    assert done.returncode == 0, done.stderr

    def remote(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
        return cli(tmp_path / "client", *args, cwd=cwd, RUNHISTORY_URL=server.url)

    last = json.loads(remote("last", "-e", "cli-remote", "--json").stdout)
    assert last["status"] == "completed"
    info = json.loads(remote("info", "-r", last["id"][:6], "--json").stdout)
    assert info["metrics"]["x"]["last"] == 1.0
    promoted = json.loads(remote("promote", "-r", last["id"][:6], "-ap", "outputs", "-n", "m", "--json").stdout)
    assert promoted["version"] == 1
    got = remote("asset", "download", "m:1", "-o", str(tmp_path / "dl"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "dl/outputs/m.txt").read_text() == "m"
    assert remote("info", "-r", last["id"], "-a", "outputs/m.txt").stdout == b"m"
    assert remote("info", "-r", "ffff").returncode == 1
    assert [r["id"] for r in json.loads(remote("list", "-e", "cli-remote", "--json").stdout)] == [last["id"]]
    assert json.loads(remote("assets", "--json").stdout)[0]["name"] == "m"
    points = json.loads(remote("info", "-r", last["id"], "-m", "x", "--json").stdout)["points"]
    assert [p["value"] for p in points] == [1.0]
    saved = remote("download", "-r", last["id"][:8], "-ap", "outputs", "-o", str(tmp_path / "runfiles"))
    assert saved.returncode == 0 and (tmp_path / "runfiles/outputs/m.txt").read_text() == "m"
    wrapped = remote(  # a real subprocess (``run`` always is), its child logging to the server too
        "run",
        "--",
        sys.executable,
        "-c",
        "from runhistory.logger import get_logger; print('hi'); get_logger().log('y', 2.0)",
        cwd=tmp_path,
    )
    assert wrapped.returncode == 0, wrapped.stderr
    newest = json.loads(remote("info", "-r", json.loads(remote("last", "--json").stdout)["id"], "--json").stdout)
    assert newest["metrics"]["y"]["last"] == 2.0
    assert "logs/console.txt" in {a["path"] for a in newest["artifacts"]}


@pytest.mark.slow
def test_schemathesis_finds_answers_that_match_the_openapi_document(token_server: Server, tmp_path: Path) -> None:
    """Fuzzed requests get no 5xx, and every answer's status, type and body is the one documented."""
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert schemathesis, "schemathesis is in the test extra"
    srv = token_server
    with HttpStore(srv.url, token=TOKEN) as remote:
        run_id = remote.create_run(NewRun()).id
        # "m" names the asset and the metric both: one value for the parameter "name"
        remote.append_metrics(run_id, {"m": SeriesBatch("number", [0.5, math.nan], [None, None], [1.0, 2.0])})
        remote.put_artifact(run_id, "a.txt", b"a")
        remote.promote(run_id, "a.txt", "m")
    # Real identifiers, so that requests reach past the 404s into the store.
    (tmp_path / "schemathesis.toml").write_text(
        f'[parameters]\n"path.run_id" = "{run_id}"\n"path.run_ref" = "{run_id[:8]}"\n"path.name" = "m"\n'
        '"query.name" = "m"\n"path.version" = 1\n"path.path" = "a.txt"\n'
    )
    done = subprocess.run(
        [
            schemathesis,
            "run",
            f"{srv.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance,ignored_auth",
            "--max-examples",
            "3",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",
            "--suppress-health-check",
            "all",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**clean_env(tmp_path), "SCHEMATHESIS_HOOKS": ""},
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_the_openapi_document_declares_every_answer_and_the_bearer_scheme(token_server: Server, tmp_path: Path) -> None:
    srv = token_server
    doc = httpx.get(srv.url + "/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert doc["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert doc["security"] == [{"bearer": []}] and doc["paths"]["/health"]["get"]["security"] == []
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            (ok,) = [code for code in answers if code.startswith("2")]
            if ok != "204":
                assert answers[ok]["content"], (method, path)
                (body,) = answers[ok]["content"].values()
                assert body["schema"], (method, path)
            if path.startswith("/api/"):
                assert {"401", "422", "500"} <= set(answers), (method, path)
                for code, answer in answers.items():
                    if code == "307":  # a download sent to the bucket: no body, a Location
                        assert "Location" in answer["headers"], (method, path)
                    elif not code.startswith("2"):
                        assert answer["content"]["application/json"]["schema"] == error, (method, path, code)
    assert set(doc["components"]["schemas"]["Error"]["required"]) == {"error", "message"}


@pytest.mark.slow
def test_remote_os_exit_after_wait_and_forked_children(server: Server, tmp_path: Path) -> None:
    done = run(
        tmp_path,
        tmp_path / "client",
        """
        import multiprocessing as mp, os
        from runhistory.logger import get_logger
        lg = get_logger()

        def worker(n):
            for i in range(1000):
                get_logger().log(f"w{n}", i)

        children = [mp.get_context("fork").Process(target=worker, args=(n,)) for n in range(2)]
        for c in children:
            c.start()
        for c in children:
            c.join()
        for i in range(7_777):
            h = lg.log("x", i)
        h.wait()
        print(lg.run_id, flush=True)
        os._exit(0)
        """,
        RUNHISTORY_URL=server.url,
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    store = EmbeddedStore(server.home, lost_after=0.0)
    assert store.read_series(run_id, "x").values == list(range(7_777))
    assert store.read_series(run_id, "w0").values == list(range(1000))
    assert store.read_series(run_id, "w1").values == list(range(1000))
    assert store.get_run(run_id).status == "lost"  # nobody finished it


@pytest.mark.slow
def test_remote_sigkill_keeps_acknowledged_points(server: Server, tmp_path: Path) -> None:
    process = start(
        tmp_path,
        tmp_path / "client",
        """
        import itertools
        from runhistory.logger import get_logger
        lg = get_logger()
        for i in itertools.count():
            h = lg.log("x", i)
            if i % 5000 == 4999:
                h.wait()
                print(i + 1, lg.run_id, flush=True)
        """,
        RUNHISTORY_URL=server.url,
    )
    assert process.stdout is not None
    acknowledged, run_id = 0, ""
    while acknowledged < 30_000:
        count, run_id = process.stdout.readline().split()
        acknowledged = int(count)
    process.kill()
    process.communicate(timeout=30)
    series = EmbeddedStore(server.home).read_series(run_id, "x")
    assert series.count >= acknowledged
    assert series.values == list(range(series.count))


def test_a_metrics_body_past_the_limit_gets_413(server: Server) -> None:
    from runhistory.api._limits import MAX_BATCH_BYTES

    with HttpStore(server.url) as remote:
        run_id = remote.create_run(NewRun()).id
    body = (
        b'{"series": {"x": {"kind": "string", "values": ["'
        + b"a" * MAX_BATCH_BYTES
        + b'"], "steps": [null], "times": [1]}}}'
    )
    response = httpx.post(f"{server.url}/api/v1/runs/{run_id}/metrics", content=body, timeout=60)
    assert response.status_code == 413 and "at most" in response.json()["message"]


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def batch_at_the_byte_limit(name: str, kind: str, value: bytes) -> bytes:
    """A metrics body just under ``MAX_BATCH_BYTES`` of points that cost the most memory per byte:
    short values, each a new object once decoded."""
    from runhistory.api._limits import MAX_BATCH_BYTES

    head = b'{"key": "%s", "series": {"%s": {"kind": "%s", ' % (name.encode(), name.encode(), kind.encode())
    per_point = len(value) + len(b"null, ") + len(b"1.0, ") + 2
    n = (MAX_BATCH_BYTES - len(head) - 100) // per_point
    body = head + b'"values": [%s], "steps": [%s], "times": [%s]}}}' % (
        b", ".join([value] * n),
        b", ".join([b"null"] * n),
        b", ".join([b"1.0"] * n),
    )
    assert MAX_BATCH_BYTES - 200 < len(body) <= MAX_BATCH_BYTES
    return body


@pytest.mark.slow
def test_sixteen_batches_at_the_byte_limit_at_once_keep_the_server_under_200_mib(fresh_server: Server) -> None:
    server = fresh_server
    with HttpStore(server.url) as remote:
        run_id = remote.create_run(NewRun()).id
    bodies = [batch_at_the_byte_limit(f"n{i}", "number", b"0.5") for i in range(8)]
    bodies += [batch_at_the_byte_limit(f"s{i}", "string", b'"ab"') for i in range(8)]
    assert server.process is not None
    assert peak_rss_mib(server.process.pid) < 100  # a server at rest

    def post(body: bytes) -> int:
        url = f"{server.url}/api/v1/runs/{run_id}/metrics"
        return httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=120).status_code

    with ThreadPoolExecutor(len(bodies)) as pool:
        assert list(pool.map(post, bodies)) == [200] * len(bodies)
    peak = peak_rss_mib(server.process.pid)
    assert peak < 200, f"peak RSS {peak:.0f} MiB"
    store = EmbeddedStore(server.home)
    assert {m.name for m in store.list_metrics(run_id)} == {f"{k}{i}" for k in "ns" for i in range(8)}
    assert store.read_series(run_id, "s7", max_points=2).values[-1] == "ab"


class ChangesAfterItIsHashed(io.FileIO):
    """A real file that someone rewrites (same size, other bytes) once it has been read to its end."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self.path = path
        self.rewritten = False

    def seek(self, offset: int, whence: int = 0) -> int:
        if not self.rewritten and self.tell() > 0:  # read through once: hashed
            self.rewritten = True
            self.path.write_bytes(b"B" * self.path.stat().st_size)
        return super().seek(offset, whence)


def test_a_file_announced_with_its_sha256_is_stored_as_it_arrives_or_again_when_it_changed(
    server: Server, tmp_path: Path
) -> None:
    import hashlib

    payload = b"A" * (3 << 20)
    with HttpStore(server.url, direct_min_size=1 << 20) as remote:
        run_id = remote.create_run(NewRun()).id
        (tmp_path / "steady.bin").write_bytes(payload)
        with open(tmp_path / "steady.bin", "rb") as f:
            steady = remote.put_artifact(run_id, "steady.bin", f)
        assert steady.sha256 == hashlib.sha256(payload).hexdigest()
        (tmp_path / "moving.bin").write_bytes(payload)
        with ChangesAfterItIsHashed(tmp_path / "moving.bin") as f:
            moved = remote.put_artifact(run_id, "moving.bin", f)  # type: ignore[arg-type]
        assert f.rewritten and moved.sha256 == hashlib.sha256(b"B" * len(payload)).hexdigest()
        with remote.open_artifact(run_id, "moving.bin") as got:
            assert got.read() == b"B" * len(payload)
    # Said by hand: a wrong hash is refused with what was wrong, a malformed one too.
    url = f"{server.url}/api/v1/runs/{run_id}/artifacts/raw.bin"
    refused = httpx.put(url, content=b"abc", headers={"x-runhistory-sha256": hashlib.sha256(b"abd").hexdigest()})
    assert (refused.status_code, refused.json()["error"]) == (422, "IntegrityError")
    assert "do not match the sha256 sent with them" in refused.json()["message"]
    malformed = httpx.put(url, content=b"abc", headers={"x-runhistory-sha256": "abc"})
    assert malformed.status_code == 422 and "is not a sha256" in malformed.json()["message"]
    ok = httpx.put(url, content=b"abc", headers={"x-runhistory-sha256": hashlib.sha256(b"abc").hexdigest()})
    assert ok.status_code == 201 and ok.json()["size"] == 3
