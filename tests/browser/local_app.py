"""The Chalice app served in-process (`chalice local`'s server) for the browser tests."""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator


@contextlib.contextmanager
def served_locally(port: int) -> Iterator[str]:
    """Serve the app on 127.0.0.1:port until the block ends; its base URL. `create_local_server`
    swaps the app's class for one derived from it: the original is put back afterwards, so the next
    test can serve it again (twice in one process is otherwise an inheritance cycle)."""
    from chalice.config import Config
    from chalice.local import create_local_server

    from app import app

    original = app.__class__
    server = create_local_server(app, Config.create(chalice_stage="local"), "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, name="chalice-local", daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        app.__class__ = original
