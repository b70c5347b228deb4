"""E-mail in (issue 15, Sources): the ingress's SMTP listener (--smtp-listen) and
POST message/rfc822, with Python's smtplib and swaks as senders."""

import base64
import json
import os
import re
import smtplib
import socket
import subprocess
import time
from email.message import EmailMessage

from harness import check, expect_error, free_port, meta

QUEUED_RE = re.compile(r"queued as (evt_[0-9A-HJKMNP-TV-Z]{26})")


def start(env, **extra):
    port = free_port()
    env.smtp_port = port
    extra = dict({"HOOKBRIDGE_SMTP_LISTEN": "127.0.0.1:%d" % port}, **extra)
    env.start_ingress(extra=extra)
    return port


def smtp(env, timeout=20):
    return smtplib.SMTP("127.0.0.1", env.smtp_port, timeout=timeout)


def send(env, msg, to, sender="alice@example.com"):
    """Send with smtplib; returns the event id from the 250 after DATA."""
    with smtp(env) as s:
        s.ehlo("client.example")
        s.mail(sender)
        for r in to:
            code, text = s.rcpt(r)
            check(code == 250, "RCPT %s: %d %r" % (r, code, text))
        code, text = s.data(msg if isinstance(msg, bytes) else msg.as_bytes())
        check(code == 250, "end of DATA: %d %r" % (code, text))
        m = QUEUED_RE.search(text.decode())
        check(m, "250 without an event id: %r" % text)
        return m.group(1)


def rich_message(to):
    msg = EmailMessage()
    msg["From"] = "Zoë Example <zoe@example.com>"
    msg["To"] = to
    msg["Cc"] = "Bob <bob@example.org>"
    msg["Subject"] = "Bestellung #42 ✓"
    msg["Message-ID"] = "<order-42@example.com>"
    msg["Date"] = "Thu, 03 Dec 2026 11:30:00 +0100"
    msg.set_content("Grüße, order 42 shipped.\n", cte="8bit")
    msg.add_alternative("<p>Order 42 <b>shipped</b> — 100% sure, a long line to be "
                        "soft-broken by quoted-printable encoding, really long.</p>\n",
                        subtype="html", cte="quoted-printable")
    msg.add_attachment(b"\x89PNG\r\n\x1a\n\x00\x01binary", maintype="image", subtype="png",
                       filename="label.png")
    return msg


@meta(est=6)
def test_mail_smtplib_to_sink(env):
    start(env)
    sink = env.sink()
    b = env.create_bridge(outbound_url=sink.url("/mail"))
    eid = send(env, rich_message("%s@hooks.example" % b["endpoint"]),
               ["%s@hooks.example" % b["endpoint"]])
    ev = env.event(eid)
    check(ev.get("bridge_id") == b["id"], "bridge_id %r" % ev.get("bridge_id"))
    req = ev.get("request") or {}
    check(req.get("method") == "SMTP", "request.method %r" % req.get("method"))
    check(req.get("path") == "/hooks/" + b["endpoint"], "request.path %r" % req.get("path"))
    hdrs = req.get("headers") or {}
    check(hdrs.get("x-smtp-mail-from") == "alice@example.com", "headers %r" % hdrs)
    check(hdrs.get("x-smtp-rcpt-to") == "%s@hooks.example" % b["endpoint"], "headers %r" % hdrs)
    env.start_worker()
    env.wait_event(eid, {"delivered"})
    got = sink.by_event(eid)
    check(len(got) == 1, "sink saw %d requests" % len(got))
    p = json.loads(got[0].body)
    check(p["from"] == {"name": "Zoë Example", "address": "zoe@example.com"}, "from %r"
          % p["from"])
    check(p["to"] == [{"name": None, "address": "%s@hooks.example" % b["endpoint"]}],
          "to %r" % p["to"])
    check(p["cc"] == [{"name": "Bob", "address": "bob@example.org"}], "cc %r" % p["cc"])
    check(p["subject"] == "Bestellung #42 ✓", "subject %r" % p["subject"])
    check(p["date"] == "2026-12-03T10:30:00Z", "date %r" % p["date"])
    check(p["message_id"] == "order-42@example.com", "message_id %r" % p["message_id"])
    check(p["text"].startswith("Grüße, order 42 shipped."), "text %r" % p["text"])
    check("<b>shipped</b> — 100% sure, a long line to be soft-broken" in p["html"]
          and "=\n" not in p["html"], "html %r" % p["html"])
    check(p["headers"].get("subject") == "Bestellung #42 ✓", "headers %r" % p["headers"])
    a = p["attachments"]
    check(len(a) == 1 and a[0]["filename"] == "label.png" and a[0]["content_type"] == "image/png",
          "attachments %r" % a)
    raw = base64.b64decode(a[0]["content_base64"])
    check(raw == b"\x89PNG\r\n\x1a\n\x00\x01binary" and a[0]["size"] == len(raw),
          "attachment bytes %r size %r" % (raw, a[0]["size"]))
    check("json" in (got[0].header("content-type") or ""), "content-type at the sink %r"
          % got[0].header("content-type"))


