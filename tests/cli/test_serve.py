"""``spinetrack serve`` as a real server process on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from spinetrack.synth.demo_access import DEMO_PASSWORD


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_health_sign_in_page_and_status_for_a_demo_login(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    exe = Path(sys.executable).with_name("spinetrack")
    subprocess.run([exe, "demo", "--patients", "150", "--seed", "2", "--database-url", url, "--json"], check=True,
                   capture_output=True)
    port = _free_port()
    env = {**os.environ, "SPINETRACK_DATABASE_URL": url}
    proc = subprocess.Popen([exe, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "server did not start within 30 s"
                time.sleep(0.2)
        assert r.status_code == 200
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/api/v1/status", timeout=5).status_code == 401  # no data without a login
        with httpx.Client(base_url=base, timeout=10) as c:
            me = c.post("/api/v1/auth/login", json={"username": "researcher", "password": DEMO_PASSWORD}).json()
            body = c.get("/api/v1/status").json()
            assert me["role"] == "researcher" and body["patients"] == 150 and body["database"] == "sqlite"
            page = c.get("/", follow_redirects=True)
        assert page.status_code == 200 and "spinetrack" in page.text
        assert "http://" not in page.text and "https://" not in page.text  # no external assets
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
