"""How the CLI shows things to a person: tables, colours, relative times, sizes."""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runhistory.api import (
    ArtifactInfo,
    AssetSummary,
    AssetVersion,
    DeletedRun,
    Environment,
    MetricInfo,
    Run,
    RunhistoryError,
    Series,
)
from runhistory.api._safe_text import safe_line, safe_text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

#: Each status's colour, in the CLI and the app alike: cyan running, green done,
#: red failed, yellow killed, magenta lost.
STATUS_STYLE = {
    "running": "bold #4fc1ff",
    "completed": "#6cc070",
    "failed": "bold #ff6b6b",
    "killed": "#e0b040",
    "lost": "#c678dd",
}


def console(stderr: bool = False) -> Console:
    """A rich console: colours on a terminal, plain text when piped."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def ago(moment: datetime | float | None, now: float | None = None) -> str:
    """'12s ago', '5m ago', '3h ago', '2d ago'."""
    if moment is None:
        return "-"
    seconds = (now or time.time()) - (moment.timestamp() if isinstance(moment, datetime) else moment)
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def duration(run: Run, now: float | None = None) -> str:
    """How long the run ran (or has been running): '42s', '3m 05s', '1h 02m'."""
    end = run.ended_at.timestamp() if run.ended_at else (now or time.time())
    if run.status == "lost" and run.heartbeat_at is not None:
        end = run.heartbeat_at.timestamp()
    seconds = max(0, int(end - run.started_at.timestamp()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def size(n: int) -> str:
    """'512 B', '3.2 KiB', '1.5 MiB', '2.0 GiB'."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value:.1f} PiB"


