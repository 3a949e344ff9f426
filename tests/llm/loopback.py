"""``plm-recipes llm serve``'s server on a free loopback port, for the tests."""

from __future__ import annotations

import threading


def start_server(backend, **kwargs):
    """A :class:`~plm_recipes.llm.server.ModelServer` named ``tiny-chat`` serving ``backend`` on a free port."""
    from plm_recipes.llm.server import ModelServer

    server = ModelServer(("127.0.0.1", 0), backend, "tiny-chat", **kwargs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_server(server) -> None:
    server.shutdown()
    server.server_close()