def swaks(env, *args, data=None):
    argv = ["swaks", "--server", "127.0.0.1", "--port", str(env.smtp_port), "--helo",
            "swaks.example", "--from", "bob@example.org", "--timeout", "20"] + list(args)
    if data is not None:
        path = os.path.join(env.dir, "swaks-%d.eml" % time.time_ns())
        with open(path, "wb") as f:
            f.write(data)
        argv += ["--data", path]
    return subprocess.run(argv, capture_output=True, timeout=60)


@meta(est=8)
def test_mail_swaks_malformed_and_8bit(env):
    start(env)
    sink = env.sink()
    b = env.create_bridge(outbound_url=sink.url("/mail"))
    to = "%s@anything.test" % b["endpoint"]
    # Broken MIME: an unclosed boundary and base64 with junk; still an event.
    bad = (b"From: bob@example.org\r\nTo: " + to.encode() + b"\r\nSubject: broken\r\n"
           b"Content-Type: multipart/mixed; boundary=\"never\"\r\n\r\n--never\r\n"
           b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           b"JVBE!!!Ri0x\r\n..a dot-stuffed line\r\n")
    r = swaks(env, "--to=" + to, "--pipeline", data=bad)
    out = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0, "swaks malformed: rc %d\n%s" % (r.returncode, out[-1500:]))
    ids = QUEUED_RE.findall(out)
    check(len(ids) == 1, "no event id in swaks output:\n%s" % out[-1500:])
    p = json.loads(env.event(ids[0])["request"]["body"]
                   if isinstance(env.event(ids[0])["request"]["body"], str)
                   else json.dumps(env.event(ids[0])["request"]["body"]))
    check(p["subject"] == "broken" and len(p["attachments"]) == 1
          and p["attachments"][0]["content_type"] == "application/pdf", "payload %r" % p)
    # 8-bit Latin-1 body with no charset, raw 8-bit header.
    latin = (b"From: J\xfcrgen <j@example.org>\r\nTo: " + to.encode() +
             b"\r\nSubject: caf\xe9\r\n\r\nCaf\xe9 cr\xe8me\r\n")
    r = swaks(env, "--to=" + to, data=latin)
    out = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0, "swaks 8bit: rc %d\n%s" % (r.returncode, out[-1500:]))
    eid = QUEUED_RE.findall(out)[0]
    env.start_worker()
    env.wait_event(eid, {"delivered"})
    p = json.loads(sink.by_event(eid)[0].body)
    check(p["text"].startswith("Café crème\r\n") and p["subject"] == "café"
          and p["from"]["name"] == "Jürgen", "8-bit payload %r" % p)


