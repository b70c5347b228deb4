"""Peers for the destination tests (test_destinations.py), Python standard library only:
a forward proxy, TLS certificates made with `openssl`, an HTTPS server that requires a
client certificate.

    proxy = ForwardProxy()          # http://127.0.0.1:PORT; .seen lists what it forwarded
    ca = CertAuthority(workdir)     # ca.pem; ca.issue("server", "127.0.0.1") -> (cert, key)
    srv = TLSServer(cert, key, ca_for_clients)   # requires a client cert signed by that CA
"""

import http.server
import os
import sys
import select
import socket
import socketserver
import ssl
import subprocess
import threading
import urllib.parse


class _Threaded(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class ForwardProxy:
    """An HTTP forward proxy: absolute-URI requests are forwarded, CONNECT is tunnelled.
    `answer`, when set, is a status the proxy answers itself without connecting anywhere
    (to prove a request reached it for a destination that does not exist here)."""

    def __init__(self, answer=None):
        self.seen = []
        self.answer = answer
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_CONNECT(self):
                proxy.seen.append(("CONNECT", self.path))
                host, port = self.path.rsplit(":", 1)
                try:
                    up = socket.create_connection((host, int(port)), timeout=10)
                except OSError:
                    self.send_error(502)
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                socks = [self.connection, up]
                try:
                    while True:
                        r, _, _ = select.select(socks, [], [], 10)
                        if not r:
                            break
                        for s in r:
                            data = s.recv(65536)
                            if not data:
                                return
                            (up if s is self.connection else self.connection).sendall(data)
                finally:
                    up.close()
                    self.close_connection = True

            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                proxy.seen.append((self.command, self.path))
                if proxy.answer is not None:
                    self.send_response(proxy.answer)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    return
                u = urllib.parse.urlsplit(self.path)
                import http.client
                c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() not in ("proxy-connection", "connection")}
                c.request(self.command, u.path + ("?" + u.query if u.query else ""), body, hdrs)
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                c.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.server = _Threaded(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


class CertAuthority:
    """A throwaway CA in `workdir`/name; issue() makes a certificate it signs."""

    def __init__(self, workdir, name="ca"):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.key = os.path.join(self.dir, "ca.key")
        self.cert = os.path.join(self.dir, "ca.pem")
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                 "-out", self.cert, "-days", "2", "-subj", "/CN=hookbridge test %s" % name,
                 cwd=self.dir)

    def issue(self, cn, ip=None):
        key = os.path.join(self.dir, cn + ".key")
        csr = os.path.join(self.dir, cn + ".csr")
        crt = os.path.join(self.dir, cn + ".pem")
        ext = os.path.join(self.dir, cn + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:%s\n" % ip if ip else "extendedKeyUsage=clientAuth\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                 "-subj", "/CN=%s" % cn, cwd=self.dir)
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                 "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext, cwd=self.dir)
        return crt, key

    def pem(self):
        return open(self.cert).read()


class TLSServer:
    """HTTPS on 127.0.0.1 answering 200 to every request; with `client_ca`, a client
    certificate signed by it is required. `.seen` lists (path, client CN)."""

    def __init__(self, cert, key, client_ca=None):
        self.seen = []
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                peer = self.connection.getpeercert() or {}
                cn = dict(x[0] for x in peer.get("subject", ())).get("commonName")
                srv.seen.append((self.path, cn))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(client_ca)
        self.server = _Threaded(("127.0.0.1", 0), H)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path="/"):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _import_aiosmtpd():
    """aiosmtpd from the Debian package (python3-aiosmtpd, scripts/install-deps) also when
    the python3 running the tests is another build (pyenv) that does not see
    /usr/lib/python3/dist-packages."""
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        import aiosmtpd  # noqa: F401


