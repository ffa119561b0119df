"""The HTTP server the client tests talk to: CPython's http.server, HTTP/1.1, threaded.

Usage: client_peer.py [--tls CERT KEY]. Listens on 127.0.0.1, port 0, and prints the port on
stdout. Exits when its stdin closes (the test process is gone), so it never outlives a test.
Malformed responses are written by hand through self.wfile.
"""
import gzip
import io
import itertools
import json
import os
import ssl
import sys
import threading
import time
import zlib
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

_conn_ids = itertools.count(1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.conn_id = next(_conn_ids)
        self.drop_next = False

    # --- helpers -----------------------------------------------------------------------------
    def send(self, status, body=b"", ctype="text/plain", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        if status in (204, 304):
            body = b""  # no body, no length: RFC 9110
        else:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        # The head and the body in one write, so that a response arrives in one piece and the
        # tests can tell when its connection went back to the pool.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def raw(self, data):
        self.wfile.write(data)
        self.wfile.flush()

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or "0")
        return self.rfile.read(n) if n else b""

    def stall(self):
        # Never answers; the connection ends when the client gives up (or the peer exits).
        threading.Event().wait(60)
        self.close_connection = True

    # --- dispatch ----------------------------------------------------------------------------
    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True

    def do_GET(self):
        self.route()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_CUSTOM = do_GET

    def route(self):
        if self.drop_next:
            # The connection was marked stale: close it without a byte of response.
            self.close_connection = True
            return
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        name = parts[0]
        query = parse_qsl(url.query, keep_blank_values=True)
        body = self.read_body()

        if name == "hello":
            self.send(200, "hello")
        elif name == "echo":
            self.send(200, json.dumps({
                "method": self.command,
                "path": url.path,
                "query": query,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode("latin-1"),
            }), "application/json")
        elif name == "form":
            self.send(200, json.dumps(parse_qsl(body.decode(), keep_blank_values=True)), "application/json")
        elif name == "multipart":
            msg = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
            fields = []
            for part in msg.iter_parts():
                fields.append({
                    "name": part.get_param("name", header="content-disposition"),
                    "filename": part.get_filename(),
                    "content_type": part.get("Content-Type"),
                    "data": part.get_payload(decode=True).decode("latin-1"),
                })
            self.send(200, json.dumps(fields), "application/json")
        elif name == "conn-id":
            self.send(200, str(self.conn_id))
        elif name == "stale-next":
            # Answers with keep-alive, then closes the connection when the next request comes.
            self.drop_next = True
            self.send(200, str(self.conn_id))
        elif name == "set-close":
            self.send(200, str(self.conn_id), headers=[("Connection", "close")])
            self.close_connection = True
        elif name == "chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in [b"line one\n", b"line two\n", b"x" * 5000, b"\nend"]:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.raw(b"0\r\n\r\n")
        elif name == "big":
            n = int(dict(query).get("n", "1000000"))
            self.send(200, b"0123456789abcdef" * (n // 16))
        elif name == "gzip":
            data = gzip.compress(b"compressed " * 1000)
            self.send(200, data, headers=[("Content-Encoding", "gzip")])
        elif name == "deflate":
            data = zlib.compress(b"deflated " * 1000)
            self.send(200, data, headers=[("Content-Encoding", "deflate")])
        elif name == "raw-deflate":
            c = zlib.compressobj(wbits=-15)
            data = c.compress(b"raw deflated " * 100) + c.flush()
            self.send(200, data, headers=[("Content-Encoding", "deflate")])
        elif name == "bad-gzip":
            data = bytearray(gzip.compress(b"compressed " * 1000))
            data[20:40] = b"\xff" * 20
            self.send(200, bytes(data), headers=[("Content-Encoding", "gzip")])
        elif name == "close-delimited":
            self.raw(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close")
            self.close_connection = True
        elif name == "cut-mid-body":
            self.raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
            self.close_connection = True
        elif name == "bad-chunk":
            self.raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nxx\r\n0\r\n\r\n")
            self.close_connection = True
        elif name == "bad-status":
            self.raw(b"HTTP/1.1 2x0 Broken\r\nContent-Length: 0\r\n\r\n")
            self.close_connection = True
        elif name == "redirect":
            n = int(parts[1])
            target = "/redirect/%d" % (n - 1) if n > 1 else "/echo"
            self.send(302, "", headers=[("Location", target)])
        elif name == "redirect-to":
            q = dict(query)
            self.send(int(q.get("status", "302")), "", headers=[("Location", q["url"])])
        elif name == "loop":
            self.send(302, "", headers=[("Location", "/loop")])
        elif name == "status":
            code = int(parts[1])
            self.send(code, "status %d" % code)
        elif name == "stall":
            self.stall()
        elif name == "slow-body":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.raw(b"partial")
            self.stall()
        elif name == "drip":
            # 10 pieces, 50 ms apart: a body that takes 0.5 s but never stalls for long.
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            for _ in range(10):
                self.raw(b"d")
                time.sleep(0.05)
        elif name == "latin1":
            self.send(200, "caf\u00e9 na\u00efve".encode("latin-1"), "text/plain; charset=ISO-8859-1")
        elif name == "json":
            self.send(200, json.dumps({"answer": 42, "list": [1, 2]}), "application/json")
        elif name == "problem-json":
            self.send(200, json.dumps({"title": "x"}), "application/problem+json")
        elif name == "not-json":
            self.send(200, json.dumps({"a": 1}), "text/plain")
        elif name == "informational":
            self.raw(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                     b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
        else:
            self.send(404, "no such endpoint")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if len(sys.argv) >= 4 and sys.argv[1] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the test process closes our stdin
    os._exit(0)


if __name__ == "__main__":
    main()
