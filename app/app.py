"""The terminal app: ``make_app(store)`` builds it for the CLI, the tests and the screenshot script."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from runhistory.api import Run, Store, StoreUnavailable
from runhistory.api._safe_text import safe_line

from .human import error_text
from .preferences import Preferences
from .screens.error import ErrorModal
from .screens.help import HelpModal
from .screens.run import RunScreen
from .screens.runs import RunsScreen

#: Seconds between live refreshes of what is on screen.
LIVE_INTERVAL = 1.0


class RunHistoryApp(App[None]):
    """Run history in the terminal: the runs, one run's metrics and charts, live.

    Args:
        store: Where the history is read from.
        clock: Returns the current time (epoch seconds); relative times and
            spinners follow it, so a fixed clock gives fixed screens.
        live_interval: Seconds between live refreshes; ``None`` turns them off.
        preferences: Where what the app remembers is kept (default: the user's config folder).
    """

    CSS_PATH = "app.tcss"
    TITLE = "runhistory"

    #: What is wrong with the store while live refresh keeps failing (``None`` when all is well);
    #: screens that show it watch it.
    store_trouble: reactive[str | None] = reactive(None)

    BINDINGS = [
        Binding("q", "quit", "Quit", tooltip="Leave runhistory"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Keys of this screen"),
    ]

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        live_interval: float | None = LIVE_INTERVAL,
        preferences: Preferences | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.clock = clock
        self.live_interval = live_interval
        self.preferences = preferences if preferences is not None else Preferences()
        self.sub_title = safe_line(store.location)

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.store, self.clock, self.live_interval))

    def open_run(self, run: Run, *, tab: str | None = None, select: str | None = None) -> None:
        """Show one run on its own screen, on ``tab`` with ``select`` highlighted among its files when given."""
        self.push_screen(RunScreen(self.store, run, self.clock, self.live_interval, tab=tab, select=select))

    def open_assets(self) -> None:
        """Show the named, versioned assets and their lineage."""
        from .screens.assets import AssetsScreen

        if not isinstance(self.screen, AssetsScreen):
            self.push_screen(AssetsScreen(self.store, self.clock))

    def open_compare(self, runs: list[Run]) -> None:
        """Overlay a metric of ``runs`` and set their latest scalars side by side."""
        from .screens.compare import CompareScreen

        self.push_screen(CompareScreen(self.store, runs, self.clock, self.live_interval))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpModal):
            return
        extra = getattr(self.screen, "HELP_TEXT", "")
        title = f"Keys — {getattr(self.screen, 'HELP_TITLE', 'run')}"
        self.push_screen(HelpModal(self.screen, title, extra))

    def report_store_error(self, error: BaseException, *, live: bool) -> None:
        """Show a store failure: a notification while live refresh retries, else a modal."""
        text = error_text(error)
        if live:
            if self.store_trouble is None:
                self.notify(
                    f"{text}\nRetrying every {self.live_interval or 1:g} s.",
                    title="Store unreachable",
                    severity="error",
                    timeout=6,
                    markup=False,
                )
                self.store_trouble = "store unreachable, retrying"
            return
        title = "Store unreachable" if isinstance(error, StoreUnavailable) else "Could not read the store"
        if isinstance(self.screen, ErrorModal):
            return  # one at a time: the first says it
        self.push_screen(ErrorModal(title, text))

    def store_recovered(self) -> None:
        """Live refresh works again after a failure."""
        if self.store_trouble is not None:
            self.store_trouble = None
            self.notify("Reading the store again.", title="Store back", timeout=3)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette lists every action of the screen (with its key) and the app's own."""
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not binding.description or binding.action in seen or binding.action == "command_palette":
                continue
            seen.add(binding.action)
            shown = binding.key_display or key
            help_text = binding.tooltip or binding.description
            yield SystemCommand(
                binding.description, f"{help_text}  [{shown}]", partial(self._run_binding, active.node, binding.action)
            )
        if "assets" not in seen:
            yield SystemCommand("Assets", "Named, versioned assets and the runs they came from", self.open_assets)
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit",):
                yield command

    async def _run_binding(self, node: object, action: str) -> None:
        await self.run_action(action, node)  # type: ignore[arg-type]


def make_app(
    store: Store,
    *,
    clock: Callable[[], float] = time.time,
    live_interval: float | None = LIVE_INTERVAL,
    preferences: Preferences | None = None,
) -> RunHistoryApp:
    """The terminal app on ``store``.

    Args:
        store: Where the history is read from (embedded or HTTP).
        clock: The current time in epoch seconds; pass a fixed one for fixed screens.
        live_interval: Seconds between live refreshes; ``None`` turns them off.
        preferences: Where what the app remembers is kept (default: the user's config folder).
    """
    return RunHistoryApp(store, clock=clock, live_interval=live_interval, preferences=preferences)
