"""Destinations (SPEC "Destinations"): --proxy, tls, email, oauth2, against real peers on
loopback (peers.py)."""

import json
import os

from harness import check, meta
from peers import CertAuthority, ForwardProxy, OAuthServer, SMTPPeer, TLSServer


@meta(est=6)
def test_proxy_is_the_one_outbound_proxy(env):
    env.start_ingress()
    sink = env.sink()
    proxy = ForwardProxy()
    decoy = ForwardProxy()  # what the environment names: must never be used
    try:
        b = env.create_bridge(outbound_url=sink.url("/via"), retries=0)
        env.start_worker({"HOOKBRIDGE_PROXY": proxy.url, "http_proxy": decoy.url,
                          "HTTP_PROXY": decoy.url, "ALL_PROXY": decoy.url,
                          "no_proxy": "127.0.0.1,localhost"})
        eid = env.send(b)
        env.wait_event(eid, {"delivered"})
        check(len(sink.requests) == 1, "sink got %d requests" % len(sink.requests))
        check(any("/via" in p for _, p in proxy.seen), "the proxy saw %r" % proxy.seen)
        check(not decoy.seen, "the environment's proxy was used: %r" % decoy.seen)
    finally:
        proxy.close()
        decoy.close()


@meta(est=6)
def test_proxy_with_deny_private_checks_the_destination(env):
    env.start_ingress()
    sink = env.sink()
    # The proxy answers itself: a public destination need not exist to prove it was let
    # through, while the proxy's own loopback address is allowed.
    proxy = ForwardProxy(answer=200)
    try:
        private = env.create_bridge(outbound_url=sink.url("/p"), retries=0)
        by_name = env.create_bridge(outbound_url="http://localhost:%d/p" % sink.port, retries=0)
        public = env.create_bridge(outbound_url="http://93.184.216.34/public", retries=0)
        env.start_worker({"HOOKBRIDGE_PROXY": proxy.url, "HOOKBRIDGE_DENY_PRIVATE": "1"})
        for bridge in (private, by_name):
            eid = env.send(bridge)
            ev = env.wait_event(eid, {"failed", "delivered"})
            check(ev["status"] == "failed", "a loopback destination was allowed via the proxy")
            err = ev["attempts"][-1].get("error") or ""
            check("HOOKBRIDGE_DENY_PRIVATE" in err and "loopback" in err, "error %r" % err)
        check(not sink.requests, "the sink was reached")
        check(not proxy.seen, "the proxy was asked for a private destination: %r" % proxy.seen)
        eid = env.send(public)
        ev = env.wait_event(eid, {"failed", "delivered"})
        check(ev["status"] == "delivered", "public destination: %r" % ev["attempts"])
        check(proxy.seen == [("POST", "http://93.184.216.34/public")], "proxy saw %r" % proxy.seen)
    finally:
        proxy.close()


@meta(est=3)
def test_proxy_flag_is_checked_and_worker_only(env):
    import subprocess
    from harness import bin_dir
    import os
    worker = os.path.join(bin_dir(), "hookbridge-worker")
    ingress = os.path.join(bin_dir(), "hookbridge-ingress")
    out = subprocess.run([worker, "--proxy", "htp://user:pw@proxy:3128"], env=env.base_env(),
                         capture_output=True, text=True, timeout=20)
    check(out.returncode != 0 and "HOOKBRIDGE_PROXY" in out.stderr, "worker: %r" % out.stderr)
    check("pw" not in out.stderr, "the proxy's password was printed: %r" % out.stderr)
    out = subprocess.run([ingress, "--proxy", "http://proxy:3128"], env=env.base_env(),
                         capture_output=True, text=True, timeout=20)
    check(out.returncode != 0 and "--proxy" in out.stderr, "ingress: %r" % out.stderr)
    out = subprocess.run([worker, "--help"], env=env.base_env(), capture_output=True,
                         text=True, timeout=20)
    check("--proxy" in out.stdout and "HOOKBRIDGE_PROXY" in out.stdout, out.stdout)


