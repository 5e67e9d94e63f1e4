#!/usr/bin/env python3
"""embed_server.py -- a tiny OpenAI-compatible /v1/embeddings server for the
HTTP embedder's tests (tests/test_text.c).  Real HTTP over a local socket,
with canned, deterministic embeddings:

  embedding(text) = [len(text in UTF-8 bytes), count of "a", 1.0]

Rows come back in reverse order with their "index", so clients must place
them by index.  Model "fail" answers HTTP 500 with an OpenAI-style error
body; model "short" answers one embedding too few; any other path is 404.
GET /count returns {"requests": N}, the number of embedding requests served.

Binds 127.0.0.1 on an ephemeral port and prints "PORT <n>" on stdout, then
serves until killed.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

requests = 0  # a counter; the GIL makes += atomic enough for tests


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/count":
            self.reply(200, {"requests": requests})
        else:
            self.reply(404, {"error": {"message": "no such path"}})

    def do_POST(self):
        global requests
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/embeddings":
            self.reply(404, {"error": {"message": "no such path " + self.path}})
            return
        req = json.loads(body)
        requests += 1
        model, texts = req.get("model"), req.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if model == "fail":
            self.reply(500, {"error": {"message": "model exploded", "type": "server_error"}})
            return
        rows = [{"object": "embedding", "index": i,
                 "embedding": [float(len(t.encode())), float(t.count("a")), 1.0]}
                for i, t in enumerate(texts)]
        if model == "short":
            rows = rows[:-1]
        rows.reverse()
        self.reply(200, {"object": "list", "model": model, "data": rows,
                         "usage": {"prompt_tokens": 0, "total_tokens": 0}})


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("PORT", srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
