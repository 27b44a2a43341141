"""A real load balancer (nginx, from Debian's package) in front of server replicas, for the tests.

nginx runs in the foreground (``daemon off``) from a configuration written into the
test's folder: its pid file, logs and temporary files stay there, it listens on an
unused 127.0.0.1 port, and it hands each request to one of the replicas in turn. A
replica that stops answering is passed over for a few seconds. Request and response
bodies stream through unbuffered, as a team would set it up for artifact uploads.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from ._server import unused_port

#: Where Debian's nginx package puts the binary (it is not on a plain user's PATH).
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/bin/nginx")


def find_nginx() -> str:
    """The nginx binary; ``.ci/run`` installs Debian's package when it is missing."""
    found = shutil.which("nginx") or next((p for p in NGINX_PATHS if os.access(p, os.X_OK)), None)
    if found is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx-light (.ci/run does)")
    return found


class Balancer:
    """nginx on ``url`` in front of ``upstreams`` (``host:port`` each)."""

    def __init__(self, folder: Path, upstreams: list[str]) -> None:
        self.folder = folder
        self.upstreams = upstreams
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        folder = self.folder
        servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=5s;" for u in self.upstreams)
        temp = " ".join(
            f"{name}_temp_path {folder / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, nginx's workers would switch to an unprivileged user that cannot write the test's folder.
        user = "user root;" if os.geteuid() == 0 else ""
        return f"""
{user}
daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    {temp}
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    upstream replicas {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://replicas;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_connect_timeout 2s;
            proxy_read_timeout 120s;
            proxy_send_timeout 120s;
        }}
    }}
}}
"""

    def start(self) -> Balancer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = unused_port()
        conf = self.folder / "nginx.conf"
        conf.write_text(self._config())
        self.process = subprocess.Popen(
            [find_nginx(), "-p", str(self.folder), "-c", str(conf), "-e", str(self.folder / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx stopped at start: {self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.02)
        raise RuntimeError(f"nginx did not answer: {self.log()}")

    def log(self) -> str:
        """nginx's error log (what it says about replicas that failed)."""
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: the workers finish their requests
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
