/*
 * test_crypto.c - unit tests for common/crypto.c: sealing round trips (empty, text, binary
 * with NULs) with a fresh nonce each time, wrong-key, tamper (every bit of the box) and
 * malformed-input refusal; HMAC-SHA256 against RFC 4231 and openssl; the four base64
 * variants, strict and lenient; hex; crypto_equal; Standard Webhooks signatures against the
 * reference example and openssl; HS256 JWTs made here and by Python's standard library.
 *
 * Constants marked "openssl" or "python3" were produced by the command quoted next to them,
 * run by hand, so that a mistake shared by crypto.c and this file still shows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "xalloc.h"

/* Two keys that differ in one bit of the last byte. */
static const unsigned char key_a[CRYPTO_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, [31] = 0x10};
static const unsigned char key_b[CRYPTO_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, [31] = 0x11};

static const char damaged[] =
    "secret cannot be decrypted: wrong HOOKBRIDGE_SECRET_KEY or damaged value";

/* The nonce||ciphertext inside a sealed value, decoded by this test. */
static unsigned char *box_of(const char *sealed, size_t *len)
{
    assert_int_equal(strncmp(sealed, "sb1:", 4), 0);
    unsigned char *box =
        crypto_b64_decode(sealed + 4, strlen(sealed + 4), CRYPTO_B64_STD, false, len);
    assert_non_null(box);
    return box;
}

static char *sealed_of(const unsigned char *box, size_t len)
{
    char *b64 = crypto_b64_encode(box, len, CRYPTO_B64_STD);
    char *s = xasprintf("sb1:%s", b64);
    free(b64);
    return s;
}

