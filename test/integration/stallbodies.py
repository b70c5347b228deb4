"""Request bodies crafted to stall an ingress that hashes or matches naively (issue 11), for
test_stalls.py and scripts/bench. Each builder returns (schema, content_type, body bytes)
for a bridge with that inbound schema; bodies stay within `limit` bytes (the default
--max-body is 1 MiB).

  form_flood      form fields whose names all share one 32-bit FNV-1a hash (a
                  multi-collision built block by block), against a table hashed with it
  unique_flood    a uniqueItems array of distinct pairs [a, b] that all shared one hash
                  under the old invertible mix (h * 31 + item), by inverting it
  regex_keys      1,000 property names on which ^(a+)+$ backtracks to PCRE2's old per-match
                  limit (43 KB)
  regex_flood     as many names as fit, each backtracking a little under a one-match limit
"""

import json
import math
import random
import struct

MASK64 = (1 << 64) - 1
FNV_PRIME = 16777619
FNV_OFFSET = 2166136261
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _fnv_step(h, s):
    for c in s.encode():
        h = ((h ^ c) * FNV_PRIME) & 0xFFFFFFFF
    return h


def fnv_multicollision(stages, seed=11):
    """2**stages distinct strings with one 32-bit FNV-1a value. Each stage finds two 4-letter
    blocks that lead from the current state to the same next state: 3-letter prefixes whose
    states differ only in the low 8 bits (a birthday search on the top 24), then last
    letters that make the states equal before the last multiplication. Any choice of one
    block per stage then ends in the same state."""
    rnd = random.Random(seed)
    letters = set(ALPHABET)
    state = FNV_OFFSET
    pairs = []
    for _ in range(stages):
        seen = {}
        found = None
        while found is None:
            pre = "".join(rnd.choice(ALPHABET) for _ in range(3))
            h = _fnv_step(state, pre)
            other = seen.get(h >> 8)
            if other is not None and other[0] != pre and other[1] != h:
                d = (other[1] ^ h) & 0xFF
                for c1 in ALPHABET:
                    c2 = chr(ord(c1) ^ d)
                    if c2 in letters:
                        found = (other[0] + c1, pre + c2)
                        state = _fnv_step(other[1], c1)
                        break
            seen[h >> 8] = (pre, h)
        pairs.append(found)
    out = [""]
    for a, b in pairs:
        out = [x + a for x in out] + [x + b for x in out]
    return out


def form_flood(limit=1 << 20):
    keys = fnv_multicollision(15)
    parts = []
    size = 0
    for k in keys:
        part = k + "=1"
        if size + len(part) + 1 > limit:
            break
        parts.append(part)
        size += len(part) + 1
    return {"type": "object"}, "application/x-www-form-urlencoded", "&".join(parts).encode()


# -- the uniqueItems hash before issue 11, inverted --------------------------------------
GOLDEN = 0x9E3779B97F4A7C15
MIX = 0xBF58476D1CE4E5B9
CJSON_NUMBER = 8
CJSON_ARRAY = 32


def _finish(h):
    h ^= h >> 29
    h = (h * MIX) & MASK64
    return h ^ (h >> 32)


def _unfinish(y):
    h1 = ((y ^ (y >> 32)) * pow(MIX, -1, 1 << 64)) & MASK64
    return h1 ^ (h1 >> 29) ^ (h1 >> 58)


def _old_hash_number(d):
    bits = struct.unpack("<Q", struct.pack("<d", d))[0]
    return _finish(((CJSON_NUMBER * GOLDEN) & MASK64) ^ bits)


def _partner(a):
    """A finite number b such that the old hash of [a, b] is the same for every a."""
    base = (CJSON_ARRAY * GOLDEN * 31 * 31) & MASK64
    want = (-base - 31 * _old_hash_number(a)) & MASK64
    bits = _unfinish(want) ^ ((CJSON_NUMBER * GOLDEN) & MASK64)
    b = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if not math.isfinite(b) or b == 0 or _old_hash_number(b) != want:
        return None
    return b


def unique_flood(limit=1 << 20):
    items = []
    size = 2
    i = 0
    while True:
        b = _partner(float(i))
        i += 1
        if b is None:
            continue
        text = "[%d,%s]" % (i - 1, repr(b))
        if size + len(text) + 1 > limit:
            break
        items.append(text)
        size += len(text) + 1
    return {"type": "array", "uniqueItems": True}, "application/json", \
        ("[" + ",".join(items) + "]").encode()


REGEX_SCHEMA = {"type": "object", "patternProperties": {"^(a+)+$": {}}}


def regex_keys(n=1000):
    body = {("a" * 36 + "!%04d" % i): 1 for i in range(n)}
    return REGEX_SCHEMA, "application/json", json.dumps(body, separators=(",", ":")).encode()


def regex_flood(limit=1 << 20):
    """Names of 14 a's then '!': 2**14 backtracking steps each, under a per-match limit,
    as many as fit: only a budget shared by the whole request bounds these."""
    parts = []
    size = 2
    i = 0
    while True:
        part = '"%s!%x":1' % ("a" * 14, i)
        if size + len(part) + 1 > limit:
            break
        parts.append(part)
        size += len(part) + 1
        i += 1
    return REGEX_SCHEMA, "application/json", ("{" + ",".join(parts) + "}").encode()


BODIES = {
    "form_flood": form_flood,
    "unique_flood": unique_flood,
    "regex_keys": regex_keys,
    "regex_flood": regex_flood,
}
