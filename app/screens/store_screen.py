"""What every screen that reads the store shares: its workers' failures are shown, never raised."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.events import Resize
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from ..app import RunHistoryApp


class StoreScreen(Screen[None]):
    """A screen whose store reads run in thread workers (``@work(thread=True, …)``).

    A failed worker of a live-refresh group is reported as a notification (the
    next tick tries again); any other failure opens an error modal.
    """

    #: Worker groups that repeat every tick.
    LIVE_GROUPS: ClassVar[frozenset[str]] = frozenset()
    #: Below this many columns the footer drops the space between its keys and the palette's key
    #: (``?`` lists it), so that the screen's own keys fit.
    COMPACT_FOOTER_BELOW: ClassVar[int] = 100

    @property
    def in_view(self) -> bool:
        """Whether this screen is what the user sees: the top screen, or the one under a dialog on top.

        Textual's ``is_current`` also counts the screen right under a full screen
        as current, so a live refresh guarded by it would go on reading the store
        for a screen nobody sees.
        """
        stack = self.app.screen_stack
        if stack and stack[-1] is self:
            return True
        return len(stack) > 1 and stack[-2] is self and isinstance(stack[-1], ModalScreen)

    @property
    def history(self) -> RunHistoryApp:
        """The app, typed."""
        return cast("RunHistoryApp", self.app)

    @on(Resize)
    def _fit_footer(self, event: Resize) -> None:
        narrow = event.size.width < self.COMPACT_FOOTER_BELOW
        for footer in self.query(Footer):
            footer.compact = narrow
            footer.show_command_palette = not narrow

    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        live = worker.group in self.LIVE_GROUPS
        if event.state == WorkerState.ERROR and worker.error is not None:
            if not self.store_failed(worker.group, worker.error):
                self.history.report_store_error(worker.error, live=live)
        elif event.state == WorkerState.SUCCESS and live:
            self.history.store_recovered()

    def store_failed(self, group: str, error: BaseException) -> bool:
        """Handle a failure this screen knows better about; True when handled."""
        return False