static void test_seal_round_trip(void **state)
{
    (void)state;
    unsigned char big[1000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 7);
    static const unsigned char bin[] = {'a', 0, 'b', 0, 0xff, 0};
    const struct {
        const void *plain;
        size_t len;
    } cases[] = {
        {"", 0}, {NULL, 0}, {"hello", 5}, {bin, sizeof(bin)}, {big, sizeof(big)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = crypto_seal(key_a, cases[i].plain, cases[i].len);
        assert_true(crypto_is_sealed(s));
        /* nonce (24) + tag (16) + plaintext, standard base64 with padding */
        size_t boxlen;
        unsigned char *box = box_of(s, &boxlen);
        assert_int_equal(boxlen, 24 + 16 + cases[i].len);
        assert_int_equal(strlen(s), 4 + (boxlen + 2) / 3 * 4);
        free(box);

        char err[256] = "";
        size_t len = 12345;
        char *p = crypto_open(key_a, s, &len, err, sizeof(err));
        assert_non_null(p);
        assert_int_equal(len, cases[i].len);
        if (cases[i].len > 0)
            assert_memory_equal(p, cases[i].plain, cases[i].len);
        assert_int_equal(p[len], '\0');
        free(p);
        /* len may be NULL */
        p = crypto_open(key_a, s, NULL, err, sizeof(err));
        assert_non_null(p);
        free(p);
        free(s);
    }
}

static void test_seal_fresh_nonce(void **state)
{
    (void)state;
    char *a = crypto_seal(key_a, "same", 4);
    char *b = crypto_seal(key_a, "same", 4);
    assert_string_not_equal(a, b);
    size_t alen, blen;
    unsigned char *ba = box_of(a, &alen);
    unsigned char *bb = box_of(b, &blen);
    assert_int_equal(alen, blen);
    assert_memory_not_equal(ba, bb, 24);
    char err[256];
    char *pa = crypto_open(key_a, a, NULL, err, sizeof(err));
    char *pb = crypto_open(key_a, b, NULL, err, sizeof(err));
    assert_string_equal(pa, "same");
    assert_string_equal(pb, "same");
    free(pa);
    free(pb);
    free(ba);
    free(bb);
    free(a);
    free(b);
}

static void test_open_wrong_key(void **state)
{
    (void)state;
    char *s = crypto_seal(key_a, "s3cr3t", 6);
    char err[256] = "";
    size_t len = 99;
    assert_null(crypto_open(key_b, s, &len, err, sizeof(err)));
    assert_string_equal(err, damaged);
    assert_int_equal(len, 99);
    free(s);
}

/* Every single-bit change anywhere in nonce, tag or ciphertext is refused. */
static void test_open_tamper(void **state)
{
    (void)state;
    char *s = crypto_seal(key_a, "tamper me", 9);
    size_t boxlen;
    unsigned char *box = box_of(s, &boxlen);
    for (size_t i = 0; i < boxlen; i++) {
        for (int bit = 0; bit < 8; bit++) {
            box[i] ^= (unsigned char)(1u << bit);
            char *t = sealed_of(box, boxlen);
            char err[256] = "";
            char *p = crypto_open(key_a, t, NULL, err, sizeof(err));
            if (p != NULL)
                fail_msg("byte %zu bit %d flipped: opened as \"%s\"", i, bit, p);
            assert_string_equal(err, damaged);
            free(t);
            box[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* One byte short (a truncated tag or body) and one byte extra. */
    char *t = sealed_of(box, boxlen - 1);
    char err[256] = "";
    assert_null(crypto_open(key_a, t, NULL, err, sizeof(err)));
    assert_string_equal(err, damaged);
    free(t);
    unsigned char *longer = xmalloc(boxlen + 1);
    memcpy(longer, box, boxlen);
    longer[boxlen] = 0;
    t = sealed_of(longer, boxlen + 1);
    assert_null(crypto_open(key_a, t, NULL, err, sizeof(err)));
    assert_string_equal(err, damaged);
    free(t);
    free(longer);
    /* Untouched, it still opens: the loop above restored each bit. */
    t = sealed_of(box, boxlen);
    char *p = crypto_open(key_a, t, NULL, err, sizeof(err));
    assert_string_equal(p, "tamper me");
    free(p);
    free(t);
    free(box);
    free(s);
}

static void test_open_malformed(void **state)
{
    (void)state;
    char *good = crypto_seal(key_a, "x", 1);
    const char *body = good + 4;
    size_t blen = strlen(body);
    unsigned char short_box[39] = {0};
    char *b64_short = crypto_b64_encode(short_box, sizeof(short_box), CRYPTO_B64_STD);
    char *too_short = xasprintf("sb1:%s", b64_short);
    char *no_prefix = xstrdup(body);
    char *sb2 = xasprintf("sb2:%s", body);
    char *upper = xasprintf("SB1:%s", body);
    char *space = xasprintf("sb1: %s", body);
    char *newline = xasprintf("%s\n", good);
    char *unpadded = xstrndup(good, strcspn(good, "="));
    char *url = xstrdup(good);
    for (char *c = url + 4; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    char *cut = xstrndup(good, 4 + blen - 4);
    const char *cases[] = {
        NULL,      "",  "sb1", "sb1:", "sb1:====", "sb1:!!!!", too_short,
        no_prefix, sb2, upper, space,  newline,    unpadded,   cut,
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        char *p = crypto_open(key_a, cases[i], NULL, err, sizeof(err));
        if (p != NULL)
            fail_msg("case %zu (%s) opened", i, cases[i] ? cases[i] : "NULL");
        if (strncmp(err, "secret cannot be decrypted: ", 28) != 0)
            fail_msg("case %zu: err \"%s\"", i, err);
        assert_false(crypto_is_sealed(cases[i]));
    }
    /* The URL alphabet is refused only when the body holds a + or /. */
    if (strcspn(body, "+/") < blen) {
        char err[256];
        assert_null(crypto_open(key_a, url, NULL, err, sizeof(err)));
    }
    char err[256];
    char *ok = crypto_open(key_a, good, NULL, err, sizeof(err));
    assert_string_equal(ok, "x");
    free(ok);
    free(cut);
    free(url);
    free(unpadded);
    free(newline);
    free(space);
    free(upper);
    free(sb2);
    free(no_prefix);
    free(too_short);
    free(b64_short);
    free(good);
}

static void hex_to_bin(const char *hex, unsigned char *out, size_t *len)
{
    size_t n = 0;
    assert_int_equal(sodium_hex2bin(out, 256, hex, strlen(hex), NULL, &n, NULL), 0);
    *len = n;
}

static void assert_hmac_hex(const void *key, size_t keylen, const void *msg, size_t msglen,
                            const char *want)
{
    unsigned char mac[CRYPTO_HMAC_LEN];
    crypto_hmac_sha256(key, keylen, msg, msglen, mac);
    char *hex = crypto_hex_encode(mac, sizeof(mac));
    assert_string_equal(hex, want);
    free(hex);
}

/* RFC 4231 section 4: test cases 1, 2, 3, 4, 6, 7 (5 is a truncated output). */
static void test_hmac_rfc4231(void **state)
{
    (void)state;
    /* Keys and data of repeated bytes, as hex: 131 x 0xaa, 50 x 0xdd, 50 x 0xcd. */
    char aa131[131 * 2 + 1], dd50[50 * 2 + 1], cd50[50 * 2 + 1];
    for (size_t i = 0; i < 131; i++)
        memcpy(aa131 + 2 * i, "aa", 2);
    for (size_t i = 0; i < 50; i++) {
        memcpy(dd50 + 2 * i, "dd", 2);
        memcpy(cd50 + 2 * i, "cd", 2);
    }
    aa131[sizeof(aa131) - 1] = dd50[sizeof(dd50) - 1] = cd50[sizeof(cd50) - 1] = '\0';
    const struct {
        const char *key_hex, *data_hex, *data;
        const char *want;
    } cases[] = {
        {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", NULL, "Hi There",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {"4a656665", NULL, "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", dd50, NULL,
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {"0102030405060708090a0b0c0d0e0f10111213141516171819", cd50, NULL,
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {aa131, NULL, "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {aa131, NULL,
         "This is a test using a larger than block-size key and a larger than block-size data. "
         "The key needs to be hashed before being used by the HMAC algorithm.",
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char key[256], data[256];
        size_t keylen, datalen;
        hex_to_bin(cases[i].key_hex, key, &keylen);
        if (cases[i].data_hex != NULL) {
            hex_to_bin(cases[i].data_hex, data, &datalen);
        } else {
            datalen = strlen(cases[i].data);
            memcpy(data, cases[i].data, datalen);
        }
        assert_hmac_hex(key, keylen, data, datalen, cases[i].want);
    }
}

static void test_hmac_openssl(void **state)
{
    (void)state;
    /* printf '%s' 'the body' | openssl dgst -sha256 -hmac 'secret' */
    assert_hmac_hex("secret", 6, "the body", 8,
                    "cb3d9b26cc954ff9c9a7d7c6bd8ecd8c3dba0be07e83a297c6adb45a4f805832");
    /* printf '%s' 'the body' | openssl dgst -sha256 -hmac 'secret' -binary | base64 */
    unsigned char mac[CRYPTO_HMAC_LEN];
    crypto_hmac_sha256("secret", 6, "the body", 8, mac);
    char *b64 = crypto_b64_encode(mac, sizeof(mac), CRYPTO_B64_STD);
    assert_string_equal(b64, "yz2bJsyVT/nJp9fGvY7NjD26C+B+g6KXxq20Wk+AWDI=");
    free(b64);
    /* Empty key and empty message are allowed; openssl refuses an empty key, so:
     * python3 -c "import hmac,hashlib;print(hmac.new(b'',b'',hashlib.sha256).hexdigest())" */
    assert_hmac_hex("", 0, "", 0,
                    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* The HMAC runs on OpenSSL's SHA-256: it must agree with libsodium's (the implementation
 * before) for every key length around the 64-byte block (a longer key is hashed first), for
 * messages around block boundaries, and when the message comes in parts. */
static void test_hmac_matches_libsodium(void **state)
{
    (void)state;
    unsigned char key[160], msg[300];
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(i * 7 + 3);
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 13 + 1);
    const size_t msglens[] = {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 300};
    for (size_t keylen = 0; keylen <= sizeof(key); keylen++) {
        for (size_t m = 0; m < sizeof(msglens) / sizeof(msglens[0]); m++) {
            size_t n = msglens[m];
            unsigned char want[crypto_auth_hmacsha256_BYTES], got[CRYPTO_HMAC_LEN];
            crypto_auth_hmacsha256_state st;
            crypto_auth_hmacsha256_init(&st, key, keylen);
            crypto_auth_hmacsha256_update(&st, msg, n);
            crypto_auth_hmacsha256_final(&st, want);
            crypto_hmac_sha256(key, keylen, msg, n, got);
            assert_memory_equal(got, want, sizeof(want));
            /* The same message in three parts, one of them empty. */
            const void *parts[] = {msg, "", msg + n / 3};
            const size_t lens[] = {n / 3, 0, n - n / 3};
            memset(got, 0, sizeof(got));
            crypto_hmac_sha256_parts(key, keylen, parts, lens, 3, got);
            assert_memory_equal(got, want, sizeof(want));
        }
    }
}

static const unsigned char fbff[] = {0xfb, 0xff};

/* RFC 4648 section 10 plus bytes that use the two alphabet-specific characters. */
static void test_b64_encode(void **state)
{
    (void)state;
    const struct {
        const char *bin;
        size_t len;
        const char *want[4]; /* std, std nopad, url, url nopad */
    } cases[] = {
        {"", 0, {"", "", "", ""}},
        {"f", 1, {"Zg==", "Zg", "Zg==", "Zg"}},
        {"fo", 2, {"Zm8=", "Zm8", "Zm8=", "Zm8"}},
        {"foo", 3, {"Zm9v", "Zm9v", "Zm9v", "Zm9v"}},
        {"foob", 4, {"Zm9vYg==", "Zm9vYg", "Zm9vYg==", "Zm9vYg"}},
        {"fooba", 5, {"Zm9vYmE=", "Zm9vYmE", "Zm9vYmE=", "Zm9vYmE"}},
        {"foobar", 6, {"Zm9vYmFy", "Zm9vYmFy", "Zm9vYmFy", "Zm9vYmFy"}},
        {(const char *)fbff, 2, {"+/8=", "+/8", "-_8=", "-_8"}},
        {"\0\0\0", 3, {"AAAA", "AAAA", "AAAA", "AAAA"}},
    };
    static const enum crypto_b64 variants[] = {CRYPTO_B64_STD, CRYPTO_B64_STD_NOPAD, CRYPTO_B64_URL,
                                               CRYPTO_B64_URL_NOPAD};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t v = 0; v < 4; v++) {
            char *s = crypto_b64_encode(cases[i].bin, cases[i].len, variants[v]);
            assert_string_equal(s, cases[i].want[v]);
            /* Strict decoding in the same variant gives the bytes back. */
            size_t len = 999;
            unsigned char *b = crypto_b64_decode(s, strlen(s), variants[v], false, &len);
            assert_non_null(b);
            assert_int_equal(len, cases[i].len);
            assert_memory_equal(b, cases[i].bin, len);
            assert_int_equal(b[len], '\0');
            free(b);
            free(s);
        }
    }
}

static void test_b64_decode_strict(void **state)
{
    (void)state;
    const struct {
        const char *s;
        enum crypto_b64 variant;
    } bad[] = {
        {"Zg", CRYPTO_B64_STD},         {"Zg=", CRYPTO_B64_STD},
        {"Zg===", CRYPTO_B64_STD},      {"Zm9v=", CRYPTO_B64_STD},
        {"-_8=", CRYPTO_B64_STD},       {"+/8", CRYPTO_B64_STD},
        {"Zh==", CRYPTO_B64_STD},       {" Zg==", CRYPTO_B64_STD},
        {"Zg== ", CRYPTO_B64_STD},      {"Zg==\n", CRYPTO_B64_STD},
        {"Zm9v\nYg==", CRYPTO_B64_STD}, {"   ", CRYPTO_B64_STD},
        {"Z", CRYPTO_B64_STD},          {"=", CRYPTO_B64_STD},
        {"*", CRYPTO_B64_STD},          {"Zg==", CRYPTO_B64_STD_NOPAD},
        {"+/8=", CRYPTO_B64_STD_NOPAD}, {"-_8", CRYPTO_B64_STD_NOPAD},
        {"+/8=", CRYPTO_B64_URL},       {"-_8", CRYPTO_B64_URL},
        {"Zg==", CRYPTO_B64_URL_NOPAD}, {"+/8", CRYPTO_B64_URL_NOPAD},
        {"Zh", CRYPTO_B64_URL_NOPAD},   {"Z", CRYPTO_B64_URL_NOPAD},
        {"   ", CRYPTO_B64_URL_NOPAD},  {"Zm9v.", CRYPTO_B64_URL_NOPAD},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len;
        unsigned char *b =
            crypto_b64_decode(bad[i].s, strlen(bad[i].s), bad[i].variant, false, &len);
        if (b != NULL)
            fail_msg("strict case %zu \"%s\" decoded", i, bad[i].s);
    }
    /* Only s[0..slen) is read: an embedded NUL is not the end. */
    size_t len;
    assert_null(crypto_b64_decode("Zm9v\0Zm9v", 9, CRYPTO_B64_STD, false, &len));
    unsigned char *b = crypto_b64_decode("Zm9vXXX", 4, CRYPTO_B64_STD, false, &len);
    assert_non_null(b);
    assert_int_equal(len, 3);
    assert_memory_equal(b, "foo", 3);
    free(b);
    assert_null(crypto_b64_decode(NULL, 0, CRYPTO_B64_STD, false, &len));
}

static void test_b64_decode_lenient(void **state)
{
    (void)state;
    static const enum crypto_b64 variants[] = {CRYPTO_B64_STD, CRYPTO_B64_STD_NOPAD, CRYPTO_B64_URL,
                                               CRYPTO_B64_URL_NOPAD};
    const struct {
        const char *s;
        const char *want;
        size_t len;
    } good[] = {
        {"+/8=", (const char *)fbff, 2},
        {"+/8", (const char *)fbff, 2},
        {"-_8=", (const char *)fbff, 2},
        {"-_8", (const char *)fbff, 2},
        {"Zg==", "f", 1},
        {"Zg", "f", 1},
        {"Zm9vYg", "foob", 4},
        {"Zm9vYmFy", "foobar", 6},
        {"", "", 0},
    };
    static const char *const bad[] = {
        "Zg=", "Zg===", "Zm9v=", "Zm9v====", "=",    "==", "Zg==Zg==", "Z",      "Zh",
        "   ", " Zg",   "Zg ",   "Zg\n",     "Zg\t", "*",  "Zm9v!",    "Zg=\n=", "\xc3\xa9",
    };
    for (size_t v = 0; v < 4; v++) {
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            size_t len = 999;
            unsigned char *b =
                crypto_b64_decode(good[i].s, strlen(good[i].s), variants[v], true, &len);
            if (b == NULL)
                fail_msg("lenient variant %zu \"%s\" refused", v, good[i].s);
            assert_int_equal(len, good[i].len);
            assert_memory_equal(b, good[i].want, len);
            free(b);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            size_t len;
            unsigned char *b = crypto_b64_decode(bad[i], strlen(bad[i]), variants[v], true, &len);
            if (b != NULL)
                fail_msg("lenient variant %zu \"%s\" decoded", v, bad[i]);
        }
    }
}

static void test_hex_encode(void **state)
{
    (void)state;
    static const unsigned char bin[] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff};
    char *h = crypto_hex_encode(bin, sizeof(bin));
    assert_string_equal(h, "0001abcdefff");
    free(h);
    h = crypto_hex_encode(NULL, 0);
    assert_string_equal(h, "");
    free(h);
}

static void test_equal(void **state)
{
    (void)state;
    unsigned char big1[1000], big2[1000];
    memset(big1, 'x', sizeof(big1));
    memset(big2, 'x', sizeof(big2));
    big2[999] = 'y';
    const struct {
        const void *a;
        size_t alen;
        const void *b;
        size_t blen;
        bool want;
    } cases[] = {
        {"abc", 3, "abc", 3, true},      {"abc", 3, "abd", 3, false},
        {"abc", 3, "bbc", 3, false},     {"abc", 3, "ab", 2, false},
        {"ab", 2, "abc", 3, false},      {"", 0, "", 0, true},
        {NULL, 0, "", 0, true},          {"", 0, "a", 1, false},
        {"a\0b", 3, "a\0c", 3, false},   {"a\0b", 3, "a\0b", 3, true},
        {"abc", 3, "abc\0", 4, false},   {big1, 1000, big1, 1000, true},
        {big1, 1000, big2, 1000, false}, {big1, 1000, big1, 999, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (crypto_equal(cases[i].a, cases[i].alen, cases[i].b, cases[i].blen) != cases[i].want)
            fail_msg("crypto_equal case %zu", i);
}

/* https://www.standardwebhooks.com reference example (also in its libraries' tests). */
#define WH_REF_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define WH_REF_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define WH_REF_TS 1614265330
#define WH_REF_BODY "{\"test\": 2432232314}"
#define WH_REF_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/*
 * The key is the bytes 0x00..0x1f. Made with:
 *   K=$(python3 -c "print(bytes(range(32)).hex())")
 *   printf '%s' 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1700000000.{"event":"invoice.paid","total":42}' \
 *     | openssl dgst -sha256 -mac HMAC -macopt hexkey:$K -binary | base64
 */
#define WH_OWN_SECRET "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define WH_OWN_ID "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
#define WH_OWN_TS 1700000000
#define WH_OWN_BODY "{\"event\":\"invoice.paid\",\"total\":42}"
#define WH_OWN_SIG "v1,ruWf9b3BQXeZsSgYx+wwtZ5mfSf+qPtwGX0m4/yh5pg="

static void test_webhook_sign(void **state)
{
    (void)state;
    const struct {
        const char *secret, *id;
        int64_t ts;
        const char *body, *want;
    } cases[] = {
        {WH_REF_SECRET, WH_REF_ID, WH_REF_TS, WH_REF_BODY, WH_REF_SIG},
        {WH_OWN_SECRET, WH_OWN_ID, WH_OWN_TS, WH_OWN_BODY, WH_OWN_SIG},
        /* The key decodes leniently: no padding, or the URL alphabet. */
        {"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", WH_OWN_ID, WH_OWN_TS, WH_OWN_BODY,
         WH_OWN_SIG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_true(crypto_webhook_secret_valid(cases[i].secret));
        char *sig = crypto_webhook_sign(cases[i].secret, cases[i].id, cases[i].ts, cases[i].body,
                                        strlen(cases[i].body));
        assert_non_null(sig);
        assert_string_equal(sig, cases[i].want);
        free(sig);
    }
    /* Any change of id, timestamp or body changes the signature. */
    char *sig = crypto_webhook_sign(WH_REF_SECRET, WH_REF_ID, WH_REF_TS + 1, WH_REF_BODY,
                                    strlen(WH_REF_BODY));
    assert_string_not_equal(sig, WH_REF_SIG);
    free(sig);
    sig = crypto_webhook_sign(WH_REF_SECRET, WH_REF_ID, WH_REF_TS, WH_REF_BODY,
                              strlen(WH_REF_BODY) - 1);
    assert_string_not_equal(sig, WH_REF_SIG);
    free(sig);
    /* A body with NULs is signed over all of its bytes. */
    char *a = crypto_webhook_sign(WH_OWN_SECRET, WH_OWN_ID, WH_OWN_TS, "a\0b", 3);
    char *b = crypto_webhook_sign(WH_OWN_SECRET, WH_OWN_ID, WH_OWN_TS, "a\0c", 3);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void test_webhook_secret_valid(void **state)
{
    (void)state;
    const struct {
        const char *secret;
        bool want;
    } cases[] = {
        {NULL, false},
        {"", false},
        {"whsec_", false},
        {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false},
        {"WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false},
        {"whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false},
        {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ", false},
        {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", false},
        {"whsec_AAAAAAAAAAAAAAAAAAAA", false},    /* 15 bytes */
        {"whsec_AAAAAAAAAAAAAAAAAAAAAA==", true}, /* 16 bytes */
        {"whsec_AAAAAAAAAAAAAAAAAAAAAA", true},   /* 16 bytes, unpadded */
        {"whsec_AAAAAAAAAAAAAAAAAAAAAA=", false}, /* half the padding */
        {"whsec_"                                 /* 64 bytes */
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
         true},
        {"whsec_" /* 65 bytes */
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
         false},
        {WH_REF_SECRET, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (crypto_webhook_secret_valid(cases[i].secret) != cases[i].want)
            fail_msg("secret case %zu", i);
        char *sig = crypto_webhook_sign(cases[i].secret, "msg_1", 1, "{}", 2);
        assert_int_equal(sig != NULL, cases[i].want);
        free(sig);
    }
}

/*
 * Tokens made by Python's standard library, outside crypto.c:
 *   def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
 *   def tok(header, payload, secret, alg=hashlib.sha256):
 *       h = b64u(json.dumps(header, separators=(",", ":")).encode())
 *       p = b64u(json.dumps(payload, separators=(",", ":")).encode())
 *       s = b64u(hmac.new(secret.encode(), (h + "." + p).encode(), alg).digest())
 *       return h + "." + p + "." + s
 *   tok({"alg":"HS256","typ":"JWT"},
 *       {"sub":"1234567890","name":"John Doe","iat":1516239022}, "your-256-bit-secret")
 *   tok({"alg":"HS256"}, {"sub":"svc-billing","nbf":1699990000,"exp":1700000000},
 *       "hookbridge-jwt-secret")
 *   tok({"alg":"HS512","typ":"JWT"}, {"sub":"svc-billing"}, "hookbridge-jwt-secret",
 *       hashlib.sha512)
 * (The first is also jwt.io's well-known example.)
 */
#define JWT_PY_1                                                                                   \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaW"  \
    "F0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
#define JWT_PY_1_SECRET "your-256-bit-secret"
#define JWT_PY_2                                                                                   \
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMtYmlsbGluZyIsIm5iZiI6MTY5OTk5MDAwMCwiZXhwIjoxNzAwMDAwMD"  \
    "AwfQ.Ga9V4WXj4bhpZzqfCnGYVJOdjPX0DoCh6vJbCmkkIWM"
#define JWT_PY_2_SECRET "hookbridge-jwt-secret"
#define JWT_PY_HS512                                                                               \
    "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdmMtYmlsbGluZyJ9.IoyQYDOech6t-fOb4_3v7Pjh"   \
    "Av6AoPVwxPlLCBbbjPrBg4niG4JoA1mvMFiM-RmWTrnYw4kaNnHOfoXLNbt1QQ"

static int jwt(const char *token, const char *secret, int64_t now, char *err)
{
    err[0] = '\0';
    return crypto_jwt_verify_hs256(token, secret, strlen(secret), now, 60, err, 256);
}

static void test_jwt_independent_tokens(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(jwt(JWT_PY_1, JWT_PY_1_SECRET, 1516239022, err), 0);
    assert_string_equal(err, "");
    assert_int_equal(jwt(JWT_PY_1, "your-256-bit-secreT", 1516239022, err), -1);
    assert_string_equal(err, "jwt signature mismatch");
    assert_int_equal(jwt(JWT_PY_1, "", 1516239022, err), -1);
    assert_string_equal(err, "jwt signature mismatch");

    /* nbf 1699990000, exp 1700000000, 60 s leeway either side. */
    const struct {
        int64_t now;
        const char *want; /* NULL: accepted */
    } times[] = {
        {1699995000, NULL},
        {1699999999, NULL},
        {1700000000, NULL},                /* expired, within leeway */
        {1700000059, NULL},                /* last second of the leeway */
        {1700000060, "jwt expired"},       /* leeway used up */
        {1800000000, "jwt expired"},       /* long past */
        {1699990000, NULL},                /* nbf exactly */
        {1699989940, NULL},                /* not yet valid, within leeway */
        {1699989939, "jwt not yet valid"}, /* beyond the leeway */
        {0, "jwt not yet valid"},
    };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        int rc = jwt(JWT_PY_2, JWT_PY_2_SECRET, times[i].now, err);
        if (times[i].want == NULL) {
            if (rc != 0)
                fail_msg("now %lld: refused: %s", (long long)times[i].now, err);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(err, times[i].want);
        }
    }
    /* Zero leeway is exact. */
    assert_int_equal(
        crypto_jwt_verify_hs256(JWT_PY_2, JWT_PY_2_SECRET, 21, 1700000000, 0, err, sizeof(err)),
        -1);
    assert_string_equal(err, "jwt expired");
    assert_int_equal(
        crypto_jwt_verify_hs256(JWT_PY_2, JWT_PY_2_SECRET, 21, 1699999999, 0, err, sizeof(err)), 0);

    /* Correctly signed with HS512: still refused, on the algorithm. */
    assert_int_equal(jwt(JWT_PY_HS512, JWT_PY_2_SECRET, 1700000000, err), -1);
    assert_string_equal(err, "jwt alg must be HS256");
}

/* A token from the given header and payload bytes, signed with HS256 under `secret`. */
static char *make_jwt_n(const char *header, size_t hlen, const char *payload, size_t plen,
                        const char *secret)
{
    char *h = crypto_b64_encode(header, hlen, CRYPTO_B64_URL_NOPAD);
    char *p = crypto_b64_encode(payload, plen, CRYPTO_B64_URL_NOPAD);
    char *signing = xasprintf("%s.%s", h, p);
    unsigned char mac[CRYPTO_HMAC_LEN];
    crypto_hmac_sha256(secret, strlen(secret), signing, strlen(signing), mac);
    char *s = crypto_b64_encode(mac, sizeof(mac), CRYPTO_B64_URL_NOPAD);
    char *token = xasprintf("%s.%s", signing, s);
    free(s);
    free(signing);
    free(p);
    free(h);
    return token;
}

static char *make_jwt(const char *header, const char *payload, const char *secret)
{
    return make_jwt_n(header, strlen(header), payload, strlen(payload), secret);
}

#define NOW 1700000000
#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static void test_jwt_made_tokens(void **state)
{
    (void)state;
    const struct {
        const char *header, *payload;
        const char *want; /* NULL: accepted */
    } cases[] = {
        {HS, "{\"sub\":\"a\"}", NULL},
        {"{\"alg\":\"HS256\"}", "{}", NULL},
        {"{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"k1\"}", "{\"sub\":\"a\"}", NULL},
        {" {\"alg\" : \"HS256\"} ", "{}", NULL},
        {HS, "{\"exp\":1700000000.5}", NULL},
        {HS, "{\"exp\":1699999941}", NULL},
        {HS, "{\"exp\":1699999940}", "jwt expired"},
        {HS, "{\"exp\":0}", "jwt expired"},
        {HS, "{\"nbf\":1700000060}", NULL},
        {HS, "{\"nbf\":1700000061}", "jwt not yet valid"},
        {HS, "{\"nbf\":1699999000,\"exp\":1700001000}", NULL},
        {HS, "{\"exp\":\"1800000000\"}", "jwt exp must be a number"},
        {HS, "{\"exp\":null}", "jwt exp must be a number"},
        {HS, "{\"nbf\":true}", "jwt nbf must be a number"},
        {HS, "{\"nbf\":[1]}", "jwt nbf must be a number"},
        {"{\"alg\":\"none\"}", "{}", "jwt alg must be HS256"},
        {"{\"alg\":\"HS512\"}", "{}", "jwt alg must be HS256"},
        {"{\"alg\":\"hs256\"}", "{}", "jwt alg must be HS256"},
        {"{\"alg\":\"HS256 \"}", "{}", "jwt alg must be HS256"},
        {"{\"alg\":null}", "{}", "jwt alg must be HS256"},
        {"{\"alg\":256}", "{}", "jwt alg must be HS256"},
        {"{\"typ\":\"JWT\"}", "{}", "jwt alg must be HS256"},
        {"{}", "{}", "jwt alg must be HS256"},
        {"{\"ALG\":\"HS256\"}", "{}", "jwt alg must be HS256"},
        {"{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}", "jwt malformed"},
        {"{\"alg\":\"HS256\",\"crit\":[\"b64\"]}", "{}", "jwt crit header not supported"},
        {"[\"HS256\"]", "{}", "jwt malformed"},
        {"\"HS256\"", "{}", "jwt malformed"},
        {"not json", "{}", "jwt malformed"},
        {"{\"alg\":\"HS256\"} x", "{}", "jwt malformed"},
        {"{\"alg\":\"HS256\"", "{}", "jwt malformed"},
        {HS, "[]", "jwt malformed"},
        {HS, "\"sub\"", "jwt malformed"},
        {HS, "not json", "jwt malformed"},
        {HS, "{\"exp\":1,\"exp\":1800000000}", "jwt malformed"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = make_jwt(cases[i].header, cases[i].payload, "s3cret");
        char err[256];
        int rc = jwt(t, "s3cret", NOW, err);
        if (cases[i].want == NULL) {
            if (rc != 0)
                fail_msg("case %zu (%s): refused: %s", i, t, err);
        } else {
            if (rc != -1 || strcmp(err, cases[i].want) != 0)
                fail_msg("case %zu (%s): rc %d err \"%s\", want \"%s\"", i, t, rc, err,
                         cases[i].want);
        }
        free(t);
    }
}

static void test_jwt_forged(void **state)
{
    (void)state;
    char err[256];
    char *good = make_jwt(HS, "{\"sub\":\"a\",\"admin\":false}", "s3cret");
    assert_int_equal(jwt(good, "s3cret", NOW, err), 0);
    assert_int_equal(jwt(good, "s3cre", NOW, err), -1);
    assert_string_equal(err, "jwt signature mismatch");
    assert_int_equal(jwt(good, "s3cret!", NOW, err), -1);
    assert_string_equal(err, "jwt signature mismatch");

    /* Tampered payload under the original signature. */
    const char *dot1 = strchr(good, '.');
    const char *dot2 = strchr(dot1 + 1, '.');
    const char *evil = "{\"sub\":\"a\",\"admin\":true}";
    char *ep = crypto_b64_encode(evil, strlen(evil), CRYPTO_B64_URL_NOPAD);
    char *t = xasprintf("%.*s.%s%s", (int)(dot1 - good), good, ep, dot2);
    assert_int_equal(jwt(t, "s3cret", NOW, err), -1);
    assert_string_equal(err, "jwt signature mismatch");
    free(t);
    free(ep);

    /* Every character of the signature changed in turn. */
    size_t n = strlen(good);
    for (size_t i = (size_t)(dot2 - good) + 1; i < n; i++) {
        char *c = xstrdup(good);
        c[i] = c[i] == 'A' ? 'B' : 'A';
        int rc = jwt(c, "s3cret", NOW, err);
        /* The last character carries spare bits, which strict decoding refuses. */
        if (rc != -1 || (strcmp(err, "jwt signature mismatch") != 0 &&
                         strcmp(err, "jwt signature is not canonical base64url") != 0))
            fail_msg("signature char %zu changed: rc %d (%s)", i, rc, err);
        free(c);
    }
    /* Truncated or extended signature. */
    char *cut = xstrndup(good, n - 1);
    assert_int_equal(jwt(cut, "s3cret", NOW, err), -1);
    free(cut);
    char *ext = xasprintf("%sAAAA", good);
    assert_int_equal(jwt(ext, "s3cret", NOW, err), -1);
    assert_string_equal(err, "jwt signature mismatch");
    free(ext);

    /* alg none, without a signature and with the HS256 one of the same content. */
    char *nh = crypto_b64_encode("{\"alg\":\"none\"}", 14, CRYPTO_B64_URL_NOPAD);
    char *unsigned_tok = xasprintf("%s.%.*s.", nh, (int)(dot2 - dot1 - 1), dot1 + 1);
    assert_int_equal(jwt(unsigned_tok, "s3cret", NOW, err), -1);
    assert_string_equal(err, "jwt alg must be HS256");
    char *none_signed = xasprintf("%s.%.*s%s", nh, (int)(dot2 - dot1 - 1), dot1 + 1, dot2);
    assert_int_equal(jwt(none_signed, "s3cret", NOW, err), -1);
    assert_string_equal(err, "jwt alg must be HS256");
    free(none_signed);
    free(unsigned_tok);
    free(nh);

    /* A sender that pads its header and payload signs the padded text; that verifies too,
     * but the signature itself must be canonical (see test_jwt_signature_canonical). */
    const char *ph = "{\"alg\":\"HS256\",\"x\":12}";
    char *h = crypto_b64_encode(ph, strlen(ph), CRYPTO_B64_URL);
    char *p = crypto_b64_encode("{\"a\":1}", 7, CRYPTO_B64_URL);
    assert_non_null(strchr(h, '='));
    assert_non_null(strchr(p, '='));
    char *signing = xasprintf("%s.%s", h, p);
    unsigned char mac[CRYPTO_HMAC_LEN];
    crypto_hmac_sha256("s3cret", 6, signing, strlen(signing), mac);
    char *s = crypto_b64_encode(mac, sizeof(mac), CRYPTO_B64_URL_NOPAD);
    char *padded = xasprintf("%s.%s", signing, s);
    assert_int_equal(jwt(padded, "s3cret", NOW, err), 0);
    free(padded);
    free(s);
    free(signing);
    free(p);
    free(h);
    free(good);
}

/*
 * One token, one spelling: JWT_PY_1 (signature "...V_adQssw5c") with its signature padded,
 * in the standard alphabet, or with the spare low bits of its last character set, decodes
 * to the same bytes under a lenient decoder, and is refused.
 */
static void test_jwt_signature_canonical(void **state)
{
    (void)state;
    static const char *const bad[] = {
        JWT_PY_1 "=",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
        "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV/adQssw5c",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
        "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV/adQssw5c=",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
        "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5d",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
        "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c ",
    };
    char err[256];
    assert_int_equal(jwt(JWT_PY_1, JWT_PY_1_SECRET, 1516239022, err), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = jwt(bad[i], JWT_PY_1_SECRET, 1516239022, err);
        if (rc != -1 || strcmp(err, "jwt signature is not canonical base64url") != 0)
            fail_msg("spelling %zu: rc %d (%s)", i, rc, err);
    }
}

/*
 * Tokens made by Python's standard library (tok() above, secret JWT_PY_2_SECRET):
 *   tok({"alg":"HS256"}, {"sub":"svc","iss":"https://idp.example","aud":"hookbridge",
 *       "exp":1700000000}, S)
 *   the same with "aud":["other","hookbridge"]
 *   tok({"alg":"HS256"}, {"sub":"svc","iss":"https://evil.example","aud":"other",
 *       "exp":1700000000}, S)
 *   tok({"alg":"HS256"}, {"sub":"svc","iat":1700000000}, S)
 */
#define JWT_PY_AUD                                                                                 \
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMiLCJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXVkIjoiaG9va2J" \
    "yaWRnZSIsImV4cCI6MTcwMDAwMDAwMH0.DDLlOzAN6O8RONayq5x6R-N632m-ZOWpbOobywRduy4"
#define JWT_PY_AUD_LIST                                                                            \
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMiLCJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXVkIjpbIm90aGV" \
    "yIiwiaG9va2JyaWRnZSJdLCJleHAiOjE3MDAwMDAwMDB9.By-zFcCnh-oUVfrtCa4SDHCQV9WF5b76-Cyqpv4Txwk"
#define JWT_PY_EVIL                                                                                \
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMiLCJpc3MiOiJodHRwczovL2V2aWwuZXhhbXBsZSIsImF1ZCI6Im90aGV" \
    "yIiwiZXhwIjoxNzAwMDAwMDAwfQ.yUPFLxZlskUKQhg5-J6Blcu5JjOJPTEFiMnMdlBqlHU"
#define JWT_PY_NO_EXP                                                                              \
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMiLCJpYXQiOjE3MDAwMDAwMDB9.39lovejpm_4v-pqMiN2_aWAP-"      \
    "YQYine"                                                                                       \
    "jbHrOB2nE_0M"

static void test_jwt_rules(void **state)
{
    (void)state;
    const struct {
        const char *token;
        bool require_exp;
        const char *aud, *iss;
        const char *want; /* NULL: accepted */
    } cases[] = {
        {JWT_PY_AUD, true, "hookbridge", "https://idp.example", NULL},
        {JWT_PY_AUD_LIST, true, "hookbridge", "https://idp.example", NULL},
        {JWT_PY_AUD_LIST, true, "other", NULL, NULL},
        {JWT_PY_AUD, false, NULL, NULL, NULL},
        {JWT_PY_AUD, false, "", "", NULL},
        {JWT_PY_AUD, true, "hookbridg", NULL, "jwt audience mismatch"},
        {JWT_PY_AUD, true, "Hookbridge", NULL, "jwt audience mismatch"},
        {JWT_PY_AUD_LIST, true, "third", NULL, "jwt audience mismatch"},
        {JWT_PY_AUD, true, NULL, "https://idp.example/", "jwt issuer mismatch"},
        {JWT_PY_EVIL, true, "hookbridge", NULL, "jwt audience mismatch"},
        {JWT_PY_EVIL, true, NULL, "https://idp.example", "jwt issuer mismatch"},
        {JWT_PY_NO_EXP, false, NULL, NULL, NULL},
        {JWT_PY_NO_EXP, true, NULL, NULL, "jwt has no exp"},
        {JWT_PY_NO_EXP, false, "hookbridge", NULL, "jwt has no aud"},
        {JWT_PY_NO_EXP, false, NULL, "https://idp.example", "jwt has no iss"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct crypto_jwt_rules r = {.leeway_s = 60,
                                     .require_exp = cases[i].require_exp,
                                     .audience = cases[i].aud,
                                     .issuer = cases[i].iss};
        char err[256] = "";
        int rc = crypto_jwt_verify(cases[i].token, JWT_PY_2_SECRET, strlen(JWT_PY_2_SECRET),
                                   1699999000, &r, err, sizeof(err));
        if (cases[i].want == NULL ? rc != 0 : (rc != -1 || strcmp(err, cases[i].want) != 0))
            fail_msg("case %zu: rc %d (%s)", i, rc, err);
    }
    /* The rules come after the signature: a forged token is a mismatch, not a claim. */
    struct crypto_jwt_rules r = {.leeway_s = 60, .require_exp = true, .audience = "x"};
    char err[256];
    assert_int_equal(crypto_jwt_verify(JWT_PY_NO_EXP, "other", 5, 1699999000, &r, err, 256), -1);
    assert_string_equal(err, "jwt signature mismatch");
    /* No rules: only the signature and the times. */
    assert_int_equal(crypto_jwt_verify(JWT_PY_NO_EXP, JWT_PY_2_SECRET, strlen(JWT_PY_2_SECRET),
                                       1699999000, NULL, err, 256),
                     0);
}

static void test_jwt_garbage(void **state)
{
    (void)state;
    char *good = make_jwt(HS, "{}", "s3cret");
    char *four = xasprintf("%s.e30", good);
    char *lead = xasprintf(".%s", good);
    const char *dot1 = strchr(good, '.');
    char *no_payload = xasprintf("%.*s.%s", (int)(dot1 - good), good, strchr(dot1 + 1, '.'));
    char *bad_b64 = xasprintf("!%s", good);
    const char *cases[] = {
        "",
        ".",
        "..",
        "...",
        "a",
        "a.b",
        "a.b.c.d",
        "eyJ9.e30.",
        "e30",
        "e30.e30",
        "!!!.e30.abc",
        "eyJhbGciOiJIUzI1NiJ9..abc",
        four,
        lead,
        no_payload,
        bad_b64,
        "not a jwt at all",
        "Bearer x.y.z",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256];
        int rc = jwt(cases[i], "s3cret", NOW, err);
        if (rc != -1 || strcmp(err, "jwt malformed") != 0)
            fail_msg("garbage \"%s\": rc %d err \"%s\"", cases[i], rc, err);
    }
    char err[256];
    assert_int_equal(jwt(NULL, "s3cret", NOW, err), -1);
    assert_string_equal(err, "jwt malformed");
    /* Properly signed, but a NUL hides what follows the JSON from a C string parser. */
    static const char nul_header[] = "{\"alg\":\"HS256\"}\0{\"alg\":\"none\"}";
    char *t = make_jwt_n(nul_header, sizeof(nul_header) - 1, "{}", 2, "s3cret");
    assert_int_equal(jwt(t, "s3cret", NOW, err), -1);
    assert_string_equal(err, "jwt malformed");
    free(t);
    static const char nul_payload[] = "{\"sub\":\"a\"}\0{\"exp\":0}";
    t = make_jwt_n(HS, strlen(HS), nul_payload, sizeof(nul_payload) - 1, "s3cret");
    assert_int_equal(jwt(t, "s3cret", NOW, err), -1);
    assert_string_equal(err, "jwt malformed");
    free(t);
    free(bad_b64);
    free(no_payload);
    free(lead);
    free(four);
    free(good);
}

static int setup(void **state)
{
    (void)state;
    xalloc_init_cjson();
    return sodium_init() < 0 ? 1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_round_trip),
        cmocka_unit_test(test_seal_fresh_nonce),
        cmocka_unit_test(test_open_wrong_key),
        cmocka_unit_test(test_open_tamper),
        cmocka_unit_test(test_open_malformed),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_hmac_openssl),
        cmocka_unit_test(test_hmac_matches_libsodium),
        cmocka_unit_test(test_b64_encode),
        cmocka_unit_test(test_b64_decode_strict),
        cmocka_unit_test(test_b64_decode_lenient),
        cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_webhook_sign),
        cmocka_unit_test(test_webhook_secret_valid),
        cmocka_unit_test(test_jwt_independent_tokens),
        cmocka_unit_test(test_jwt_made_tokens),
        cmocka_unit_test(test_jwt_forged),
        cmocka_unit_test(test_jwt_signature_canonical),
        cmocka_unit_test(test_jwt_rules),
        cmocka_unit_test(test_jwt_garbage),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