def _secrets_nowhere(env, secrets, what=""):
    """No secret in the store (the SQLite file, or every row of PostgreSQL), in any Redis key or value, in the logs, or in any API
    answer about bridges and events."""
    import subprocess
    if env.store == "sqlite":
        db = open(env.db, "rb").read()
        for name in os.listdir(os.path.dirname(env.db)):
            if name.startswith(os.path.basename(env.db)):  # -wal, -shm too
                db += open(os.path.join(os.path.dirname(env.db), name), "rb").read()
    else:
        # Every column of every row of the PostgreSQL store, as text.
        db = b""
        for table in ("bridges", "events", "meta"):
            for row in env.sql("SELECT t::text FROM %s t" % table):
                db += "".join(str(v) for v in row).encode() + b"\n"
    dump = subprocess.run(["redis-cli", "-p", str(env.redis.port), "--no-raw", "KEYS", "*"],
                          capture_output=True, timeout=20).stdout
    keys = [k for k in subprocess.run(["redis-cli", "-p", str(env.redis.port), "--raw", "KEYS",
                                       "*"], capture_output=True, timeout=20
                                      ).stdout.decode().split("\n") if k]
    for k in keys:
        dump += subprocess.run(["redis-cli", "-p", str(env.redis.port), "--raw", "DUMP", k],
                               capture_output=True, timeout=20).stdout
        for cmd in (["HGETALL", k], ["GET", k], ["LRANGE", k, "0", "-1"],
                    ["ZRANGE", k, "0", "-1", "WITHSCORES"], ["SMEMBERS", k]):
            dump += subprocess.run(["redis-cli", "-p", str(env.redis.port), "--raw"] + cmd,
                                   capture_output=True, timeout=20).stdout
    logs = b"".join(open(p.log_path, "rb").read() for p in env.procs)
    api = env.api("GET", "/api/bridges").body
    for e in env.all_events():
        api += env.api("GET", "/api/events/" + e["id"]).body
    check(b"evt_" in api, "no event was read to check")
    for s in secrets:
        b = s.encode() if isinstance(s, str) else s
        for where, blob in (("store", db), ("redis", dump), ("logs", logs), ("api", api)):
            check(b not in blob, "%s holds the secret %r %s" % (where, s[:12], what))


@meta(est=10)
def test_tls_client_certificate_and_private_ca(env):
    env.start_ingress()
    ca = CertAuthority(env.dir, "serverca")
    clients = CertAuthority(env.dir, "clientca")
    scert, skey = ca.issue("server", ip="127.0.0.1")
    ccert, ckey = clients.issue("hookbridge-client")
    srv = TLSServer(scert, skey, client_ca=clients.cert)
    try:
        key_pem = open(ckey).read()
        tls = {"client_cert": open(ccert).read(), "client_key": key_pem, "ca": ca.pem()}
        b = env.create_bridge(outbound_url=srv.url("/mtls"), retries=0, tls=tls)
        check(b["tls"]["client_key"] == "********", "client_key shown: %r" % b["tls"])
        check(b["tls"]["ca"] == tls["ca"], "ca not shown as given")
        # no client certificate: the server refuses the handshake
        nocert = env.create_bridge(outbound_url=srv.url("/nocert"), retries=0,
                                   tls={"ca": ca.pem()})
        # no private CA: the server's certificate is not trusted
        noca = env.create_bridge(outbound_url=srv.url("/noca"), retries=0,
                                 tls={"client_cert": tls["client_cert"], "client_key": key_pem})
        env.start_worker()
        ev = env.wait_event(env.send(b), {"delivered", "failed"})
        check(ev["status"] == "delivered", "mtls: %r" % ev["attempts"])
        check(("/mtls", "hookbridge-client") in srv.seen, "server saw %r" % srv.seen)
        for bad in (nocert, noca):
            ev = env.wait_event(env.send(bad), {"delivered", "failed"})
            check(ev["status"] == "failed", "%s delivered without %s" % (bad["outbound_url"],
                                                                         "its TLS settings"))
        # PATCH without the key keeps it (write-only)
        r = env.api("PATCH", "/api/bridges/" + b["id"],
                    {"tls": {"client_cert": tls["client_cert"], "ca": tls["ca"]}})
        check(r.status == 200, "PATCH tls without key: %r" % r)
        ev = env.wait_event(env.send(b), {"delivered", "failed"})
        check(ev["status"] == "delivered", "after PATCH: %r" % ev["attempts"])
        body = key_pem.split("\n")[1]  # a line of the key's base64
        _secrets_nowhere(env, [body], "(tls client_key)")
        r = env.api("POST", "/api/bridges", {"outbound_url": srv.url("/x"),
                                              "tls": {"client_cert": tls["client_cert"]}})
        check(r.status == 400 and "client_key" in r.text, "cert without key: %r" % r)
        r = env.api("POST", "/api/bridges", {"outbound_url": srv.url("/x"),
                                              "tls": {"ca": "not pem"}})
        check(r.status == 400 and "tls" in r.text, "bad PEM: %r" % r)
    finally:
        srv.close()