@meta(est=6)
def test_mail_refusals(env):
    start(env, HOOKBRIDGE_MAX_BODY="2000")
    ok = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    paused = env.create_bridge(outbound_url="http://127.0.0.1:9/x", active=False)
    signed = env.create_bridge(outbound_url="http://127.0.0.1:9/x",
                               auth={"type": "token", "secret": "s3cret-token-value"})
    with smtp(env) as s:
        code, text = s.ehlo("c.example")
        check(code == 250 and b"SIZE 2000" in text, "EHLO: %d %r" % (code, text))
        s.mail("a@b.c")
        code, text = s.rcpt("nosuchendpoint@x.test")
        check(code == 550 and text.startswith(b"5.1.1"), "unknown endpoint: %d %r"
              % (code, text))
        code, _ = s.rcpt("not an address")
        check(code in (501, 550), "bad address: %d" % code)
        code, text = s.rcpt("%s@x.test" % paused["endpoint"])
        check(code == 450, "paused bridge: %d %r" % (code, text))
        code, text = s.rcpt("%s@x.test" % signed["endpoint"])
        check(code == 550 and text.startswith(b"5.7.1"), "bridge with auth: %d %r"
              % (code, text))
        code, _ = s.rset()
        check(code == 250, "RSET")
        # SIZE declared over --max-body: 552 at MAIL.
        code, text = s.mail("a@b.c", ["SIZE=5000"])
        check(code == 552, "MAIL SIZE=5000: %d %r" % (code, text))
        code, _ = s.docmd("DATA")
        check(code == 503, "DATA without MAIL: %d" % code)
        code, _ = s.noop()
        check(code == 250, "NOOP")
        code, _ = s.docmd("VRFY", "x")
        check(code == 502, "VRFY: %d" % code)
    # An undeclared message over the limit: read to its end, then 552; nothing queued.
    big = (b"From: a@b.c\r\nSubject: big\r\n\r\n" + b"x" * 70 + b"\r\n") * 40
    sock = socket.create_connection(("127.0.0.1", env.smtp_port), timeout=20)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"EHLO c\r\n")
    while f.readline()[3:4] == b"-":
        pass
    sock.sendall(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<%s@x.test>\r\nDATA\r\n" % ok["endpoint"].encode())
    check(f.readline().startswith(b"250"), "MAIL")
    check(f.readline().startswith(b"250"), "RCPT")
    check(f.readline().startswith(b"354"), "DATA")
    sock.sendall(big + b".\r\n")
    line = f.readline()
    check(line.startswith(b"552 5.3.4"), "oversized message: %r" % line)
    sock.sendall(b"QUIT\r\n")
    check(f.readline().startswith(b"221"), "QUIT")
    sock.close()
    check(env.redis.client("LLEN", "hb:queue:ready") == 0, "a refused mail was queued")


@meta(est=10, timeout=90)
def test_mail_redis_down_451(env):
    start(env)
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    env.redis.stop()
    msg = b"From: a@b.c\r\nSubject: while down\r\n\r\nhello\r\n"
    with smtp(env) as s:
        s.ehlo("c.example")
        s.mail("a@b.c")
        code, _ = s.rcpt("%s@x.test" % b["endpoint"])
        check(code == 250, "RCPT with Redis down: %d (bridges live in SQLite)" % code)
        code, text = s.data(msg)
        check(code == 451, "end of DATA with Redis down: %d %r, expected 451" % (code, text))
    env.redis.start()
    deadline = time.time() + 15
    while True:
        try:
            eid = send(env, msg, ["%s@x.test" % b["endpoint"]])
            break
        except AssertionError:
            check(time.time() < deadline, "no 250 within 15 s of Redis coming back")
            time.sleep(0.2)
    check(env.event(eid)["status"] == "queued", "event after Redis came back")
    check(env.ingress.alive(), "the ingress died")


@meta(est=14, timeout=60)
def test_mail_slow_client_timed_out(env):
    """A command trickled a byte at a time is cut at the command timeout (10 s) from its
    first byte, however steadily it trickles; an idle client gets the same 421 later."""
    start(env)
    sock = socket.create_connection(("127.0.0.1", env.smtp_port), timeout=30)
    f = sock.makefile("rb")
    check(f.readline().startswith(b"220"), "greeting")
    t0 = time.time()
    line = b""
    sock.settimeout(1.0)
    for c in b"EHLO slowloris.example.com.and.more.and.more":
        try:
            sock.sendall(bytes([c]))
            line = sock.recv(200)
            break
        except socket.timeout:
            continue
        except OSError:
            break
    elapsed = time.time() - t0
    check(line.startswith(b"421 4.4.2"), "slow command: %r after %.1f s" % (line, elapsed))
    check(9 <= elapsed <= 14, "cut after %.1f s, expected about 10" % elapsed)
    sock.close()


@meta(est=6)
def test_mail_several_recipients(env):
    start(env)
    sink = env.sink()
    b1 = env.create_bridge(outbound_url=sink.url("/one"))
    b2 = env.create_bridge(outbound_url=sink.url("/two"))
    msg = b"From: a@b.c\r\nSubject: both\r\n\r\nfor two bridges\r\n"
    # b1 twice (two domains): still one event for it.
    send(env, msg, ["%s@x.test" % b1["endpoint"], "%s@y.test" % b2["endpoint"],
                    "%s@z.test" % b1["endpoint"]])
    check(env.redis.client("LLEN", "hb:queue:ready") == 2, "expected 2 jobs")
    env.start_worker()
    sink.wait_requests(2)
    time.sleep(0.5)
    paths = sorted(r.path for r in sink.snapshot())
    check(paths == ["/one", "/two"], "sink paths %r" % paths)
    for r in sink.snapshot():
        check(json.loads(r.body)["subject"] == "both", "payload %r" % r.body)
    # The same bytes again (a sender retrying): queued once per bridge, not twice.
    send(env, msg, ["%s@x.test" % b1["endpoint"]])
    time.sleep(1)
    check(len(sink.snapshot()) == 2, "a retried message was delivered again")


@meta(est=4)
def test_mail_rfc822_post(env):
    env.start_ingress()
    sink = env.sink()
    b = env.create_bridge(outbound_url=sink.url("/posted"))
    raw = (b"From: Ann <ann@example.com>\r\nTo: x@y.z\r\nSubject: posted\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>hi</p>\r\n")
    eid = env.send(b, body=raw, content_type="message/rfc822")
    req = env.event(eid)["request"]
    body = req["body"] if isinstance(req["body"], dict) else json.loads(req["body"])
    check(body["subject"] == "posted" and body["html"] == "<p>hi</p>\r\n"
          and body["from"]["address"] == "ann@example.com", "payload %r" % body)
    env.start_worker()
    env.wait_event(eid, {"delivered"})
    got = sink.by_event(eid)[0]
    check(got.header("content-type") == "application/json", "forwarded as %r"
          % got.header("content-type"))
    check(json.loads(got.body) == body, "forwarded %r" % got.body)
    # A schema sees the parsed message.
    s = env.create_bridge(outbound_url="http://127.0.0.1:9/x",
                          schema={"type": "object", "required": ["subject"],
                                  "properties": {"subject": {"const": "expected"}}})
    expect_error(env.hook(s, body=raw, content_type="message/rfc822"), 400,
                 "validation_failed", "rfc822 against a schema")


def make_cert(env):
    cert = os.path.join(env.dir, "smtp.crt")
    key = os.path.join(env.dir, "smtp.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@meta(est=8)
def test_mail_starttls(env):
    cert, key = make_cert(env)
    start(env, HOOKBRIDGE_TLS_CERT=cert, HOOKBRIDGE_TLS_KEY=key)
    sink = env.sink()
    b = env.create_bridge(outbound_url=sink.url("/tls"))
    to = "%s@x.test" % b["endpoint"]
    # swaks --tls: STARTTLS is offered, required by the client, and the mail goes through.
    r = swaks(env, "--to=" + to, "--tls", "--header", "Subject: over tls", "--body", "secret body")
    out = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0, "swaks --tls: rc %d\n%s\nstderr: %s" % (
        r.returncode, out[-2000:], r.stderr.decode("utf-8", "replace")[-1000:]))
    check("250-STARTTLS" in out and "TLS started" in out, "no STARTTLS in:\n%s" % out[-2000:])
    eid = QUEUED_RE.findall(out)[0]
    # smtplib's starttls too.
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtp(env) as s:
        s.ehlo("c.example")
        check(s.has_extn("starttls"), "STARTTLS not advertised")
        code, _ = s.starttls(context=ctx)
        check(code == 220, "STARTTLS: %d" % code)
        code, text = s.ehlo("c.example")
        check(code == 250 and b"STARTTLS" not in text, "EHLO after TLS: %d %r" % (code, text))
        s.sendmail("a@b.c", [to], b"Subject: smtplib tls\r\n\r\nhi\r\n")
    # Bytes pipelined behind STARTTLS are dropped, not run inside the TLS session.
    sock = socket.create_connection(("127.0.0.1", env.smtp_port), timeout=20)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"EHLO c\r\n")
    while f.readline()[3:4] == b"-":
        pass
    sock.sendall(b"STARTTLS\r\nNOOP injected\r\n")
    check(f.readline().startswith(b"220 2.0.0"), "STARTTLS answer")
    tls = ctx.wrap_socket(sock, server_hostname="localhost")
    tls.sendall(b"EHLO after\r\n")
    first = tls.recv(1000)
    check(first.startswith(b"250-"), "first answer inside TLS %r (an injected NOOP ran?)" % first)
    tls.close()
    env.start_worker()
    env.wait_event(eid, {"delivered"})
    p = json.loads(sink.by_event(eid)[0].body)
    check(p["subject"] == "over tls" and p["text"].startswith("secret body"), "payload %r" % p)


