"""The top of the run screen: who the run is, when it ran, from what."""

from __future__ import annotations

import shlex

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from runhistory.api import Run
from runhistory.api._safe_text import safe_line

from ..human import ago, duration
from .run_status import status_text


def _when(run: Run, now: float) -> Text:
    started = run.started_at.astimezone()
    text = Text("started ", style="dim")
    text.append(started.strftime("%Y-%m-%d %H:%M:%S"))
    text.append(f" ({ago(run.started_at, now)})", style="dim")
    text.append(" · ran " if run.ended_at else " · running for ", style="dim")
    text.append(duration(run, now), style="bold")
    if run.ended_at is not None:
        text.append(" · ended ", style="dim")
        ended = run.ended_at.astimezone()
        text.append(ended.strftime("%H:%M:%S" if ended.date() == started.date() else "%Y-%m-%d %H:%M:%S"))
    elif run.status == "lost" and run.heartbeat_at is not None:
        text.append(f" · last heard of {ago(run.heartbeat_at, now)}", style="dim")
    return text


def _origin(run: Run) -> Text:
    text = Text()
    host = f"{run.user}@{run.host}" if run.user and run.host else run.host or run.user
    if host:
        text.append(safe_line(host))
    if run.git_commit:
        text.append("  git ", style="dim")
        text.append(safe_line(run.git_commit[:12]), style="#e5c07b")
        if run.git_dirty:
            text.append(" (dirty)", style="dim")
    if run.python:
        text.append("  python ", style="dim")
        text.append(safe_line(run.python))
    if run.exit_code is not None:
        text.append("  exit ", style="dim")
        text.append(str(run.exit_code), style="bold" if run.exit_code else "")
    return text


class RunHeader(Static):
    """Status, id, experiment and name; times; command; host, git commit; the error's last line."""

    DEFAULT_CSS = """
    RunHeader { height: auto; padding: 0 1; }
    """

    #: What the header says, as plain text.
    plain = ""

    def show(self, run: Run, now: float) -> None:
        """Show ``run`` as of clock time ``now``."""
        title = status_text(run.status, now)
        title.append("  ")
        title.append(safe_line(run.short_id), style="bold")
        title.append(f"  {safe_line(run.experiment)}", style="bold #61afef")
        if run.name:
            title.append(f" · {safe_line(run.name)}")
        title.append(f"  {safe_line(run.id)}", style="dim")
        command = Text("$ ", style="dim")
        command.append(safe_line(shlex.join(run.command)) if run.command else "(command not recorded)")
        lines: list[Text] = [title, _when(run, now), command, _origin(run)]
        if run.error:
            last = next((line for line in reversed(run.error.strip().splitlines()) if line.strip()), run.error)
            lines.append(Text(safe_line(last.strip()), style="bold #ff6b6b"))
        for line in lines:
            line.no_wrap = True
            line.overflow = "ellipsis"
        plain = "\n".join(line.plain for line in lines)
        if plain == self.plain and self.plain:
            return  # unchanged (a live run is read again every tick): no new layout
        self.plain = plain
        self.update(Group(*lines))
