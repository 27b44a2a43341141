"""The server's token can stay out of ``ps``: a file, or the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ._cli import cli
from ._server import Server


@pytest.mark.slow
def test_the_token_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-token\n")
    server = Server(tmp_path / "store", "--token-file", str(secret)).start()
    try:
        assert "s3cret" not in " ".join(map(str, server.process.args))  # type: ignore[union-attr]
        refused = cli(tmp_path, "--url", server.url, "list", "--json")
        assert refused.returncode == 1 and json.loads(refused.stderr)["kind"] == "Unauthorized"
        by_flag = cli(tmp_path, "--url", server.url, "--token-file", str(secret), "list", "--json")
        assert by_flag.returncode == 0 and json.loads(by_flag.stdout) == []
        by_file_variable = cli(tmp_path, "--url", server.url, "list", "--json", RUNHISTORY_TOKEN_FILE=str(secret))
        assert by_file_variable.returncode == 0
        by_variable = cli(tmp_path, "--url", server.url, "list", "--json", RUNHISTORY_TOKEN="s3cret-token")
        assert by_variable.returncode == 0
        wrong = tmp_path / "wrong"
        wrong.write_text("nope")
        assert cli(tmp_path, "--url", server.url, "--token-file", str(wrong), "list").returncode == 1
    finally:
        server.stop()


def test_an_empty_or_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    done = cli(tmp_path, "--url", "http://127.0.0.1:9", "--token-file", str(empty), "list")
    assert done.returncode == 1 and b"token file" in done.stderr and b"empty" in done.stderr
    missing = cli(tmp_path, "serve", "--port", "0", "--token-file", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and b"cannot read the token file" in missing.stderr
