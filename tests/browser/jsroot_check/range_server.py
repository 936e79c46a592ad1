#!/usr/bin/env python3
"""A small static HTTP server with Range support, for the JSROOT browser checks.

    python3 range_server.py --port 8765 --mount /assets=assets --mount /files/demo=DIR [--single-range] [--log FILE]

Python's http.server ignores Range headers; JSROOT reads ROOT files with them:
first a single range (the header), then many ranges in one request
(`Range: bytes=a-b,c-d,...`), answered with a `multipart/byteranges` body.
`--single-range` answers a multi-range request with 416, as servers that only
do single ranges (e.g. tower-http's ServeDir) do, to check JSROOT's fallback to
one range per request. Query strings (JSROOT's `?stamp=...`) are ignored.
Every request is logged as one JSON line (method, path, range, status, bytes)
to --log, so a check can list which assets were loaded and find 404s.
"""
import argparse
import json
import mimetypes
import os
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("application/octet-stream", ".root")


def parse_ranges(header, size):
    """[(start, end_inclusive)] of a `bytes=` header, or None when unsatisfiable/invalid."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(.+)", header)
    if not m:
        return None
    out = []
    for part in m.group(1).split(","):
        part = part.strip()
        a, sep, b = part.partition("-")
        if not sep:
            return None
        if a == "":  # suffix range: the last b bytes
            if not b.isdigit() or int(b) == 0:
                return None
            out.append((max(0, size - int(b)), size - 1))
        else:
            if not a.isdigit() or (b and not b.isdigit()):
                return None
            start, end = int(a), (int(b) if b else size - 1)
            if start >= size or end < start:
                return None
            out.append((start, min(end, size - 1)))
    return out or None


class Handler(BaseHTTPRequestHandler):
    mounts = []  # [(url prefix, directory)], longest prefix first
    single_range = False
    log_lock = threading.Lock()
    log_file = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet; the JSON log is the record
        pass

    def record(self, status, nbytes, rng):
        if self.log_file:
            with self.log_lock, open(self.log_file, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path, "range": rng, "status": status, "bytes": nbytes}) + "\n")

    def resolve(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        for prefix, root in self.mounts:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                rel = path[len(prefix):].lstrip("/")
                full = os.path.realpath(os.path.join(root, rel))
                if full != root and not full.startswith(root + os.sep):
                    return None
                return full
        return None

    def send_plain(self, status, text, extra=()):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.record(status, len(body), self.headers.get("Range"))

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        full = self.resolve()
        if full and os.path.isdir(full):
            full = os.path.join(full, "index.html")
        if not full or not os.path.isfile(full):
            return self.send_plain(404, "not found\n")
        size = os.path.getsize(full)
        ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
        rng = self.headers.get("Range")
        common = [("Accept-Ranges", "bytes"), ("Cache-Control", "no-store"),
                  ("Access-Control-Expose-Headers", "Content-Range, Content-Length, Accept-Ranges")]
        with open(full, "rb") as f:
            if not rng:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(size))
                for k, v in common:
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(f.read())
                return self.record(200, size, None)
            ranges = parse_ranges(rng, size)
            if ranges is None or (self.single_range and len(ranges) > 1):
                return self.send_plain(416, "range not satisfiable\n", [("Content-Range", f"bytes */{size}")] + common)
            if len(ranges) == 1:
                a, b = ranges[0]
                f.seek(a)
                data = f.read(b - a + 1)
                self.send_response(206)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Range", f"bytes {a}-{b}/{size}")
                self.send_header("Content-Length", str(len(data)))
                for k, v in common:
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                return self.record(206, len(data), rng)
            boundary = "gm2dqc-range-boundary"
            parts = []
            for a, b in ranges:
                f.seek(a)
                parts.append(f"--{boundary}\r\nContent-Type: {ctype}\r\nContent-Range: bytes {a}-{b}/{size}\r\n\r\n".encode() + f.read(b - a + 1) + b"\r\n")
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            self.send_response(206)
            self.send_header("Content-Type", f"multipart/byteranges; boundary={boundary}")
            self.send_header("Content-Length", str(len(body)))
            for k, v in common:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.record(206, len(body), rng)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--mount", action="append", default=[], help="URLPREFIX=DIR (repeatable)")
    ap.add_argument("--single-range", action="store_true", help="answer multi-range requests with 416")
    ap.add_argument("--log", help="append one JSON line per request to this file")
    args = ap.parse_args()
    mounts = []
    for m in args.mount:
        prefix, sep, d = m.partition("=")
        if not sep or not prefix.startswith("/"):
            sys.exit(f"bad --mount {m!r}: want /prefix=DIR")
        mounts.append((prefix.rstrip("/") or "/", os.path.realpath(d)))
    Handler.mounts = sorted(mounts, key=lambda p: -len(p[0]))
    Handler.single_range = args.single_range
    Handler.log_file = args.log
    srv = ThreadingHTTPServer((args.bind, args.port), Handler)
    print(f"serving on http://{args.bind}:{srv.server_address[1]}/", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