def _wait(cond, timeout=15):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


ORDER = {"order": {"id": "A-1001", "status": "accepted", "customer": {
    "email": "ann@customer.example", "name": "Ann Ärger"}}}


def _order_email(**over):
    e = {"from": "orders@shop.example", "to": ["$payload.order.customer.email"],
         "subject": "Bestellung ${payload.order.id}: ${payload.order.status} ✓",
         "text": "Hello ${payload.order.customer.name}, order ${payload.order.id} is "
                 "${payload.order.status}.",
         "html": "<p>Order <b>${payload.order.id}</b> is ${payload.order.status}</p>"}
    e.update(over)
    return e


@meta(est=8)
def test_email_route_sends_mime_mail(env):
    env.start_ingress()
    smtp = SMTPPeer()  # no STARTTLS offered
    try:
        b = env.create_bridge(outbound_url=smtp.url(), retries=0,
                              email=_order_email(starttls=False))
        strict = env.create_bridge(outbound_url=smtp.url(), retries=0, email=_order_email())
        env.start_worker()
        eid = env.send(b, body=json.dumps(ORDER))
        ev = env.wait_event(eid, {"delivered", "failed"})
        check(ev["status"] == "delivered", "mail: %r" % ev["attempts"])
        check(ev["attempts"][0]["status"] == 250, "attempt status %r" % ev["attempts"][0])
        check(len(smtp.messages) == 1, "server got %d messages" % len(smtp.messages))
        frm, rcpt, msg, _ = smtp.messages[0]
        check(frm == "orders@shop.example", "MAIL FROM %r" % frm)
        check(rcpt == ["ann@customer.example"], "RCPT TO %r" % rcpt)
        check(msg["Subject"] == "Bestellung A-1001: accepted ✓", "subject %r" % msg["Subject"])
        raw_subject = msg.get("Subject").__str__()
        check(eid in msg["Message-ID"], "Message-ID %r" % msg["Message-ID"])
        check(msg.get_content_type() == "multipart/alternative", msg.get_content_type())
        parts = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
        check(parts.get("text/plain") == "Hello Ann Ärger, order A-1001 is accepted.",
              "text part %r" % parts)
        check("<b>A-1001</b>" in parts.get("text/html", ""), "html part %r" % parts)
        check(ev["outbound"]["method"] == "SMTP" and ev["outbound"]["headers"]["To"] ==
              "ann@customer.example", "outbound %r" % ev["outbound"])
        check(raw_subject, "no subject")
        # STARTTLS is required by default: a server without it gets nothing
        eid = env.send(strict, body=json.dumps(ORDER))
        ev = env.wait_event(eid, {"delivered", "failed"})
        check(ev["status"] == "failed", "sent without STARTTLS")
        check(len(smtp.messages) == 1, "a message went out in clear text")
        check("TLS" in (ev["attempts"][0].get("error") or "").upper() or
              "SSL" in (ev["attempts"][0].get("error") or "").upper(),
              "error %r" % ev["attempts"][0])
        # a recipient rendered from input must be one address
        eid = env.send(b, body=json.dumps({"order": {"id": "x", "status": "y", "customer": {
            "email": "a@b.example>\r\nRCPT TO:<c@d.example"}}}))
        ev = env.wait_event(eid, {"delivered", "failed"})
        check(ev["status"] == "failed" and "email.to" in ev["attempts"][0]["error"],
              "smuggled recipient: %r" % ev["attempts"])
        check(len(smtp.messages) == 1, "smuggled recipient was sent")
    finally:
        smtp.close()


