"""System metrics: a daemon thread that logs the machine's state into the run.

Started by ``get_logger()`` in the process that owns the run (not in one that
joined it through ``RUNHISTORY_RUN_ID``, nor in a forked child), or by
``runhistory run`` for the command it runs, it logs through the run's
``log()``, like any caller, every ``interval`` seconds:

- ``sys/cpu``: CPU time this process (all its threads) used since the last
  sample, as a % of the whole machine (all cores): 0 … 100. Under
  ``runhistory run``, the command's processes: it and every process under it.
- ``sys/memory``: the machine's memory in use, % (what is not available to
  new programs, page cache excluded).
- ``sys/rss``: this process's resident memory, bytes (under ``runhistory run``,
  the sum over the command's processes).
- ``sys/disk_io``: bytes read and written by the machine's disks, per second
  since the last sample.
- ``sys/net``: bytes sent and received by the machine, per second.
- ``sys/gpu<N>/util`` (%), ``…/memory`` (% in use), ``…/temperature`` (°C),
  ``…/power`` (W): per NVIDIA GPU, when ``pynvml`` (``nvidia-ml-py``) is
  importable and finds one.

psutil gives all but ``sys/cpu``, which the standard library gives. psutil and
pynvml are imported inside the thread, never by ``import runhistory.logger``.
Without psutil (a platform without its wheel), only ``sys/cpu`` is logged,
and that is said once. The thread never raises into the training process: a
failure is said once through ``logging.getLogger("runhistory")`` and the
sampling goes on.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ._diagnostics import say

#: Seconds before the first sample, at most: a short run still gets one.
FIRST_SAMPLE_AFTER = 1.0
#: Seconds ``stop()`` waits for a sample under way (a GPU query) before leaving it to die with the process.
STOP_WAIT = 2.0

Log = Callable[[str, float], object]


class SystemSampler(threading.Thread):
    """Logs the system metrics through ``log`` every ``interval`` seconds until ``stop()``.

    Args:
        log: The run's ``log(name, value)``.
        interval: Seconds between samples (more than 0).
        pid: Sample this process and every process under it (``runhistory run``'s
            command) rather than the one the sampler runs in.
    """

    def __init__(self, log: Log, interval: float, pid: int | None = None) -> None:
        super().__init__(name="runhistory-system-metrics", daemon=True)
        self._log = log
        self.interval = interval
        self.pid = pid
        self._stopping = threading.Event()
        self._said: set[str] = set()  # what went wrong, said once each

    def stop(self) -> None:
        """Stop sampling; returns at once if a sample is not under way, else waits for it (``STOP_WAIT`` at most)."""
        self._stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(STOP_WAIT)

    def run(self) -> None:
        try:
            sources = _sources(self._say_once, self.pid)
        except Exception as error:  # nothing to sample with: say so, and leave the run alone
            self._say_once("start", f"system metrics are off: {error}")
            return
        wait = min(self.interval, FIRST_SAMPLE_AFTER)
        while not self._stopping.wait(wait):
            wait = self.interval
            for source in sources:
                try:
                    values = source.sample()
                except Exception as error:
                    self._say_once(type(source).__name__, f"could not read system metrics ({source.what}): {error}")
                    continue
                for name, value in values:
                    if self._stopping.is_set():
                        return  # the run is finishing: what is stored stops here
                    try:
                        self._log(name, value)
                    except Exception as error:  # a name the program logs as text, say: the others go on
                        self._say_once(name, f"could not log {name}: {error}")
        for source in sources:
            source.close()

    def _say_once(self, key: str, message: str, level: int = logging.WARNING) -> None:
        if key not in self._said:
            self._said.add(key)
            say(message, level)


class _Source:
    """One kind of numbers: ``sample()`` gives (name, value) pairs."""

    what = ""

    def sample(self) -> list[tuple[str, float]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _ProcessCpu(_Source):
    """``sys/cpu`` from the process's CPU times (standard library)."""

    what = "CPU"

    def __init__(self) -> None:
        self._cores = os.cpu_count() or 1
        self._last = self._now()

    @staticmethod
    def _now() -> tuple[float, float]:
        t = os.times()
        return time.monotonic(), t.user + t.system

    def sample(self) -> list[tuple[str, float]]:
        (wall0, cpu0), (wall1, cpu1) = self._last, self._now()
        self._last = (wall1, cpu1)
        if wall1 <= wall0:
            return []
        return [("sys/cpu", min(100.0, max(0.0, 100.0 * (cpu1 - cpu0) / ((wall1 - wall0) * self._cores))))]


def _tree(process: Any) -> list[Any]:
    """``process`` and every process under it (those that ended meanwhile left out)."""
    try:
        return [process, *process.children(recursive=True)]
    except Exception:
        return [process]


