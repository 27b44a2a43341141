"""S3 blob store benchmark: one large blob up and down a local SeaweedFS, its speed and memory.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_s3.py              # 200 MiB, 3 repetitions
    .venv/bin/python tests/bench/bench_s3.py --mib 50 --reps 1

It starts ``weed mini`` as the tests do (``tests/_s3.py``), then for each
repetition puts a blob of N MiB made as it is read (never whole in memory),
and reads it back through ``open()`` (which checks its sha256), then puts a blob of the
same size from a regular file (hashed first, then sent straight to its key). It prints how
long ``weed mini`` took to answer, MB/s up and down (median, min, max), and the
peak Python allocations (tracemalloc) and peak resident memory growth
(``VmHWM``, reset before each transfer) of this process during each.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from runhistory.api._s3 import PART_SIZE, S3Blobs  # noqa: E402
from tests._s3 import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedFS  # noqa: E402
from tests.test_blobs import Generated  # noqa: E402

MiB = 1024 * 1024


def peak_rss() -> int:
    """This process's peak resident memory (``VmHWM``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def reset_peak_rss() -> int:
    """Set the peak back to what is resident now (Linux: 5 > clear_refs); returns it."""
    Path("/proc/self/clear_refs").write_text("5")
    return peak_rss()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="blob size in MiB")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    size = args.mib * MiB
    with tempfile.TemporaryDirectory() as folder:
        service = SeaweedFS(Path(folder)).start()
        try:
            print(f"weed mini answered in {service.started_in:.2f} s; blob {args.mib} MiB, part {PART_SIZE // MiB} MiB")
            up, up_file, down, rows = [], [], [], []
            for rep in range(args.reps):
                blobs = S3Blobs(
                    BUCKET, f"bench-{rep}", endpoint=service.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY
                )
                source = Generated(size + rep)  # another blob each time
                base = reset_peak_rss()
                tracemalloc.start()
                began = time.perf_counter()
                sha256, _ = blobs.put(source, limit=size + rep, path="bench")
                up.append(size / MiB / (time.perf_counter() - began))
                put_alloc = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                put_rss = peak_rss() - base

                base = reset_peak_rss()
                tracemalloc.start()
                began = time.perf_counter()
                digest = hashlib.sha256()
                with blobs.open(sha256) as stream:
                    for piece in iter(lambda: stream.read(MiB), b""):
                        digest.update(piece)
                down.append(size / MiB / (time.perf_counter() - began))
                get_alloc = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                get_rss = peak_rss() - base
                assert digest.hexdigest() == sha256 == source.sha256()

                # The same size from a regular file: hashed first, then sent straight to its key.
                file = Path(folder) / "blob.bin"
                other = Generated(size + rep + 7)
                with open(file, "wb") as out:
                    while piece := other.read(MiB):
                        out.write(piece)
                base = reset_peak_rss()
                tracemalloc.start()
                began = time.perf_counter()
                with open(file, "rb") as stream:
                    assert blobs.put(stream, limit=size + rep + 7, path="bench")[0] == other.sha256()
                up_file.append(size / MiB / (time.perf_counter() - began))
                file_alloc = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                file_rss = peak_rss() - base
                file.unlink()
                rows.append((put_alloc, put_rss, get_alloc, get_rss, file_alloc, file_rss))
        finally:
            service.stop()
    print(f"command: {' '.join(sys.argv)}")
    print("| | median | min | max |\n|---|---|---|---|")
    print(
        f"| put MiB/s (a stream: a temporary key, then a copy) | {statistics.median(up):.0f} | {min(up):.0f} | {max(up):.0f} |"
    )
    print(
        f"| put MiB/s (a file: hashed, then to its key) | {statistics.median(up_file):.0f} | {min(up_file):.0f} | {max(up_file):.0f} |"
    )
    print(f"| open+read MiB/s | {statistics.median(down):.0f} | {min(down):.0f} | {max(down):.0f} |")
    for name, index in (
        ("put: peak Python allocations", 0),
        ("put: peak RSS growth", 1),
        ("read: peak Python allocations", 2),
        ("read: peak RSS growth", 3),
        ("put of a file: peak Python allocations", 4),
        ("put of a file: peak RSS growth", 5),
    ):
        values = [row[index] / MiB for row in rows]
        print(f"| {name} (MiB) | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |")


if __name__ == "__main__":
    main()