@meta(est=10)
def test_email_starttls_login_and_reply_codes(env):
    env.start_ingress()
    ca = CertAuthority(env.dir, "mailca")
    cert, key = ca.issue("mail", ip="127.0.0.1")
    password = "smtp-pw-" + os.urandom(6).hex()
    smtp = SMTPPeer(tls=(cert, key), login=("shop", password))
    try:
        b = env.create_bridge(outbound_url=smtp.url(), retries=0, tls={"ca": ca.pem()},
                              email=_order_email(username="shop", password=password))
        check(b["email"]["password"] == "********", "password shown: %r" % b["email"])
        env.start_worker()
        eid = env.send(b, body=json.dumps(ORDER))
        ev = env.wait_event(eid, {"delivered", "failed"})
        check(ev["status"] == "delivered", "starttls mail: %r" % ev["attempts"])
        check(len(smtp.messages) == 1 and smtp.messages[0][3], "not sent over TLS: %r" %
              smtp.messages)
        check(any(ok for _, ok in smtp.logins), "no successful login: %r" % smtp.logins)
        _secrets_nowhere(env, [password], "(email password)")
        # 4xx: retried; 5xx: final
        b2 = env.create_bridge(outbound_url=smtp.url(), retries=2, retry_delays=[1],
                               tls={"ca": ca.pem()},
                               email=_order_email(username="shop", password=password))
        smtp.reply = "451 4.3.0 try again later"
        eid = env.send(b2, body=json.dumps(ORDER))
        check(_wait(lambda: env.event(eid)["attempts"]), "no attempt")
        ev = env.wait_event(eid, {"retrying", "delivered", "failed"})
        check(ev["status"] == "retrying" and ev["attempts"][0]["status"] == 451,
              "451: %r %r" % (ev["status"], ev["attempts"]))
        smtp.reply = "554 5.7.1 rejected"
        ev = env.wait_event(eid, {"failed", "delivered"}, timeout=30)
        check(ev["status"] == "failed" and ev["attempts"][-1]["status"] == 554 and
              len(ev["attempts"]) == 2, "554 should end it: %r" % ev["attempts"])
    finally:
        smtp.close()


def _oauth_keys(env):
    import subprocess
    out = subprocess.run(["redis-cli", "-p", str(env.redis.port), "--raw", "KEYS", "*oauth*"],
                         capture_output=True, text=True, timeout=20).stdout
    return [k for k in out.split("\n") if k]


@meta(est=25, timeout=120, weight=2)
def test_oauth2_rotating_refresh_tokens_two_workers(env):
    """Xero-style: refresh tokens rotate on every use and a reused one revokes the grant.
    Two workers deliver while short-lived access tokens keep expiring: exactly one
    refreshes each time, the rotated refresh token is stored before it is used again, a
    401 refreshes and resends without an attempt, and no token is anywhere in plain text."""
    import time
    env.start_ingress()
    secret = "cs-" + os.urandom(8).hex()
    srv = OAuthServer("xero-client", secret, refresh_token="rt-initial", expires_in=2,
                      delay=0.3)
    try:
        b = env.create_bridge(
            outbound_url=srv.url("/api/invoices"), retries=3, retry_delays=[1],
            oauth2={"grant": "refresh_token", "token_url": srv.url("/token"),
                    "client_id": "xero-client", "client_secret": secret,
                    "refresh_token": "rt-initial"})
        check(b["oauth2"]["refresh_token"] == "********" and
              b["oauth2"]["client_secret"] == "********", "secrets shown: %r" % b["oauth2"])
        env.start_worker()
        env.start_worker()
        ids = []
        for i in range(24):
            ids.append(env.send(b, body=json.dumps({"n": i})))
            time.sleep(0.25)
        evs = list(env.wait_events(ids, ("delivered", "failed"), timeout=60).values())
        bad = [e for e in evs if e["status"] != "delivered"]
        check(not bad, "not delivered: %r" % [(e["id"], e["status"]) for e in bad][:3])
        check(srv.reuse == 0 and not srv.revoked, "a refresh token was used twice (%d)" %
              srv.reuse)
        rotations = len([t for t in srv.issued if t.startswith("rt-")])
        check(rotations >= 2, "refresh tokens rotated only %d times" % rotations)
        # every request carried a valid token in the end; none was counted as an attempt
        # of its own
        for e in evs:
            full = env.event(e["id"])
            check(len(full["attempts"]) == 1, "%s took %d attempts" % (e["id"],
                                                                       len(full["attempts"])))
            check("Authorization" not in json.dumps(full.get("outbound") or {}),
                  "the token is in the event: %r" % full["outbound"])
        # a 401 from the destination: refreshed once, sent again, one attempt recorded
        srv.expires_in = 3600
        time.sleep(2.2)  # the short-lived token is gone: the next one lives an hour
        env.wait_event(env.send(b, body='{"long":"lived"}'), {"delivered"})
        srv.forget_access_tokens()
        eid = env.send(b, body='{"after":"revocation"}')
        ev = env.wait_event(eid, {"delivered", "failed"})
        check(ev["status"] == "delivered" and len(ev["attempts"]) == 1 and
              ev["attempts"][0]["status"] == 200, "after a 401: %r" % ev["attempts"])
        check(any(not ok for _, ok in srv.api_requests), "no 401 was seen")
        # the rotated refresh token is durable: without Redis's copy, the store's works
        for k in _oauth_keys(env):
            env.redis.client("DEL", k)
        srv.forget_access_tokens()
        eid = env.send(b, body='{"after":"redis lost the token"}')
        ev = env.wait_event(eid, {"delivered", "failed"})
        check(ev["status"] == "delivered", "with the stored refresh token: %r" %
              ev["attempts"])
        check(srv.reuse == 0 and not srv.revoked, "a stale refresh token was used")
        _secrets_nowhere(env, [secret] + srv.issued, "(oauth2)")
    finally:
        srv.close()