class SMTPPeer:
    """An SMTP server (aiosmtpd) on 127.0.0.1 recording each message as
    (mail_from, rcpt_tos, email.message.Message, session). With `tls` (cert, key) it offers
    STARTTLS; `login` (user, password) requires AUTH; `reply` answers DATA with that line
    ("451 try later") instead of 250."""

    def __init__(self, tls=None, login=None, reply=None):
        import email
        import email.policy
        _import_aiosmtpd()
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult
        from harness import free_port

        self.messages = []
        self.reply = reply
        self.logins = []
        peer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if peer.reply:
                    return peer.reply
                msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                               policy=email.policy.default)
                peer.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg,
                                      bool(session.ssl)))
                return "250 OK queued"

        def auth(server, session, envelope, mechanism, data):
            ok = login is not None and (data.login.decode(), data.password.decode()) == login
            peer.logins.append((mechanism, ok))
            return AuthResult(success=ok)

        kw = {}
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            kw["tls_context"] = ctx
        if login:
            kw["authenticator"] = auth
            kw["auth_require_tls"] = bool(tls)
            kw["auth_required"] = True
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kw)
        self.controller.start()

    def url(self, scheme="smtp"):
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def close(self):
        self.controller.stop()


class OAuthServer:
    """An OAuth 2.0 authorization server and a resource server in one (plain HTTP on
    127.0.0.1).

    POST /token: client_credentials, or refresh_token with rotation: every use of the
    current refresh token issues a new one, and a refresh token used twice revokes the
    grant (as Xero does), counted in .reuse. The client authenticates with HTTP Basic, or
    in the body when client_auth == "body". `delay` slows token answers (widening races),
    `expires_in` is the access token's life, `fail` makes /token answer that status.
    POST /api/...: 200 only with a valid, unexpired Bearer token, else 401.
    """

    def __init__(self, client_id, client_secret, refresh_token=None, expires_in=3600,
                 delay=0.0, client_auth="basic"):
        import base64 as b64
        import json as js
        import secrets as sec
        import time as tm

        self.client_id, self.client_secret = client_id, client_secret
        self.refresh = refresh_token
        self.used = set()
        self.reuse = 0
        self.revoked = False
        self.expires_in = expires_in
        self.delay = delay
        self.client_auth = client_auth
        self.fail = None
        self.tokens = {}  # access token -> expiry
        self.issued = []  # every access and refresh token handed out
        self.token_requests = 0
        self.api_requests = []
        self.lock = threading.Lock()
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _answer(self, status, obj):
                data = js.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode()
                if self.path == "/token":
                    return self._token(urllib.parse.parse_qs(body))
                auth = self.headers.get("Authorization") or ""
                tok = auth[7:] if auth.startswith("Bearer ") else None
                with srv.lock:
                    ok = tok in srv.tokens and srv.tokens[tok] > tm.time()
                    srv.api_requests.append((self.path, ok))
                self._answer(200 if ok else 401, {"ok": ok})

            def _token(self, form):
                with srv.lock:
                    srv.token_requests += 1
                if srv.delay:
                    tm.sleep(srv.delay)
                if srv.fail:
                    return self._answer(srv.fail, {"error": "temporarily_unavailable"})
                f = {k: v[0] for k, v in form.items()}
                if srv.client_auth == "basic":
                    auth = self.headers.get("Authorization") or ""
                    try:
                        idsec = b64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") \
                            else ""
                    except ValueError:
                        idsec = ""
                    cid, _, csec = idsec.partition(":")
                    cid, csec = urllib.parse.unquote(cid), urllib.parse.unquote(csec)
                else:
                    cid, csec = f.get("client_id"), f.get("client_secret")
                if (cid, csec) != (srv.client_id, srv.client_secret):
                    return self._answer(401, {"error": "invalid_client"})
                with srv.lock:
                    out = {"token_type": "Bearer", "expires_in": srv.expires_in}
                    if f.get("grant_type") == "refresh_token":
                        rt = f.get("refresh_token")
                        if srv.revoked or rt != srv.refresh:
                            if rt in srv.used:
                                srv.reuse += 1
                                srv.revoked = True
                            return self._answer(400, {"error": "invalid_grant",
                                                      "error_description": "refresh token "
                                                      "not valid"})
                        srv.used.add(rt)
                        srv.refresh = "rt-" + sec.token_urlsafe(18)
                        out["refresh_token"] = srv.refresh
                        srv.issued.append(srv.refresh)
                    elif f.get("grant_type") != "client_credentials":
                        return self._answer(400, {"error": "unsupported_grant_type"})
                    at = "at-" + sec.token_urlsafe(24)
                    srv.tokens[at] = tm.time() + srv.expires_in
                    srv.issued.append(at)
                    out["access_token"] = at
                self._answer(200, out)

        self.server = _Threaded(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def forget_access_tokens(self):
        """The resource server stops accepting every token issued so far (a revocation)."""
        with self.lock:
            self.tokens.clear()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
