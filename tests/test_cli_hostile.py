"""Stored strings and server messages reach the terminal literally and cleaned.

A name like ``[/oops]`` is legal; an escape sequence may sit in a run's command,
its error, a string metric or a server's words. The CLI shows them as text
(never as rich markup) with escape sequences and control characters removed,
while ``--json`` keeps them exact (JSON escapes).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore, NewRun, SeriesBatch

from ._cli import cli, on_a_terminal
from ._liar import Liar, json_answer

# Title change, clipboard write (OSC 52), clear screen (CSI and 8-bit CSI), a hyperlink.
HOSTILE = "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b2J\x1b]8;;http://x\x1b\\"
MARKUP_NAMES = ("[/oops]", "[link=http://x]y[/link]")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("hostile") / "store"
    store = EmbeddedStore(home)
    run = store.create_run(
        NewRun(
            experiment="[/oops]",
            name="[link=http://x]y[/link]",
            command=["python", f"train{HOSTILE}.py"],
            host=f"box{HOSTILE}",
        )
    )
    store.append_metrics(
        run.id,
        {
            "[bold]note": SeriesBatch("string", [f"value{HOSTILE}"], [None], [1.0]),
            "[/x]loss": SeriesBatch("number", [0.5], [None], [1.0]),
        },
    )
    store.put_artifact(run.id, "a/[red]x.txt", f"hello{HOSTILE}\n".encode())
    store.finish_run(run.id, "failed", error=f"Traceback\n{HOSTILE}boom")
    store.close()
    return home, run.id


def escapes(data: bytes) -> list[bytes]:
    """Every escape or C1 control in ``data`` but colour codes (SGR), which a coloured table may hold."""
    text = data.decode("utf-8", errors="replace")
    found = re.findall(r"\x1b\[[0-9;]*m|\x1b.?|[\x07\x80-\x9f]", text)
    return [f.encode() for f in found if not re.fullmatch(r"\x1b\[[0-9;]*m", f)]


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "colour"])
def test_markup_and_escapes_in_stored_strings_are_shown_literally(hostile: tuple[Path, str], terminal: bool) -> None:
    home, run_id = hostile
    env = {"FORCE_COLOR": "1", "COLUMNS": "200"} if terminal else {}
    for args in (
        ["list"],
        ["last"],
        ["info", "-r", run_id[:8]],
        ["info", "-r", run_id[:8], "-m", "[bold]note"],
        ["promote", "-r", run_id[:8], "-ap", "a/[red]x.txt", "-n", f"model-{int(terminal)}"],
        ["assets"],
        ["assets", f"model-{int(terminal)}"],
    ):
        done = cli(home, *args, **env)
        assert done.returncode == 0, (args, done.stderr.decode())
        assert b"Traceback" not in done.stderr, args
        assert escapes(done.stdout) == [], (args, done.stdout)
        if args[0] in ("list", "last", "info") and len(args) == 3:
            for name in MARKUP_NAMES:
                assert name.encode() in done.stdout, (args, name)
    shown = cli(home, "info", "-r", run_id[:8], **env).stdout.decode()
    assert "train.py" in shown and "[bold]note" in shown and "a/[red]x.txt" in shown
    assert "value" in shown and "boom" in shown


def test_json_keeps_stored_strings_exact(hostile: tuple[Path, str]) -> None:
    home, run_id = hostile
    done = cli(home, "info", "-r", run_id[:8], "--json")
    assert done.returncode == 0
    assert escapes(done.stdout) == []  # JSON escapes, never the raw bytes
    doc = json.loads(done.stdout)
    assert doc["experiment"] == "[/oops]" and doc["name"] == "[link=http://x]y[/link]"
    assert doc["command"] == ["python", f"train{HOSTILE}.py"]
    assert doc["metrics"]["[bold]note"]["last"] == f"value{HOSTILE}"
    assert doc["error"] == f"Traceback\n{HOSTILE}boom"


def test_errors_under_json_are_objects_on_stderr_with_the_same_codes(hostile: tuple[Path, str]) -> None:
    home, _ = hostile
    missing = cli(home, "info", "-r", "ffff0000", "--json")
    assert missing.returncode == 1 and missing.stdout == b""
    assert json.loads(missing.stderr) == {"error": "no run 'ffff0000'", "kind": "RunNotFound"}
    usage = cli(home, "list", "--no-such-flag", "--json")
    assert usage.returncode == 2 and usage.stdout == b""
    doc = json.loads(usage.stderr)
    assert doc["kind"] == "UsageError" and "--no-such-flag" in doc["error"]
    both = cli(home, "info", "-r", "ffff", "-a", "x", "-m", "y", "--json")
    assert both.returncode == 2 and json.loads(both.stderr)["kind"] == "UsageError"
    # Without --json: one line, no JSON.
    plain = cli(home, "info", "-r", "ffff0000")
    assert plain.returncode == 1 and plain.stderr.decode().startswith("runhistory: error: no run")


def test_a_servers_words_are_cleaned_on_the_terminal_and_exact_in_json(tmp_path: Path) -> None:
    message = f"no such run{HOSTILE} (from the server)"
    with Liar(lambda request: json_answer({"error": "RunNotFound", "message": message}, 404)) as liar:
        human = cli(tmp_path, "--url", liar.url, "info", "-r", "abcd")
        as_json = cli(tmp_path, "--url", liar.url, "info", "-r", "abcd", "--json")
    assert human.returncode == 1 and as_json.returncode == 1
    assert escapes(human.stderr) == [] and b"no such run" in human.stderr and b"(from the server)" in human.stderr
    assert escapes(as_json.stderr) == []
    assert json.loads(as_json.stderr) == {"error": message, "kind": "RunNotFound"}


def test_an_artifact_shown_on_a_terminal_is_cleaned_and_a_binary_one_refused(
    hostile: tuple[Path, str], tmp_path: Path
) -> None:
    home, run_id = hostile
    code, shown, _ = on_a_terminal(home, "info", "-r", run_id[:8], "-a", "a/[red]x.txt")
    assert code == 0 and b"hello" in shown and escapes(shown) == []
    # Into a pipe the bytes are exact.
    piped = cli(home, "info", "-r", run_id[:8], "-a", "a/[red]x.txt")
    assert piped.stdout == f"hello{HOSTILE}\n".encode()
    store = EmbeddedStore(home)
    store.put_artifact(run_id, "model.bin", b"\0\1\2" * 1000)
    store.close()
    code, shown, err = on_a_terminal(home, "info", "-r", run_id[:8], "-a", "model.bin")
    assert code == 1 and shown == b"" and b"binary" in err