@meta(est=10)
def test_oauth2_client_credentials_and_token_endpoint_failure(env):
    env.start_ingress()
    secret = "cc-" + os.urandom(8).hex()
    srv = OAuthServer("svc", secret, client_auth="body")
    try:
        b = env.create_bridge(
            outbound_url=srv.url("/api/x"), retries=1, retry_delays=[1],
            headers={"Authorization": "Bearer static-should-be-replaced"},
            oauth2={"grant": "client_credentials", "token_url": srv.url("/token"),
                    "client_id": "svc", "client_secret": secret, "scope": "write",
                    "client_auth": "body"})
        env.start_worker()
        ids = [env.send(b) for _ in range(5)]
        for eid in ids:
            ev = env.wait_event(eid, {"delivered", "failed"})
            check(ev["status"] == "delivered", "client_credentials: %r" % ev["attempts"])
        check(srv.token_requests == 1, "one shared token expected, %d requests" %
              srv.token_requests)
        # Basic is the default client authentication: the body form server refuses it
        basic = env.create_bridge(
            outbound_url=srv.url("/api/y"), retries=0,
            oauth2={"grant": "client_credentials", "token_url": srv.url("/token"),
                    "client_id": "svc", "client_secret": secret})
        ev = env.wait_event(env.send(basic), {"delivered", "failed"})
        check(ev["status"] == "failed", "basic auth against a body-auth server")
        err = ev["attempts"][0]["error"] or ""
        check("oauth2 token endpoint" in err and "401" in err and "invalid_client" in err,
              "error %r" % err)
        # a failing token endpoint: an attempt failure that says so, retried
        srv.forget_access_tokens()
        for k in _oauth_keys(env):
            env.redis.client("DEL", k)
        srv.fail = 503
        eid = env.send(b)
        ev = env.wait_event(eid, {"retrying", "failed", "delivered"})
        check(ev["status"] == "retrying" and "oauth2 token endpoint: HTTP 503" in
              (ev["attempts"][0]["error"] or ""), "token endpoint down: %r" % ev["attempts"])
        srv.fail = None
        ev = env.wait_event(eid, {"delivered", "failed"}, timeout=30)
        check(ev["status"] == "delivered", "after the endpoint came back: %r" % ev["attempts"])
        _secrets_nowhere(env, [secret] + srv.issued, "(oauth2)")
    finally:
        srv.close()


@meta(est=15, timeout=90)
def test_email_route_is_held_by_its_rate_limit(env):
    """Flow control holds e-mail routes too: 3 order mails on a route limited to 1 per 2 s
    go out spread over the windows, each once."""
    import time
    env.start_ingress()
    smtp = SMTPPeer()
    try:
        b = env.create_bridge(outbound_url=smtp.url(), retries=0,
                              email=_order_email(starttls=False),
                              rate_limit={"requests": 1, "per_seconds": 2})
        ids = [env.send(b, body=json.dumps(ORDER)) for _ in range(3)]
        t0 = time.time()
        env.start_worker()
        for eid in ids:
            ev = env.wait_event(eid, {"delivered", "failed"}, timeout=40)
            check(ev["status"] == "delivered" and len(ev["attempts"]) == 1,
                  "mail: %r" % ev["attempts"])
        took = time.time() - t0
        check(len(smtp.messages) == 3, "server got %d messages" % len(smtp.messages))
        check(took >= 3.5, "3 mails at 1 per 2 s went out in %.1f s" % took)
        env.note("3 mails at 1 per 2 s delivered in %.1f s" % took)
    finally:
        smtp.close()
