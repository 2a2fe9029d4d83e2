#!/usr/bin/env python3
"""A shop's webhook endpoint for tests/webhooks.rs: a real HTTP server that checks every
request with Standard Webhooks' python reference library (standardwebhooks) and answers as
the test tells it.

    hook_receiver.py SECRET

Commands on stdin, one JSON object per line:

    {"mode": "ok"}      answer 200 (the default)
    {"mode": "503"}     answer 503
    {"mode": "hang"}    answer nothing for 60 s (the sender's timeout fires first)
    {"mode": "410"}     answer 410 Gone

Prints one JSON object per line:

    {"ev": "listening", "port": PORT}
    {"ev": "request", "mode", "id", "timestamp", "verified": bool, "error"?, "body": JSON}
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LOCK = threading.Lock()
MODE = {"mode": "ok"}


def emit(**line):
    with LOCK:
        print(json.dumps(line), flush=True)


def make_handler(webhook):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            mode = MODE["mode"]
            line = {
                "ev": "request",
                "mode": mode,
                "id": headers.get("webhook-id"),
                "timestamp": headers.get("webhook-timestamp"),
            }
            try:
                line["body"] = webhook.verify(body, headers)
                line["verified"] = True
            except WebhookVerificationError as e:
                line["verified"] = False
                line["error"] = str(e)
                line["body"] = body.decode("utf-8", "replace")
            emit(**line)
            if mode == "hang":
                time.sleep(60)
                return
            status = {"ok": 200, "503": 503, "410": 410}[mode]
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def read_commands():
    for line in sys.stdin:
        line = line.strip()
        if line:
            MODE["mode"] = json.loads(line)["mode"]


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(Webhook(sys.argv[1])))
    server.daemon_threads = True
    threading.Thread(target=read_commands, daemon=True).start()
    emit(ev="listening", port=server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
