"""Which of a run's metrics matter at a glance: the key metrics and the main series.

Runs log metrics under any names. The runs table has room for a few columns
and one sparkline, so metric names are ranked by what ML engineers usually
look at first: losses, then quality scores, then the rest. Bookkeeping
series (learning rate, epoch, step counters, timings) rank last.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from runhistory.api import MetricInfo

_LOSS = re.compile(r"loss|nll|perplexity|ppl|error|err\b|mse|mae|rmse", re.IGNORECASE)
_SCORE = re.compile(r"acc|f1|auc|iou|bleu|rouge|score|map\b|recall|precision|reward|return|dice", re.IGNORECASE)
_BOOKKEEPING = re.compile(
    r"(^|/)(lr|learning[_ ]?rate|epoch|step|steps|iter|time|seconds|sec|gpu|mem|memory)", re.IGNORECASE
)


def _rank(name: str) -> tuple[int, int]:
    """Lower sorts first: (class, tie-breaker)."""
    leaf = name.rsplit("/", 1)[-1]
    if _BOOKKEEPING.search(name):
        klass = 4
    elif leaf.lower() == "loss":
        klass = 0
    elif _LOSS.search(name):
        klass = 1
    elif _SCORE.search(name):
        klass = 2
    else:
        klass = 3
    # Among equals, training curves before validation ones: they move every step.
    tie = 0 if name.lower().startswith("train") else 1
    return klass, tie


def is_loss_like(name: str) -> bool:
    """Whether lower is better for this metric (a loss or an error), as far as its name tells."""
    return _rank(name)[0] <= 1


def better(name: str) -> str | None:
    """``min`` for a loss or an error, ``max`` for a score, ``None`` when the name does not tell (lr, epoch, …)."""
    klass = _rank(name)[0]
    if klass <= 1:
        return "min"
    return "max" if klass == 2 else None


def rank_metric_names(counts: Mapping[str, int]) -> list[str]:
    """Number metric names, most telling first.

    Args:
        counts: How many runs hold each number metric.
    """
    return sorted(counts, key=lambda n: (*_rank(n), -counts[n], n))


def key_metric_names(runs_metrics: Iterable[Iterable[MetricInfo]], limit: int) -> list[str]:
    """Up to ``limit`` number metrics that the most runs share, most telling first."""
    counts: Counter[str] = Counter()
    for infos in runs_metrics:
        counts.update({m.name for m in infos if m.kind == "number"})
    ranked = [n for n in rank_metric_names(counts) if _rank(n)[0] < 4] or rank_metric_names(counts)
    return ranked[:limit]


def main_series_name(infos: Iterable[MetricInfo]) -> str | None:
    """The number series a run's sparkline shows: its most telling one with 2+ points."""
    counts = {m.name: 1 for m in infos if m.kind == "number" and m.count >= 2}
    ranked = rank_metric_names(counts)
    return ranked[0] if ranked else None


def chart_metric_names(infos: Iterable[MetricInfo]) -> list[str]:
    """Metrics that can be drawn (number series and charts), most telling first."""
    infos = list(infos)
    numbers = rank_metric_names({m.name: 1 for m in infos if m.kind == "number"})
    charts = sorted(m.name for m in infos if m.kind == "chart")
    return numbers + charts


@dataclass(frozen=True)
class RowMetrics:
    """What the runs table shows of one run's metrics.

    Attributes:
        latest: Each metric's newest value, by name.
        spark_name: The series the sparkline draws, if any.
        spark: Its values, downsampled, in logging order.
    """

    latest: dict[str, MetricInfo] = field(default_factory=dict)
    spark_name: str | None = None
    spark: list[float] = field(default_factory=list)

    @property
    def points(self) -> int:
        """Points over every metric: a cheap way to tell whether anything was logged since."""
        return sum(m.count for m in self.latest.values())


def finite_values(values: Iterable[object]) -> list[float]:
    """The finite numbers among ``values`` (NaN and ±inf cannot be drawn)."""
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
