"""trazo's HTTP client when a server dies mid-answer: "unreachable", never a crash."""

from __future__ import annotations

import socket
import threading

import pytest

from api.cli.client import get_json, post_text, post_with_retries
from ledger.outbox import Unreachable


@pytest.fixture
def truncating_server() -> str:
    """Answers every request with a Content-Length it never delivers, then hangs up (a
    server killed while it writes its answer)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 1265\r\n\r\n{"events": ['
                )

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1/events"
    listener.close()


def test_an_answer_cut_short_is_unreachable_and_retried(truncating_server: str) -> None:
    with pytest.raises(Unreachable):
        post_with_retries(truncating_server, {"events": []}, retries=1)
    with pytest.raises(Unreachable):
        get_json(truncating_server, retries=0)
    with pytest.raises(Unreachable):
        post_text(truncating_server, b"old 0\n\n")