def clock_text(epoch: float, millis: bool = False, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Epoch seconds as local time (``.250`` appended with ``millis``). A time no date
    holds (NaN, or centuries past the year 9999: a server takes any number for a
    point's time) is shown as its number, never an error."""
    try:
        local = time.localtime(epoch)
        text = time.strftime(fmt, local)
    except (OverflowError, OSError, ValueError):
        return f"{epoch:g}"
    return text + f".{int((epoch % 1) * 1000):03d}" if millis else text


def value_text(value: Any, width: int = 40) -> str:
    """A metric value on one line, safe to show (a string value is cleaned by ``safe_line``)."""
    if isinstance(value, float):
        return repr(value) if not math.isfinite(value) else f"{value:.6g}"
    if isinstance(value, list):
        inner = ", ".join(value_text(v) for v in value[:8])
        return f"[{inner}{', …' if len(value) > 8 else ''}] ({len(value)})"
    text = safe_line(str(value).replace("\n", "⏎"), width + 1)
    return text if len(text) <= width else text[: width - 1] + "…"


def error_text(error: BaseException) -> str:
    """An error in words, safe to show: the message (it may quote a name or a server's
    words, so it is cleaned by ``safe_text``), with the kind when the message alone is unclear."""
    message = safe_text(str(error).strip())[0]
    if isinstance(error, RunhistoryError) and message:
        return message
    kind = type(error).__name__
    return f"{kind}: {message}" if message else kind


def literal(text: str | None, style: str = "") -> Text:
    """A stored string as rich text: shown as it is (never read as markup), on one line,
    cleaned of escape sequences and control characters by ``safe_line``."""
    from rich.text import Text

    return Text(safe_line(text or ""), style=style)


def literal_block(text: str, style: str = "") -> Text:
    """Like ``literal`` for text of several lines (an error's traceback)."""
    from rich.text import Text

    return Text(safe_text(text)[0], style=style)


def status_text(status: str) -> Any:
    return literal(status, STATUS_STYLE.get(status, ""))


def runs_table(runs: list[Run], extra: list[tuple[str, list[Any]]] | None = None) -> Any:
    """The runs as a table, in their order; ``extra`` columns are (title, a value per run)."""
    from rich.table import Table

    extra = extra or []
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("run", "experiment", "name", "status", "started", "duration"):
        table.add_column(column, no_wrap=True)
    for title, _ in extra:
        table.add_column(literal(title), no_wrap=True, justify="right")
    table.add_column("tags", no_wrap=False)
    now = time.time()
    for i, run in enumerate(runs):
        table.add_row(
            literal(run.short_id),
            literal(run.experiment),
            literal(run.name),
            status_text(run.status),
            ago(run.started_at, now),
            duration(run, now),
            *(literal("-" if values[i] is None else value_text(values[i], 24)) for _, values in extra),
            literal(" ".join(run.tags)),
        )
    return table


def run_details(
    run: Run, metrics: list[MetricInfo], artifacts: list[ArtifactInfo], environment: Environment | None = None
) -> list[Any]:
    """One run: metadata, then metrics, then artifacts."""
    from rich.table import Table
    from rich.text import Text

    now = time.time()
    head = Table(box=None, show_header=False, pad_edge=False)
    head.add_column(style="bold", no_wrap=True)
    head.add_column()
    started = run.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    git = "-" if run.git_commit is None else run.git_commit[:12] + (" (dirty)" if run.git_dirty else "")
    rows: list[tuple[str, Any]] = [
        ("run", literal(run.id)),
        ("experiment", literal(run.experiment)),
        ("status", status_text(run.status)),
        ("started", f"{started} ({ago(run.started_at, now)})"),
        ("duration", duration(run, now)),
        ("command", literal(" ".join(run.command) or "-")),
        ("host", literal(f"{run.user}@{run.host}" if run.user else run.host or "-")),
        ("cwd", literal(run.cwd or "-")),
        ("python", literal(run.python or "-")),
        ("git", literal(git)),
    ]
    if run.name:
        rows.insert(2, ("name", literal(run.name)))
    if run.exit_code is not None:
        rows.append(("exit code", str(run.exit_code)))
    if run.tags:
        rows.append(("tags", literal(" ".join(run.tags))))
    if environment is not None and environment.packages:
        rows.append(("packages", f"{len(environment.packages)} recorded"))
    if environment is not None and environment.git_diff:
        lines = environment.git_diff.count("\n")
        rows.append(
            ("git diff", f"{lines} lines" + (" (cut at the size limit)" if environment.git_diff_truncated else ""))
        )
    for label, value in rows:
        head.add_row(label, value)
    parts: list[Any] = [head]
    if run.note:
        parts.append(Text("\nnote:", style="bold"))
        parts.append(literal_block(run.note.rstrip()))
    if run.params:
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("param", no_wrap=True)
        table.add_column("value")
        for key, value in run.params.items():
            table.add_row(literal(key), literal(param_text(value)))
        parts += [Text(""), table]
    if run.error:
        parts.append(Text("\nerror:", style="red"))
        parts.append(literal_block(run.error.rstrip(), style="red"))
    if run.skipped_files:
        parts.append(Text("\nnot uploaded:", style="yellow"))
        parts.extend(literal("  " + line, style="yellow") for line in run.skipped_files)
    if metrics:
        table = Table(box=None, pad_edge=False, header_style="bold", title_justify="left")
        for column in ("metric", "kind", "points", "last step", "last value"):
            table.add_column(
                column, no_wrap=column != "last value", justify="right" if column in ("points", "last step") else "left"
            )
        for m in metrics:
            table.add_row(
                literal(m.name),
                literal(m.kind),
                literal(str(m.count)),
                literal(str(m.last_step)),
                literal(value_text(m.last_value)),
            )
        parts += [Text(""), table]
    if artifacts:
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("artifact")
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("sha256", no_wrap=True)
        for a in artifacts:
            table.add_row(literal(a.path), size(a.size), literal(a.sha256[:12]))
        parts += [Text(""), table]
    return parts


def param_text(value: Any) -> str:
    """A param as people read it: text as it is, null, true/false, numbers and lists compact."""
    import json

    if isinstance(value, str):
        return value
    return json.dumps(value)


def deleted_lines(done: list[DeletedRun]) -> list[Any]:
    """What ``delete`` removed, a line per run."""
    lines = []
    for d in done:
        kept = f"; asset versions kept: {', '.join(d.kept_asset_versions)}" if d.kept_asset_versions else ""
        lines.append(
            literal(
                f"deleted {d.run_id[:8]}: {d.artifacts} files, {d.blobs_freed} contents freed ({size(d.bytes_freed)}){kept}"
            )
        )
    return lines


def series_table(series: Series) -> list[Any]:
    from rich.table import Table
    from rich.text import Text

    title = (
        safe_line(series.name)
        + f" ({series.kind}, {series.count} points"
        + (f", {len(series)} shown)" if series.downsampled else ")")
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("value")
    table.add_column("time", no_wrap=True)
    for step, value, moment in zip(series.steps, series.values, series.times):
        when = clock_text(moment, millis=True)
        table.add_row(literal(str(step)), literal(value_text(value, 120)), when)
    return [Text(title, style="bold"), table]


def assets_table(assets: list[AssetSummary]) -> Any:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("asset", "latest", "versions", "updated"):
        table.add_column(column, no_wrap=True)
    for a in assets:
        table.add_row(literal(a.name), f"v{a.latest_version}", str(a.versions), ago(a.updated_at))
    return table


def asset_versions_table(versions: list[AssetVersion]) -> Any:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("version", "run", "prefix", "files", "size", "created"):
        table.add_column(column, no_wrap=True)
    for v in versions:
        table.add_row(
            literal(f"{v.name}:{v.version}"),
            literal(v.run_id[:8]),
            literal(v.prefix or "(all)"),
            str(len(v.files)),
            size(v.size),
            ago(v.created_at),
        )
    return table


def promoted(asset: AssetVersion) -> list[Any]:
    from rich.table import Table
    from rich.text import Text

    head = Text("promoted ")
    head.append_text(literal(asset.prefix or "(all)"))
    head.append_text(literal(f" of run {asset.run_id[:8]} to "))
    head.append_text(literal(f"{asset.name}:{asset.version}", style="bold green"))
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    for f in asset.files:
        table.add_row(literal(f"  {f.path}"), size(f.size), literal(f.sha256[:12]))
    return [head, table]


def migration_view(doc: dict[str, Any], source: str, target: str) -> list[Any]:
    """What ``runhistory migrate`` did (its ``--json`` summary): rows per table on both sides, then totals."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in (("table", "left"), ("here", "right"), ("in the target", "right"), ("", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name, counts in doc["tables"].items():
        same = counts["source"] == counts["target"]
        table.add_row(
            name, f"{counts['source']:,}", f"{counts['target']:,}", "[green]same[/]" if same else "[red]differs[/]"
        )
    runs, blobs, sizes = doc["runs"], doc["blobs"], doc["bytes"]
    lines: list[Any] = [
        literal(f"{source} → {target}"),
        table,
        f"runs: {runs['copied']:,} copied, {runs['updated']:,} brought up to date, {runs['skipped']:,} there already "
        f"({doc['points']['copied']:,} of {doc['points']['total']:,} points copied)",
        f"assets: {doc['assets']['copied']:,} versions copied, {doc['assets']['skipped']:,} there already; "
        f"batch keys: {doc['batch_keys']:,}",
        f"blobs: {blobs['copied']:,} copied ({size(sizes['copied'])}), {blobs['skipped']:,} there already "
        f"({size(sizes['skipped'])}); {doc['seconds']:.1f} s",
    ]
    from rich.text import Text

    if doc["verified"]:
        said = f": every run's rows and chunk bytes hash the same on both sides ({doc['digest'][:16]}…), every blob is there"
        lines.append(Text.assemble(("verified", "green"), said))
    else:
        lines.append(
            Text.assemble(("not verified", "red"), ": " + "; ".join(safe_line(p, 300) for p in doc["problems"]))
        )
    return lines


def import_view(doc: dict[str, Any], target: str) -> list[Any]:
    """What ``runhistory import`` did (its ``--json`` summary), each string from the source cleaned."""
    runs, points, files, assets = doc["runs"], doc["points"], doc["artifacts"], doc["assets"]
    lines: list[Any] = [
        literal(f"{doc['source']} → {target}"),
        literal(
            f"runs: {runs['imported']:,} imported, {runs['resumed']:,} completed from an earlier import, "
            f"{runs['skipped']:,} here already (of {runs['found']:,})"
            + (f"; {runs['running']:,} still running there, left running here" if runs["running"] else "")
        ),
        f"points: {points['imported']:,} imported, {points['skipped']:,} here already",
        f"files: {files['imported']:,} imported, {files['skipped']:,} here already; "
        f"asset versions: {assets['imported']:,} made, {assets['skipped']:,} here already; {doc['seconds']:.1f} s",
    ]
    if doc["left_out"]:
        lines.append(f"left out ({len(doc['left_out'])}):")
        lines += [literal("  " + safe_line(what, 300)) for what in doc["left_out"]]
    return lines
