"""Shared pytest fixtures."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class LoopbackServer:
    """A small HTTP server on 127.0.0.1 serving in-memory files.

    `add(name, data)` serves `data` at `/<name>`; `add(name, data, cut=True)` announces twice the
    length in Content-Length, sends half the body and closes the connection; `cut='no-length'` sends
    half the body without a Content-Length and closes (the client cannot tell it was cut);
    `content_type=` sets that header (e.g. 'text/html' for a proxy's page). Unknown paths get a
    404. `requests` lists every path asked for; `stop()` shuts the server down."""

    def __init__(self):
        self.files, self.cut, self.types, self.requests = {}, {}, {}, []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip('/')
                owner.requests.append(name)
                if name not in owner.files:
                    self.send_error(404, 'Not Found')
                    return
                data = owner.files[name]
                self.send_response(200)
                self.send_header('Content-Type', owner.types.get(name, 'application/octet-stream'))
                if owner.cut.get(name) == 'no-length':
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if name in owner.cut:
                    self.send_header('Content-Length', str(2 * len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f'http://{host}:{port}'

    def url(self, name: str) -> str:
        return f'{self.base}/{name}'

    def add(self, name: str, data: bytes, cut: bool | str = False, content_type: str | None = None) -> str:
        self.files[name] = data
        self.cut.pop(name, None)
        if cut:
            self.cut[name] = cut
        if content_type:
            self.types[name] = content_type
        return self.url(name)

    def stop(self):
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(5)
            self.running = False


@pytest.fixture
def loopback_http_server():
    """A `LoopbackServer` on 127.0.0.1, stopped after the test."""
    srv = LoopbackServer()
    yield srv
    srv.stop()


@pytest.fixture
def seqlab_data_cache(tmp_path, monkeypatch):
    """An empty `SEQLAB_DATA` cache directory for one test (and no `SEQLAB_MIRROR`)."""
    cache = tmp_path / 'seqlab-cache'
    monkeypatch.setenv('SEQLAB_DATA', str(cache))
    monkeypatch.delenv('SEQLAB_MIRROR', raising=False)
    return cache