class _TreeCpu(_Source):
    """``sys/cpu`` of a process and every process under it (``runhistory run``'s command), through psutil."""

    what = "CPU"

    def __init__(self, psutil: Any, pid: int) -> None:
        self._psutil = psutil
        self._cores = os.cpu_count() or 1
        self._root = psutil.Process(pid)
        self._last = (time.monotonic(), self._times())

    def _times(self) -> dict[int, float]:
        found: dict[int, float] = {}
        for process in _tree(self._root):
            try:
                t = process.cpu_times()
                found[process.pid] = t.user + t.system
            except self._psutil.Error:  # it ended meanwhile
                pass
        return found

    def sample(self) -> list[tuple[str, float]]:
        (wall0, before), wall1, now = self._last, time.monotonic(), self._times()
        self._last = (wall1, now)
        if wall1 <= wall0:
            return []
        # A process that started since the last sample counts from its start.
        used = sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())
        return [("sys/cpu", min(100.0, max(0.0, 100.0 * used / ((wall1 - wall0) * self._cores))))]


class _Machine(_Source):
    """``sys/memory``, ``sys/rss``, ``sys/disk_io``, ``sys/net`` through psutil."""

    what = "memory, disks, network"

    def __init__(self, psutil: Any, pid: int | None = None) -> None:
        self._psutil = psutil
        self._process = psutil.Process(pid)
        self._tree = pid is not None
        self._last = (time.monotonic(), self._disk(), self._net())

    def _rss(self) -> float:
        if not self._tree:
            return float(self._process.memory_info().rss)
        total = 0
        for process in _tree(self._process):
            try:
                total += process.memory_info().rss
            except self._psutil.Error:  # it ended meanwhile
                pass
        return float(total)

    def _disk(self) -> int | None:
        counters = self._psutil.disk_io_counters()
        return None if counters is None else int(counters.read_bytes + counters.write_bytes)

    def _net(self) -> int | None:
        counters = self._psutil.net_io_counters()
        return None if counters is None else int(counters.bytes_sent + counters.bytes_recv)

    def sample(self) -> list[tuple[str, float]]:
        values = [
            ("sys/memory", float(self._psutil.virtual_memory().percent)),
            ("sys/rss", self._rss()),
        ]
        now, disk, net = time.monotonic(), self._disk(), self._net()
        then, disk0, net0 = self._last
        self._last = (now, disk, net)
        seconds = now - then
        if seconds > 0:
            # A counter that went backwards (it wrapped, a disk went away) gives no rate this time.
            if disk is not None and disk0 is not None and disk >= disk0:
                values.append(("sys/disk_io", (disk - disk0) / seconds))
            if net is not None and net0 is not None and net >= net0:
                values.append(("sys/net", (net - net0) / seconds))
        return values


class _Gpus(_Source):
    """``sys/gpu<N>/…`` through NVML."""

    what = "GPU"

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml
        self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]

    def sample(self) -> list[tuple[str, float]]:
        nvml = self._nvml
        values: list[tuple[str, float]] = []
        for i, handle in enumerate(self.handles):
            prefix = f"sys/gpu{i}"
            values.append((f"{prefix}/util", float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)))
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            if memory.total:
                values.append((f"{prefix}/memory", 100.0 * memory.used / memory.total))
            values.append(
                (f"{prefix}/temperature", float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)))
            )
            try:
                values.append((f"{prefix}/power", nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0))  # mW
            except nvml.NVMLError:  # not every board reports its power
                pass
        return values

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass


def _sources(say_once: Callable[..., None], pid: int | None = None) -> list[_Source]:
    """What this machine can be sampled with (imports psutil and pynvml here, in the thread).

    With ``pid``, the process figures are of that process and those under it.
    """
    sources: list[_Source] = [] if pid is not None else [_ProcessCpu()]
    try:
        import psutil
    except ImportError:
        if pid is not None:
            raise RuntimeError("psutil is not installed: another process cannot be sampled") from None
        say_once("psutil", "psutil is not installed: of the system metrics only sys/cpu is logged")
    else:
        if pid is not None:
            sources.append(_TreeCpu(psutil, pid))
        sources.append(_Machine(psutil, pid))
    if sys.platform == "linux" and not os.path.exists("/proc/driver/nvidia"):
        return sources  # no NVIDIA driver loaded: spare the 20 ms of importing pynvml to learn it
    try:
        # nvidia-ml-py ships no types, and is seldom installed where the type checker runs.
        pynvml = importlib.import_module("pynvml")
    except ImportError:
        return sources  # no NVIDIA tooling: a machine without GPUs, nothing to say
    try:
        pynvml.nvmlInit()
    except Exception:  # the library is there but no driver or GPU: nothing to say either
        return sources
    try:
        gpus = _Gpus(pynvml)
    except Exception as error:
        say_once("gpu", f"could not list the GPUs: {error}")
        pynvml.nvmlShutdown()
        return sources
    if gpus.handles:
        sources.append(gpus)
    else:
        gpus.close()
    return sources
