"""The ``runhistory`` command: headless access to run history.

Human output by default; ``--json`` prints the documented contract (see
``runhistory.app.contract``) and nothing else on stdout. Exit codes: 0 ok,
1 not found or failed, 2 usage.
"""

from __future__ import annotations

import argparse
import io
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from runhistory.api import (
    RUN_STATUSES,
    DownloadConflict,
    DownloadedFile,
    QueryError,
    Run,
    RunhistoryError,
    Store,
    download_artifacts,
    download_asset,
    find_token,
    open_store,
)
from runhistory.api._limits import GC_GRACE, MAX_ARTIFACT_SIZE, MAX_PAGE_SIZE
from runhistory.api._safe_text import safe_line
from runhistory.api._transfer import Progress
from runhistory.api._workers import MAX_WORKERS

if TYPE_CHECKING:
    from runhistory.api import EmbeddedStore
    from runhistory.api._postgres import PostgresStore
    from runhistory.api._settings import Settings

PROG = "runhistory"


class UsageError(Exception):
    """Arguments that parse but do not make sense together (exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, whose usage errors come as a JSON object on stderr when ``--json`` was given."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_errors:
            _emit_error(message, "UsageError")
            raise SystemExit(2)
        super().error(message)


# -- helpers shared by the commands ------------------------------------------------


def _store(args: argparse.Namespace) -> Store:
    return open_store(home=args.home, url=args.url, token_file=args.token_file)


def _emit_error(message: str, kind: str) -> None:
    """An error on stderr: ``{"error", "kind"}`` under ``--json`` (exact, JSON-escaped),
    else one cleaned line (the message may hold a name or a server's words)."""
    if _Parser.json_errors:
        from .contract import dumps

        sys.stderr.write(dumps({"error": message, "kind": kind}) + "\n")
    else:
        from runhistory.api._safe_text import safe_text

        print(f"{PROG}: error: {safe_text(message)[0]}", file=sys.stderr)


def _emit_json(doc: Any) -> None:
    from .contract import dumps

    sys.stdout.write(dumps(doc) + "\n")


def _print(*renderables: Any) -> None:
    from .human import console

    out = console()
    if out.is_terminal:
        for r in renderables:
            out.print(r)
        return
    # Into a pipe or a file: plain text with no padding at the ends of lines.
    with out.capture() as captured:
        for r in renderables:
            out.print(r)
    sys.stdout.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


def _progress(total_hint: str) -> tuple[Callable[[str, int, int], None] | None, Callable[[], None]]:
    """A progress bar on stderr when it is a terminal; (callback, close)."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from runhistory.api._safe_text import safe_line

    from .human import console

    bar = Progress(
        # A path is a stored string: shown literally (markup=False) and cleaned.
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console(stderr=True),
        transient=True,
    )
    task = bar.add_task(total_hint, total=None)
    bar.start()

    def update(path: str, done: int, total: int) -> None:
        bar.update(task, completed=done, total=total, description=safe_line(path, 60))

    return update, bar.stop


# -- commands ----------------------------------------------------------------------


def cmd_last(args: argparse.Namespace) -> int:
    store = _store(args)
    runs = store.list_runs(experiment=args.experiment, limit=1).runs
    if not runs:
        raise RunhistoryError("no runs yet" + (f" in experiment {args.experiment!r}" if args.experiment else ""))
    return _show_run(args, store, runs[0])


def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    cursor = store.get_run(args.after).id if args.after else None
    page = store.list_runs(
        experiment=args.experiment,
        status=args.status,
        where=args.where,
        sort=args.sort,
        limit=args.limit,
        cursor=cursor,
    )
    if args.json:
        from .contract import run_doc

        _emit_json([run_doc(r) for r in page.runs])
        return 0
    if not page.runs:
        print("no runs", file=sys.stderr)
        return 0
    from .human import runs_table

    _print(runs_table(page.runs, _columns_for(store, page.runs, args.where, args.sort)))
    if page.next_cursor:
        again = [PROG, "list", *_rest_of_list(args), "--after", page.runs[-1].id]
        print(f"more: {' '.join(shlex.quote(a) for a in again)}", file=sys.stderr)
    return 0


def _rest_of_list(args: argparse.Namespace) -> list[str]:
    """The options of this ``list`` that the next page needs again."""
    out: list[str] = []
    for option, value in (
        ("--experiment", args.experiment),
        ("--status", args.status),
        ("--where", args.where),
        ("--sort", args.sort),
        ("--limit", args.limit if args.limit != 20 else None),
    ):
        if value is not None:
            out += [option, str(value)]
    return out


def _columns_for(store: Store, runs: list[Run], where: str | None, sort: str | None) -> list[tuple[str, list[Any]]]:
    """Extra columns for the params and metrics a query or sort names: (title, a value per run)."""
    from runhistory.api._query import Field, fields_of, parse_query, parse_sort

    named: list[Field] = []
    if sort:
        named += [key.field for key in parse_sort(sort)]
    if where:
        named += fields_of(parse_query(where))
    columns: list[tuple[str, list[Any]]] = []
    latest: dict[str, dict[str, Any]] = {}
    for field in dict.fromkeys(f for f in named if f.kind != "attr"):
        if field.kind == "param":
            columns.append((str(field), [r.params.get(field.name) for r in runs]))
            continue
        values = []
        for run in runs:
            if run.id not in latest:
                latest[run.id] = {m.name: m.last_value for m in store.list_metrics(run.id)}
            values.append(latest[run.id].get(field.name))
        columns.append((str(field), values))
    return columns


def _show_run(args: argparse.Namespace, store: Store, run: Run) -> int:
    metrics = store.list_metrics(run.id)
    artifacts = store.list_artifacts(run.id)
    environment = store.get_environment(run.id) if args.command == "info" else None
    if args.json:
        from .contract import info_doc, run_doc

        _emit_json(info_doc(run, metrics, artifacts, environment) if args.command == "info" else run_doc(run))
        return 0
    from .human import run_details

    _print(*run_details(run, metrics, artifacts, environment))
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    add = [t[1:] if t.startswith("+") else t for t in args.tags]
    remove = list(args.remove_tags)
    if not add and not remove:
        raise UsageError("give tags to add (+TAG or TAG) or to remove (-TAG)")
    store = _store(args)
    run = store.get_run(args.run)
    tags = store.update_tags(run.id, add=add, remove=remove)
    if args.json:
        _emit_json({"id": run.id, "tags": tags})
    else:
        from .human import literal

        _print(literal(f"{run.short_id}: {' '.join(tags) if tags else '(no tags)'}"))
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    store = _store(args)
    run = store.get_run(args.run)
    store.set_note(run.id, text)
    if args.json:
        from .contract import run_doc

        _emit_json(run_doc(store.get_run(run.id)))
    else:
        print(f"{run.short_id}: note {'cleared' if not text else 'saved'}", file=sys.stderr)
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    store = _store(args)
    run = store.get_run(args.run)
    store.rename_run(run.id, args.name or None)
    if args.json:
        from .contract import run_doc

        _emit_json(run_doc(store.get_run(run.id)))
    else:
        from .human import literal

        _print(literal(f"{run.short_id}: {args.name or '(no name)'}"))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    store = _store(args)
    runs = list({r.id: r for r in (store.get_run(ref) for ref in args.runs)}.values())
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stderr.isatty()) or args.json:
            raise UsageError("deleting cannot be undone: pass --yes to delete without being asked")
        from .human import literal

        out = _err_console()
        out.print(f"delete {len(runs)} run{'s' if len(runs) != 1 else ''}?")
        for run in runs:
            out.print(literal(f"  {run.short_id}  {run.experiment}  {run.name or ''}  {run.status}"))
        answer = input("type yes to delete: ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return 1
    from runhistory.api import DeletedRun

    done: list[DeletedRun] = []
    failed = 0
    for run in runs:
        try:
            done.append(store.delete_run(run.id))
        except RunhistoryError as error:
            failed += 1
            if not args.json:
                _emit_error(str(error), type(error).__name__)
            else:
                _emit_error(str(error), type(error).__name__)
    if args.json:
        from .contract import deleted_doc

        _emit_json([deleted_doc(d) for d in done])
    else:
        from .human import deleted_lines

        _print(*deleted_lines(done))
    return 1 if failed else 0


def _err_console() -> Any:
    from .human import console

    return console(stderr=True)


def cmd_info(args: argparse.Namespace) -> int:
    if args.artifact is not None and args.metric is not None:
        raise UsageError("give either -a PATH or -m NAME, not both")
    if args.metric is None:
        for flag, given in (
            ("--max-points", args.max_points),
            ("--from-step", args.from_step),
            ("--to-step", args.to_step),
        ):
            if given is not None:
                raise UsageError(f"{flag} goes with -m NAME")
    store = _store(args)
    run = store.get_run(args.run)
    if args.artifact is not None:
        with store.open_artifact(run.id, args.artifact) as stream:
            if sys.stdout.isatty():
                _show_artifact(stream, args.artifact)
                return 0
            out = sys.stdout.buffer
            while piece := stream.read(1 << 20):
                out.write(piece)
            out.flush()
        return 0
    if args.metric is not None:
        series = store.read_series(
            run.id, args.metric, max_points=args.max_points, start_step=args.from_step, end_step=args.to_step
        )
        if args.json:
            from .contract import series_doc

            _emit_json(series_doc(series))
        else:
            from .human import series_table

            _print(*series_table(series))
        return 0
    return _show_run(args, store, run)


def _show_artifact(stream: Any, path: str) -> None:
    """An artifact on a terminal: text cleaned of escape sequences and control
    characters, a binary file refused (its bytes go to a pipe or a file as they are)."""
    import codecs

    from runhistory.api._safe_text import safe_line, strip_escapes

    piece = stream.read(1 << 16)
    if b"\0" in piece[:8192]:
        raise RunhistoryError(
            f"{safe_line(path)} is a binary file: not written to the terminal; "
            "redirect it (> FILE) or pipe it to see its bytes"
        )
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out = sys.stdout
    while piece:
        # Every ESC and C1 control is dropped, so no sequence survives a split between pieces.
        out.write(strip_escapes(decoder.decode(piece)))
        piece = stream.read(1 << 20)
    out.write(strip_escapes(decoder.decode(b"", final=True)))
    out.flush()


def cmd_promote(args: argparse.Namespace) -> int:
    store = _store(args)
    run = store.get_run(args.run)
    asset = store.promote(run.id, args.prefix, args.name)
    if args.json:
        from .contract import asset_version_doc

        _emit_json(asset_version_doc(asset))
    else:
        from .human import promoted

        _print(*promoted(asset))
    return 0


def _downloaded(args: argparse.Namespace, dest: Path, save: Callable[[Progress | None], list[DownloadedFile]]) -> int:
    """Run ``save`` with a progress bar, and say what became of each file: saved, replaced or skipped."""
    update, close = _progress("downloading")
    try:
        files = save(update)
    except DownloadConflict as error:
        if error.differing and not error.blocked:
            raise DownloadConflict(error.differing, error.blocked, "--overwrite replaces them") from None
        raise
    finally:
        close()
    if args.json:
        from .contract import download_doc

        _emit_json(download_doc(str(dest), files))
        return 0
    from .human import size as human_size

    written = [f for f in files if f.status != "skipped"]
    replaced = sum(f.status == "replaced" for f in files)
    skipped = len(files) - len(written)
    if written:
        line = (
            f"saved {len(written)} file{'s' if len(written) != 1 else ''} "
            f"({human_size(sum(f.size for f in written))}, sha256 checked) to {safe_line(str(dest))}"
        )
        line += f", replacing {replaced}" if replaced else ""
        line += f"; {skipped} already there (same sha256), skipped" if skipped else ""
    else:
        which = "the file is" if skipped == 1 else f"all {skipped} files are"
        line = f"nothing to save: {which} already there (same sha256) in {safe_line(str(dest))}"
    print(line)
    notes = {"saved": "", "replaced": "  (replaced)", "skipped": "  (already there, skipped)"}
    for f in files:
        print(f"  {safe_line(str(f.saved_to))}{notes[f.status]}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    if args.artifact is not None and args.prefix is not None:
        raise UsageError("give either -a PATH or -ap PREFIX, not both")
    store = _store(args)
    run = store.get_run(args.run)
    dest = Path(args.output)
    return _downloaded(
        args,
        dest,
        lambda progress: download_artifacts(
            store,
            run.id,
            dest,
            prefix=args.prefix or "",
            path=args.artifact,
            overwrite=args.overwrite,
            progress=progress,
        ),
    )


def cmd_export(args: argparse.Namespace) -> int:
    """A run's metrics as one long table (see ``runhistory.app.export``)."""
    if args.output is None and args.json:
        raise UsageError("--json prints a summary of the file -o FILE writes; without -o the table goes to stdout")
    if args.output is None and args.force:
        raise UsageError("--force goes with -o FILE")
    from . import export

    store = _store(args)
    run = store.get_run(args.run)
    names = export.chosen_metrics(store, run.id, args.metrics)
    parquet = args.format == "parquet"
    if parquet:
        export.check_parquet()
    series = export.series_of(store, run.id, names)
    if args.output is None:
        if parquet:
            if sys.stdout.isatty():
                raise UsageError("Parquet is binary: give -o FILE, or redirect stdout to a file or a pipe")
            sys.stdout.flush()
            export.write_parquet(series, run.id, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            export.write_csv(series, run.id, sys.stdout, terminal=sys.stdout.isatty())
        return 0
    dest = Path(args.output)
    with export.atomic_file(dest, force=args.force) as out:
        if parquet:
            done = export.write_parquet(series, run.id, out)
        else:
            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            try:
                done = export.write_csv(series, run.id, text)
            finally:
                text.detach()  # the file is atomic_file's to close (or to remove, on an error)
    size = dest.stat().st_size
    if args.json:
        _emit_json(
            {"path": str(dest), "format": args.format, "metrics": done.metrics, "points": done.points, "bytes": size}
        )
        return 0
    from .human import size as human_size

    print(
        f"exported {done.metrics} metric{'s' if done.metrics != 1 else ''} ({done.points:,} points) of run "
        f"{run.short_id} to {safe_line(str(dest))} ({args.format}, {human_size(size)})"
    )
    return 0


def cmd_assets(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.name is None:
        assets = store.list_assets()
        if args.json:
            from .contract import asset_summary_doc

            _emit_json([asset_summary_doc(a) for a in assets])
        elif not assets:
            print("no assets yet: promote a run's files with `runhistory promote`", file=sys.stderr)
        else:
            from .human import assets_table

            _print(assets_table(assets))
        return 0
    versions = store.list_asset_versions(args.name)
    if args.json:
        from .contract import asset_version_doc

        _emit_json([asset_version_doc(v) for v in versions])
    else:
        from .human import asset_versions_table

        _print(asset_versions_table(versions))
    return 0


def _asset_ref(text: str) -> tuple[str, int | None]:
    name, sep, version = text.partition(":")
    if not sep:
        return name, None
    try:
        number = int(version.removeprefix("v"))
    except ValueError:
        raise UsageError(f"asset version must be a number: {text!r}") from None
    return name, number


def cmd_asset_download(args: argparse.Namespace) -> int:
    store = _store(args)
    name, version = _asset_ref(args.ref)
    asset = store.get_asset(name, version)
    if args.flat and len(asset.files) != 1:
        raise UsageError(
            f"--flat saves a version of one file; {safe_line(asset.name)}:{asset.version} has {len(asset.files)} "
            "files (without --flat they keep their paths)"
        )
    dest = Path(args.output)
    return _downloaded(
        args,
        dest,
        lambda progress: download_asset(
            store,
            asset.name,
            asset.version,
            dest,
            flat=args.flat,
            overwrite=args.overwrite,
            progress=progress,
        ),
    )


def cmd_run(args: argparse.Namespace) -> int:
    from .run_command import run_tracked

    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("give the command to run after --, e.g. runhistory run -- python train.py")
    if args.home:
        os.environ["RUNHISTORY_HOME"] = str(Path(args.home).expanduser().resolve())
    return run_tracked(_store(args), command, experiment=args.experiment, name=args.name, json_output=args.json)


def cmd_serve(args: argparse.Namespace) -> int:
    from runhistory.api._server import serve
    from runhistory.api._settings import Settings, read_serve_config

    if getattr(args, "url", None):
        raise UsageError("serve serves a store it opens itself: give --home or --db, not --url")
    # The command line, then RUNHISTORY_* variables, then the config file, then the defaults.
    config = read_serve_config(args.config) if args.config else {}
    settings = Settings.from_environ()

    def pick(name: str, from_env: object, default: Any) -> Any:
        given = getattr(args, name, None)
        if given is not None:
            return given
        if from_env is not None:
            return from_env
        return config.get(name, default)

    db = pick("db", settings.db, None)
    blobs = pick("blobs", settings.blobs, None)
    home = pick("home", settings.home, None)
    token_file = pick("token_file", settings.token_file, None)
    token = find_token(args.token, token_file)
    if db:
        if getattr(args, "home", None):
            raise UsageError("give --home (an embedded store) or --db (PostgreSQL), not both")
        from runhistory.api._open import open_team_store

        store: Store = open_team_store(db, blobs)
    else:
        if blobs:
            raise UsageError("--blobs (or RUNHISTORY_BLOBS) goes with --db: an embedded store keeps its own files")
        from runhistory.api import EmbeddedStore, default_home

        store = EmbeddedStore(Path(home).expanduser() if home else default_home())
    return serve(
        store,
        host=pick("host", None, "127.0.0.1"),
        port=pick("port", None, 5100),
        token=token,
        insecure=args.insecure or bool(config.get("insecure", False)),
        max_file_size=pick("max_file_size", None, MAX_ARTIFACT_SIZE),
        workers=pick("workers", None, 1),
        direct=not args.no_direct and bool(config.get("direct", True)),
    )


def cmd_sync(args: argparse.Namespace) -> int:
    from runhistory.logger._spool import spool_root, sync_all

    store = _store(args)
    if store.is_local:
        raise UsageError("sync sends spooled runs to a server: set RUNHISTORY_URL or give --url")
    root = spool_root()
    delivered, left = sync_all(store, root, report=lambda line: print(f"{PROG}: {line}", file=sys.stderr))
    if args.json:
        _emit_json({"delivered": delivered, "left": left, "spool": str(root)})
    elif delivered or left:
        print(
            f"delivered {delivered} spooled run{'s' if delivered != 1 else ''} to {store.location}"
            + (f"; {left} still held by running processes" if left else "")
        )
    else:
        print(f"nothing to sync in {root}")
    return 0


def _team_or_embedded(args: argparse.Namespace, what: str) -> EmbeddedStore | PostgresStore:
    """The store ``what`` works on: the team backend (``--db``/``--blobs`` or RUNHISTORY_DB/BLOBS),
    else the embedded store in ``--home``, which must exist (it is not made here)."""
    from runhistory.api._open import open_team_store
    from runhistory.api._settings import Settings, check_db_url

    if getattr(args, "url", None):
        raise UsageError(f"{what} works on a store's own database and files: give --home or --db, not --url")
    settings = Settings.from_environ()
    db = args.db or settings.db
    blobs = args.blobs or settings.blobs
    if db:
        if args.home:
            raise UsageError("give --home (an embedded store) or --db (PostgreSQL), not both")
        return open_team_store(check_db_url(db, "--db"), blobs)
    if args.blobs:
        raise UsageError("--blobs (or RUNHISTORY_BLOBS) goes with --db: an embedded store keeps its own files")
    return _embedded_here(args, settings)


def _embedded_here(args: argparse.Namespace, settings: Settings) -> EmbeddedStore:
    """The embedded store in ``--home`` (or RUNHISTORY_HOME, or the default folder); one must be there."""
    from runhistory.api import EmbeddedStore, default_home
    from runhistory.api._embedded.store import DB_NAME

    home = Path(args.home).expanduser() if args.home else default_home(settings)
    if not (home / DB_NAME).is_file():
        raise RunhistoryError(f"there is no store in {home} ({DB_NAME} is missing): give --home DIR")
    return EmbeddedStore(home)


def _progress_line() -> tuple[Callable[[str], None] | None, Callable[[], None]]:
    """A line of progress rewritten in place on stderr when it is a terminal; (callback, close)."""
    if not sys.stderr.isatty():
        return None, lambda: None

    def update(line: str) -> None:
        try:
            width = os.get_terminal_size(sys.stderr.fileno()).columns or 80
        except (OSError, ValueError):
            width = 80
        # One line, never wrapped: a wrapped line is not taken back by the next carriage return.
        sys.stderr.write(f"\r{PROG}: {line}"[: max(width - 1, 10)] + "\x1b[K")
        sys.stderr.flush()

    def close() -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()

    return update, close


def cmd_migrate(args: argparse.Namespace) -> int:
    from runhistory.api._migrate import Migrator, migration_doc
    from runhistory.api._open import open_team_store
    from runhistory.api._settings import Settings, check_db_url

    if getattr(args, "url", None):
        raise UsageError("migrate copies the embedded store in --home (or RUNHISTORY_HOME), not a server: drop --url")
    settings = Settings.from_environ()
    to = args.to or settings.db
    if not to:
        raise UsageError("give the team backend's database: --to postgresql://… (or RUNHISTORY_DB)")
    source = _embedded_here(args, settings)
    target = open_team_store(check_db_url(to, "--to"), args.blobs or settings.blobs)
    progress, close = _progress_line()
    try:
        done = Migrator(source, target, progress=progress).run()
    finally:
        close()
        source.close()
        target.close()
    doc = migration_doc(done)
    if args.json:
        _emit_json(doc)
    else:
        from .human import migration_view

        _print(*migration_view(doc, source.location, target.location))
    if not doc["verified"]:
        _emit_error(
            "the copy does not match this store: "
            + "; ".join(doc["problems"])
            + " (a run still logging here changes under the copy: run migrate again once it has finished)",
            "MigrationNotVerified",
        )
        return 1
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Runs of another tracker brought into the store (see ``runhistory.app.importers``)."""
    # The source is looked at first: a wrong path or URL stops the command before the store is opened.
    if args.import_command == "wandb":
        from .importers.from_wandb import import_wandb

        import_wandb(args.dir)  # says why W&B's offline runs cannot be read here
        return 1
    if args.import_command == "mlflow":
        from .importers.from_mlflow import check_uri, import_mlflow

        uri = check_uri(args.uri)
        store = _store(args)
        progress, close = _progress_line()
        try:
            done = import_mlflow(store, uri, source=args.uri, experiments=args.experiments, progress=progress)
        finally:
            close()
    else:
        from .importers.from_tensorboard import find_runs, import_tensorboard

        found = find_runs(args.logdir)
        store = _store(args)
        progress, close = _progress_line()
        try:
            done = import_tensorboard(store, found, experiment=args.experiment, progress=progress)
        finally:
            close()
    doc = done.doc()
    if args.json:
        _emit_json(doc)
    else:
        from .human import import_view

        _print(*import_view(doc, store.location))
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    if args.grace < 0:
        raise UsageError(f"--grace is a number of seconds, 0 or more; got {args.grace:g}")
    store = _team_or_embedded(args, "gc")
    try:
        garbage = store.collect_garbage(grace=args.grace, dry_run=args.dry_run)
    finally:
        store.close()
    doc = {
        "dry_run": garbage.dry_run,
        "grace": args.grace,
        "deleted": 0 if garbage.dry_run else len(garbage.orphans),
        "bytes": 0 if garbage.dry_run else garbage.orphan_bytes,
        "would_delete": len(garbage.orphans) if garbage.dry_run else 0,
        "would_free": garbage.orphan_bytes if garbage.dry_run else 0,
        "kept_young": garbage.young,
        "kept_named": garbage.named,
        "temporary": garbage.temporary,
        "blobs": [{"sha256": sha256, "size": size} for sha256, size in garbage.orphans],
    }
    if args.json:
        _emit_json(doc)
        return 0
    verb = "would delete" if garbage.dry_run else "deleted"
    for sha256, size in garbage.orphans:
        print(f"{verb} {sha256} ({size:,} bytes)")
    print(
        f"{verb} {len(garbage.orphans)} blob{'s' if len(garbage.orphans) != 1 else ''} no row names "
        f"({garbage.orphan_bytes:,} bytes) in {store.location}; kept {garbage.young} younger than "
        f"{args.grace:g} s and {garbage.named} in use"
        + ("" if garbage.temporary is None else f"; removed {garbage.temporary} stale temporary uploads")
    )
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    from .tui import run_tui

    return run_tui(_store(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(home=args.home, json_output=args.json)


# -- the parser ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print JSON (the documented contract) and nothing else",
    )
    common.add_argument("--home", default=argparse.SUPPRESS, help="embedded store folder (overrides RUNHISTORY_HOME)")
    common.add_argument("--url", default=argparse.SUPPRESS, help="history server URL (overrides RUNHISTORY_URL)")
    common.add_argument(
        "--token-file",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="file holding the server's token (overrides RUNHISTORY_TOKEN and RUNHISTORY_TOKEN_FILE)",
    )

    parser = _Parser(
        prog=PROG,
        description="Run history for machine-learning work, terminal first.",
        epilog="Log from Python with `from runhistory.logger import get_logger`.",
    )
    parser.add_argument("--json", action="store_true", default=False, help=argparse.SUPPRESS)
    parser.add_argument("--home", default=None, help="embedded store folder (overrides RUNHISTORY_HOME)")
    parser.add_argument("--url", default=None, help="history server URL (overrides RUNHISTORY_URL)")
    parser.add_argument(
        "--token-file",
        default=None,
        metavar="FILE",
        help="file holding the server's token (overrides RUNHISTORY_TOKEN and RUNHISTORY_TOKEN_FILE)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    last = command("last", cmd_last, "the newest run")
    last.add_argument("--experiment", "-e", help="newest run of this experiment")

    lst = command("list", cmd_list, "runs, newest first")
    lst.add_argument("--experiment", "-e", help="only this experiment")
    lst.add_argument("--status", "-s", choices=RUN_STATUSES, help="only runs in this status")
    lst.add_argument("--limit", "-n", type=int, default=20, help=f"runs per page (1 … {MAX_PAGE_SIZE}, default 20)")
    lst.add_argument("--after", metavar="RUN", help="the page after this run (the last id of the previous page)")
    lst.add_argument(
        "--where",
        "-w",
        metavar="QUERY",
        help="only runs that match: params.lr >= 1e-3 and metrics.val/acc > 0.9 and tag:best",
    )
    lst.add_argument("--sort", metavar="KEYS", help="order by: 'metrics.val/acc desc, params.seed' (asc by default)")

    info = command(
        "info", cmd_info, "one run: metadata, metrics, artifacts; or an artifact's bytes, or a metric's points"
    )
    info.add_argument("-r", "--run", required=True, help="run id or any unique prefix")
    info.add_argument("-a", "--artifact", metavar="PATH", help="write this artifact's bytes to stdout")
    info.add_argument("-m", "--metric", metavar="NAME", help="print this metric's points")
    info.add_argument("--max-points", type=int, metavar="N", help="downsample the metric to at most N points")
    info.add_argument("--from-step", type=int, metavar="STEP", help="only the metric's points from this step on")
    info.add_argument("--to-step", type=int, metavar="STEP", help="only the metric's points up to this step")

    tag = command("tag", cmd_tag, "add (+TAG) and remove (-TAG) a run's tags")
    tag.add_argument("-r", "--run", required=True, help="run id or any unique prefix")
    tag.add_argument("tags", nargs="*", metavar="+TAG|-TAG", help="tags to add (+best) and remove (-old)")
    tag.set_defaults(remove_tags=[])

    note = command("note", cmd_note, 'replace a run\'s note ("" clears it, - reads it from stdin)')
    note.add_argument("-r", "--run", required=True, help="run id or any unique prefix")
    note.add_argument("text", help="the note")

    rename = command("rename", cmd_rename, 'give a run another name ("" clears it)')
    rename.add_argument("-r", "--run", required=True, help="run id or any unique prefix")
    rename.add_argument("name", help="the new name")

    delete = command("delete", cmd_delete, "delete runs; contents nothing else refers to are freed")
    delete.add_argument("-r", "--run", dest="runs", nargs="+", required=True, metavar="RUN", help="run ids or prefixes")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask")

    promote = command("promote", cmd_promote, "make a new version of an asset from a run's files")
    promote.add_argument("-r", "--run", required=True, help="run id or any unique prefix")
    promote.add_argument("-ap", "--prefix", required=True, help="artifact path or folder to promote")
    promote.add_argument("-n", "--name", required=True, help="asset name")

    download = command("download", cmd_download, "save a run's artifacts to disk (sha256 checked)")
    download.add_argument("-r", "--run", required=True, help="run id or any unique prefix")
    download.add_argument("-a", "--artifact", metavar="PATH", help="only this file")
    download.add_argument("-ap", "--prefix", help="only files at or under this folder")
    download.add_argument("-o", "--output", default=".", metavar="DIR", help="destination folder (default: here)")
    download.add_argument("--overwrite", action="store_true", help="replace files already there with other contents")

    export = command("export", cmd_export, "a run's metrics as one long table (CSV or Parquet), every point")
    export.add_argument("-r", "--run", required=True, help="run id or any unique prefix")
    export.add_argument(
        "-m",
        "--metric",
        dest="metrics",
        action="append",
        default=[],
        metavar="NAME",
        help="only this metric (again for more; default: every metric)",
    )
    export.add_argument(
        "--format", choices=("csv", "parquet"), default="csv", help="csv (default) or parquet (needs pyarrow)"
    )
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE, atomically (default: stdout)")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")

    assets = command("assets", cmd_assets, "asset names, or one asset's versions")
    assets.add_argument("name", nargs="?", help="show this asset's versions")

    asset = commands.add_parser("asset", help="work with one asset", description="work with one asset")
    asset_commands = asset.add_subparsers(dest="asset_command", metavar="COMMAND", required=True)
    asset_download = asset_commands.add_parser(
        "download", parents=[common], help="save an asset version's files (sha256 checked)"
    )
    asset_download.set_defaults(handler=cmd_asset_download)
    asset_download.add_argument(
        "ref", metavar="NAME[:VERSION]", help="asset name, optionally with a version (default: the newest)"
    )
    asset_download.add_argument("-o", "--output", default=".", metavar="DIR", help="destination folder (default: here)")
    asset_download.add_argument(
        "--overwrite", action="store_true", help="replace files already there with other contents"
    )
    asset_download.add_argument("--flat", action="store_true", help="save a one-file version as DIR/<its name>")

    run = command("run", cmd_run, "run a command as a tracked run, its console captured")
    run.add_argument("--experiment", "-e", help="experiment of the run")
    run.add_argument("--name", help="name of the run")
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD …", help="the command to run")

    serve = command("serve", cmd_serve, "serve a store over HTTP to a team (embedded, or PostgreSQL + S3)")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 5100; 0 picks a free one)")
    serve.add_argument(
        "--db",
        default=None,
        metavar="postgresql://…",
        help="keep runs, series and assets in this PostgreSQL database (default: RUNHISTORY_DB; "
        "else the embedded store)",
    )
    serve.add_argument(
        "--blobs",
        default=None,
        metavar="s3://BUCKET/PREFIX",
        help="with --db: where file contents go, a bucket (credentials from the AWS_* variables) "
        "or a folder every replica reaches (default: RUNHISTORY_BLOBS)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=f"server processes on the one port (default 1, at most {MAX_WORKERS})",
    )
    serve.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="a TOML file of these settings (host, port, home, db, blobs, token_file, workers, "
        "max_file_size, insecure, direct); the command line and RUNHISTORY_* variables win over it",
    )
    serve.add_argument(
        "--token",
        help="bearer token every request must carry (default: RUNHISTORY_TOKEN); "
        "visible to other users in `ps`: prefer --token-file FILE or the variable",
    )
    serve.add_argument("--insecure", action="store_true", help="allow a non-loopback address without a token")
    serve.add_argument(
        "--no-direct",
        action="store_true",
        help="send every file through this server, even when its files are in a bucket that clients "
        "could reach by presigned URL (default: clients move large files to and from the bucket directly)",
    )
    serve.add_argument(
        "--max-file-size",
        type=int,
        default=None,
        metavar="BYTES",
        help="largest artifact accepted (default 512 MiB)",
    )

    migrate = command(
        "migrate", cmd_migrate, "copy the embedded store into the team backend, exactly (resumable, verified)"
    )
    migrate.add_argument(
        "--to",
        default=None,
        metavar="postgresql://…",
        help="the team backend's PostgreSQL database (default: RUNHISTORY_DB)",
    )
    migrate.add_argument(
        "--blobs",
        default=None,
        metavar="s3://BUCKET/PREFIX",
        help="where the team backend keeps file contents: a bucket (credentials from the AWS_* variables) "
        "or a folder (default: RUNHISTORY_BLOBS)",
    )

    gc = command("gc", cmd_gc, "delete stored contents no run or asset names, and stale temporary uploads")
    gc.add_argument("--db", default=None, metavar="postgresql://…", help="the team backend (default: RUNHISTORY_DB)")
    gc.add_argument(
        "--blobs", default=None, metavar="s3://BUCKET/PREFIX", help="with --db: its blobs (default: RUNHISTORY_BLOBS)"
    )
    gc.add_argument(
        "--grace",
        type=float,
        default=GC_GRACE,
        metavar="SECONDS",
        help=f"leave contents younger than this: an upload about to be committed (default {GC_GRACE:g})",
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would go, delete nothing")

    imports = commands.add_parser(
        "import",
        help="bring runs of another tracker into the store (resumable; a second import adds nothing)",
        description="bring runs of another tracker into the store (resumable; a second import adds nothing)",
    )
    import_commands = imports.add_subparsers(dest="import_command", metavar="SOURCE", required=True)
    from_mlflow = import_commands.add_parser(
        "mlflow",
        parents=[common],
        help="an MLflow store or server: experiments, runs, every metric point, artifacts, registered models",
        description="import an MLflow tracking store or server: experiments, runs with params and tags, every "
        "metric point, artifacts, registered model versions (as assets); needs `pip install mlflow`",
    )
    from_mlflow.set_defaults(handler=cmd_import)
    from_mlflow.add_argument(
        "uri", metavar="URI", help="an mlruns folder, sqlite:///mlflow.db (or the file), or http://host:port"
    )
    from_mlflow.add_argument(
        "-e",
        "--experiment",
        dest="experiments",
        action="append",
        default=[],
        metavar="NAME",
        help="only this MLflow experiment (again for more; default: every one)",
    )
    from_tensorboard = import_commands.add_parser(
        "tensorboard",
        parents=[common],
        help="TensorBoard event files: a run per folder, scalars, text and images",
        description="import TensorBoard event files: a run per folder holding them, with its scalars (steps and "
        "wall times), text and images; needs `pip install tensorboard`",
    )
    from_tensorboard.set_defaults(handler=cmd_import)
    from_tensorboard.add_argument("logdir", metavar="LOGDIR", help="the folder TensorBoard reads")
    from_tensorboard.add_argument(
        "-e", "--experiment", metavar="NAME", help="experiment of the imported runs (default: LOGDIR's name)"
    )
    from_wandb = import_commands.add_parser(
        "wandb",
        parents=[common],
        help="W&B offline run folders (not readable here: see the README)",
        description="W&B offline run folders: the W&B SDK cannot read them back here (see the README)",
    )
    from_wandb.set_defaults(handler=cmd_import)
    from_wandb.add_argument("dir", metavar="DIR", help="a wandb folder of offline-run-* folders, or one of them")

    command("sync", cmd_sync, "send runs spooled while the server was away (resumable, idempotent)")
    command("tui", cmd_tui, "the full-screen terminal app (also: runhistory with no command, on a terminal)")
    command("demo", cmd_demo, "log example runs into a demo store and open the app on it")
    return parser


_TAG_OPTIONS = {"-r", "--run", "-h", "--help", "--json", "--home", "--url", "--token-file"}
_TAG_VALUED = {"-r", "--run", "--home", "--url", "--token-file"}


def _tag_removals(argv: list[str]) -> tuple[list[str], list[str]]:
    """``tag -r RUN +new -old``: the ``-TAG`` words (not options) taken out of ``argv``, as tags to remove."""
    at = 0
    while at < len(argv) and argv[at].startswith("-"):  # options before the command
        at += 2 if argv[at] in _TAG_VALUED else 1
    if at >= len(argv) or argv[at] != "tag":
        return argv, []
    kept, removals = argv[: at + 1], []
    rest = iter(argv[at + 1 :])
    for word in rest:
        option = word.split("=", 1)[0]
        if option in _TAG_OPTIONS:
            kept.append(word)
            if option in _TAG_VALUED and "=" not in word:
                kept.append(next(rest, ""))
        elif word.startswith("-") and len(word) > 1 and word != "--":
            removals.append(word[1:])
        else:
            kept.append(word)
    return kept, removals


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``runhistory`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    _Parser.json_errors = "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv
    parser = build_parser()
    argv, removals = _tag_removals(argv)
    args = parser.parse_args(argv)
    if removals:
        args.remove_tags = removals
    _Parser.json_errors = bool(args.json)
    if args.command is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            args.handler = cmd_tui
        else:
            parser.print_help()
            return 0
    try:
        return int(args.handler(args))
    except UsageError as error:
        if not args.json:
            parser.print_usage(sys.stderr)
        _emit_error(str(error), "UsageError")
        return 2
    except QueryError as error:  # a query is part of the command line: a usage error
        _emit_error(str(error), "QueryError")
        return 2
    except BrokenPipeError:
        # The reader went away (`runhistory list | head`): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (RunhistoryError, OSError, NotImplementedError) as error:
        _emit_error(str(error), type(error).__name__)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
