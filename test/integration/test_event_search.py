"""`q` on GET /api/events (issue 13): case-insensitive text in the inbound body, a JSON body
matched on its JSON text, with the other filters and paging; short text (under three
characters, which the trigram index cannot take) still matches; an over-long q is a 400."""

import time
import urllib.parse

from harness import check, expect_error, meta


def _ids(env, query):
    r = env.api("GET", "/api/events?" + query)
    check(r.status == 200, "GET /api/events?%s: %r" % (query, r))
    return [e["id"] for e in r.json()["events"]], r.json().get("next")


@meta(est=3)
def test_q_finds_text_in_the_inbound_body(env):
    env.start_ingress()
    a = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    order = env.send(a, body=b'{"order":"A-10023","note":"Caf\xc3\xa9 Cr\xc3\xa8me"}')
    time.sleep(0.005)
    other = env.send(a, body=b'{"order":"A-10024"}')
    time.sleep(0.005)
    text = env.send(b, body=b"plain text: Order a-10023 shipped",
                    headers={"Content-Type": "text/plain"})
    time.sleep(0.005)
    quoted = env.send(b, body=b'{"say":"he said \\"hi\\" xy"}')

    def q(text, extra=""):
        return _ids(env, "q=" + urllib.parse.quote(text) + extra)[0]

    check(q("A-10023") == [text, order], "q=A-10023: %r" % q("A-10023"))
    check(q("a-10023") == [text, order], "case-insensitive: %r" % q("a-10023"))
    check(q("ORDER A-1002") == [text], "text body, case folded: %r" % q("ORDER A-1002"))
    check(q("A-1002") == [text, other, order], "prefix of several: %r" % q("A-1002"))
    check(q("A-10025") == [], "no match: %r" % q("A-10025"))
    # the JSON text of a JSON body: keys and punctuation too
    check(q('"order":"A-10024"') == [other], "JSON text: %r" % q('"order":"A-10024"'))
    check(q('\\"hi\\"') == [quoted], "escaped quotes in the JSON text: %r" % q('\\"hi\\"'))
    check(q("crème") == [order], "non-ASCII: %r" % q("crème"))
    # fewer than three characters: scanned, still a substring match
    check(q("xy") == [quoted], "two characters: %r" % q("xy"))
    check(set(q("a-")) == {order, other, text}, "two characters, folded: %r" % q("a-"))
    # with the other filters and paging
    check(q("A-1002", "&bridge_id=" + a["id"]) == [other, order], "with bridge_id")
    ids, nxt = _ids(env, "q=A-1002&limit=2")
    check(ids == [text, other] and nxt == other, "page 1: %r %r" % (ids, nxt))
    ids, nxt = _ids(env, "q=A-1002&limit=2&before=" + nxt)
    check(ids == [order] and nxt is None, "page 2: %r %r" % (ids, nxt))
    check(q("A-1002", "&status=delivered") == [], "with a status none has")
    # an empty q is no filter
    check(len(_ids(env, "q=")[0]) == 4, "empty q lists all")


@meta(est=2)
def test_q_too_long_is_a_400(env):
    env.start_ingress()
    r = env.api("GET", "/api/events?q=" + "x" * 257)
    j = expect_error(r, 400, "invalid_parameter", "q of 257 bytes")
    check("q" in j.get("message", ""), "message names q: %r" % j)
    r = env.api("GET", "/api/events?q=" + "x" * 256)
    check(r.status == 200, "q of 256 bytes: %r" % r)
