"""A tiny HTTP app for routing tests: answers ``<VERSION> <task id>`` on $HOST:$PORT0 (and 127.0.0.1:$PORT0,
where Mesos' TCP check looks) and keeps serving for $GRACE seconds after SIGTERM (as a well-behaved app does
during ``taskKillGracePeriodSeconds``)."""

import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = f"{os.environ.get('VERSION', 'v1')} {os.environ.get('MESOS_TASK_ID', '?')}\n".encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


HOSTS = sorted({os.environ.get("HOST", "127.0.0.1"), "127.0.0.1"})
servers = [ThreadingHTTPServer((host, int(os.environ["PORT0"])), Handler) for host in HOSTS]
for server in servers:
    server.daemon_threads = True


def stop_later(*_: object) -> None:
    def run() -> None:
        time.sleep(float(os.environ.get("GRACE", "2")))
        for server in servers:
            server.shutdown()
    threading.Thread(target=run, daemon=True).start()


signal.signal(signal.SIGTERM, stop_later)
threads = [threading.Thread(target=s.serve_forever) for s in servers]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
sys.exit(0)
