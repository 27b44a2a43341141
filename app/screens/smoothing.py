"""What every screen with charts shares about smoothing them: ``S`` turns it on and off, ``[`` and
``]`` change its weight (and turn it on); the screen redraws in ``show_smoothing``."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding

from ..curves import DEFAULT_SMOOTHING, SMOOTHING_WEIGHTS


def next_weight(weight: float, direction: int) -> float:
    """The smoothing weight one notch up (``direction`` 1) or down (-1) ``SMOOTHING_WEIGHTS``."""
    below = [w for w in SMOOTHING_WEIGHTS if w < weight - 1e-9]
    above = [w for w in SMOOTHING_WEIGHTS if w > weight + 1e-9]
    if direction > 0:
        return above[0] if above else SMOOTHING_WEIGHTS[-1]
    return below[-1] if below and below[-1] > 0 else SMOOTHING_WEIGHTS[1]


class SmoothsCharts:
    """Mixed into a screen: the smoothing keys and their actions.

    Attributes:
        smoothing: The EMA weight the charts are drawn with (``None``: raw).
        weight: The weight ``S`` turns smoothing on at (the last one chosen).
    """

    SMOOTHING_BINDINGS: ClassVar[list[Binding]] = [
        Binding("S", "smooth", "Smooth", tooltip="Smooth the charts with an exponential moving average"),
        Binding("left_square_bracket", "weight(-1)", "Less smoothing", show=False, key_display="["),
        Binding("right_square_bracket", "weight(1)", "More smoothing", show=False, key_display="]"),
    ]

    smoothing: float | None = None
    weight: float = DEFAULT_SMOOTHING

    def show_smoothing(self) -> None:
        """Draw the charts with ``smoothing``."""
        raise NotImplementedError

    def action_smooth(self) -> None:
        self.smoothing = None if self.smoothing else self.weight
        self.show_smoothing()

    def action_weight(self, direction: int) -> None:
        self.weight = next_weight(self.weight, direction)
        self.smoothing = self.weight  # a weight is asked for: smoothing on
        self.show_smoothing()
