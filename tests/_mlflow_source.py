"""An MLflow store written by MLflow itself, for the import tests: ``python -m tests._mlflow_source URI OUT [--runs N]``.

Logs experiments, runs (finished, failed, killed, still running, nested, deleted), params,
tags, metrics with given steps and millisecond timestamps (NaN and infinities among the
values, points sharing a timestamp), artifacts, a model version registered from a run's
files and, MLflow 3's way, a logged model registered from its run. Then reads everything
back with MLflow's client and writes it to OUT as JSON: what the import must reproduce.
``--runs N`` logs N more runs of many small files instead (for the test that kills an import).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

T0 = 1_760_000_000_000  # ms


def _files(folder: Path, prefix: str = "") -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            rel = path.relative_to(folder).as_posix()
            out[f"{prefix}/{rel}" if prefix else rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def write(uri: str, extra_runs: int) -> None:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    work = Path(tempfile.mkdtemp())
    if extra_runs:
        experiment = client.create_experiment("many")
        for n in range(extra_runs):
            run = client.create_run(experiment, run_name=f"run-{n}", start_time=T0 + n)
            points = [Metric("loss", 1.0 / (i + 1), T0 + i, i) for i in range(2000)]
            for start in range(0, len(points), 1000):
                client.log_batch(run.info.run_id, metrics=points[start : start + 1000])
            files = work / f"files-{n}"
            files.mkdir()
            for i in range(40):
                (files / f"f{i:02}.txt").write_bytes(os.urandom(2000))
            client.log_artifacts(run.info.run_id, str(files), "files")
            client.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 10_000 + n)
        return

    vision = client.create_experiment("vision", tags={"area": "cv"})
    nlp = client.create_experiment("nlp")
    # A finished run with everything.
    run = client.create_run(
        vision,
        run_name="resnet \x1b]0;owned\x07",
        start_time=T0,
        tags={
            "team": "vision",
            "baseline": "",
            "long note tag": "a value with spaces",
            "mlflow.note.content": "first try\nsecond line",
            "mlflow.source.name": "train.py",
            "mlflow.source.type": "LOCAL",
            "mlflow.source.git.commit": "0123abc",
            "mlflow.user": "ada",
            "mlflow.log-model.history": "[]",
        },
    )
    rid = run.info.run_id
    client.log_batch(
        rid,
        params=[
            mlflow.entities.Param(k, v)
            for k, v in {
                "lr": "0.001",
                "epochs": "10",
                "layers": "[64, 64]",
                "optimizer": "adam",
                "nesterov": "True",
                "tiny": "1e-3",
                "huge": "123456789012345678901234",
                "padded": "007",
                "none": "None",
            }.items()
        ],
    )
    loss = [Metric("loss", 1.0 / (i + 1) + 1e-12 * i, T0 + 10 * i, 2 * i) for i in range(600)]
    loss[5] = Metric("loss", math.nan, T0 + 50, 10)
    loss[6] = Metric("loss", math.inf, T0 + 60, 12)
    loss.append(Metric("loss", 0.5, T0 + 10 * 599, 1199))  # the same time as the point before
    loss.append(Metric("loss", -0.25, T0 + 10 * 599, 5))  # an earlier step, later
    for start in range(0, len(loss), 1000):
        client.log_batch(rid, metrics=loss[start : start + 1000])
    client.log_batch(rid, metrics=[Metric("val/acc", 0.5 + i / 100, T0 + 1000 * i, i) for i in range(7)])
    (work / "model").mkdir()
    (work / "model" / "weights.bin").write_bytes(os.urandom(300_000))
    (work / "model" / "MLmodel").write_text("flavor: none\n")
    client.log_artifacts(rid, str(work / "model"), "model")
    (work / "readme.txt").write_text("hello\n")
    client.log_artifact(rid, str(work / "readme.txt"), "notes/deep/er")
    client.set_terminated(rid, "FINISHED", end_time=T0 + 100_000)
    client.create_registered_model("My Model")
    client.create_model_version("My Model", source=f"{run.info.artifact_uri}/model", run_id=rid)
    client.create_model_version("My Model", source=f"{run.info.artifact_uri}/model", run_id=rid)

    # A failed child of it.
    child = client.create_run(vision, run_name="child", start_time=T0 + 5, tags={"mlflow.parentRunId": rid})
    client.log_metric(child.info.run_id, "loss", 3.0, timestamp=T0 + 6, step=0)
    client.set_terminated(child.info.run_id, "FAILED", end_time=T0 + 7)

    # A killed run with a model logged MLflow 3's way, and registered.
    mlflow.set_experiment(experiment_id=nlp)

    class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined, misc]
        def predict(self, context: Any, model_input: Any) -> Any:
            return model_input

    with mlflow.start_run(run_name="bert") as killed:
        mlflow.log_metric("f1", 0.75, step=3)
        mlflow.pyfunc.log_model(name="pm", python_model=Echo(), registered_model_name="py-model", pip_requirements=[])
    client.set_terminated(killed.info.run_id, "KILLED", end_time=T0 + 200_000)

    # One still running, and one deleted.
    live = client.create_run(nlp, run_name="live", start_time=T0 + 9)
    client.log_metric(live.info.run_id, "step_time", 0.125, timestamp=T0 + 10, step=1)
    gone = client.create_run(nlp, run_name="gone")
    client.delete_run(gone.info.run_id)


def read_back(uri: str) -> dict[str, Any]:
    import mlflow
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    runs = []
    for experiment in client.search_experiments(view_type=ViewType.ACTIVE_ONLY):
        for run in client.search_runs([experiment.experiment_id], max_results=1000):
            info = run.info
            with tempfile.TemporaryDirectory() as folder:
                local = client.download_artifacts(info.run_id, "", folder)
                files = _files(Path(local))
            for model in client.search_logged_models([experiment.experiment_id]):
                if model.source_run_id == info.run_id:
                    with tempfile.TemporaryDirectory() as folder:
                        local = mlflow.artifacts.download_artifacts(
                            artifact_uri=model.artifact_location, dst_path=folder
                        )
                        files.update(_files(Path(local), f"models/{model.model_id}"))
            runs.append(
                {
                    "run_id": info.run_id,
                    "experiment": experiment.name,
                    "name": info.run_name,
                    "status": info.status,
                    "start_time": info.start_time,
                    "end_time": info.end_time,
                    "params": dict(run.data.params),
                    "tags": dict(run.data.tags),
                    "files": files,
                    "metrics": {
                        key: [[m.step, m.value, m.timestamp] for m in client.get_metric_history(info.run_id, key)]
                        for key in run.data.metrics
                    },
                }
            )
    versions = []
    for model in client.search_registered_models():
        for version in client.search_model_versions(f"name = '{model.name}'"):
            with tempfile.TemporaryDirectory() as folder:
                location = client.get_model_version_download_uri(model.name, version.version)
                local = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=folder)
                files = _files(Path(local))
            versions.append(
                {"name": model.name, "version": int(version.version), "run_id": version.run_id, "files": files}
            )
    return {"runs": runs, "versions": versions}


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    uri, out = sys.argv[1], sys.argv[2]
    extra = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--runs" else 0
    write(uri, extra)
    Path(out).write_text(json.dumps(read_back(uri)))
