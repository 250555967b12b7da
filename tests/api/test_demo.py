"""`trazo demo` as a real process: loads, serves, answers, and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_demo_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    port = _free_port()
    trazo = Path(sys.executable).with_name("trazo")
    command = (
        [str(trazo)]
        if trazo.exists()
        else [sys.executable, "-c", "from api.cli.core import main; main()"]
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [*command, "demo", "--port", str(port), "--dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "trazo serving" in line:
                break
        output = "".join(lines)
        assert "trazo serving" in output, output
        assert "a blended bag" in output and "trazo verify" in output
        base = f"http://127.0.0.1:{port}/api/v1"
        with urllib.request.urlopen(f"{base}/health", timeout=10) as r:
            assert json.loads(r.read())["events"] > 2000
        bag = next(x.split("/p/")[1].strip() for x in lines if "a 100% SPP bag" in x)
        with urllib.request.urlopen(f"{base}/lots/{bag}/origin", timeout=30) as r:
            assert json.loads(r.read())["certified_percent"] == "100.00"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