@meta(est=4)
def test_mail_no_starttls_without_cert(env):
    start(env)
    with smtp(env) as s:
        s.ehlo("c")
        check(not s.has_extn("starttls"), "STARTTLS offered without a certificate")
        code, _ = s.docmd("STARTTLS")
        check(code == 502, "STARTTLS without a certificate: %d" % code)


@meta(est=5)
def test_mail_dedup(env):
    """dedup applies to mail: a second message with the same subject-made key queues nothing
    and is answered with the first event id (SPEC Sources: dedup, E-mail in)."""
    start(env)
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/m",
                          dedup={"key": "$payload.subject", "on_duplicate": "reject"})
    to = "%s@hooks.example" % b["endpoint"]

    def msg(subject, text):
        m = EmailMessage()
        m["From"] = "design@example.com"
        m["To"] = to
        m["Subject"] = subject
        m.set_content(text)
        return m

    first = send(env, msg("Design 7", "first"), [to])
    again = send(env, msg("Design 7", "second, other bytes"), [to])
    check(again == first, "duplicate answered %s, first %s" % (again, first))
    other = send(env, msg("Design 8", "first"), [to])
    check(other != first, "another key was deduplicated")
    check(env.redis.client("LLEN", "hb:queue:ready") == 2, "queued %r" %
          env.redis.client("LLEN", "hb:queue:ready"))
