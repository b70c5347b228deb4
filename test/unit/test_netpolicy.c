/*
 * test_netpolicy.c - unit tests for common/netpolicy.c, table-driven over textual IPv4 and
 * IPv6 addresses: the first and last address of every refused range with its neighbours
 * outside it allowed, public addresses allowed, IPv4 inside IPv6 (mapped, NAT64,
 * IPv4-compatible) judged as the IPv4 address, the exact `why` of each refusal, and
 * unknown families and NULL refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "netpolicy.h"

#define UNSPEC4 "unspecified 0.0.0.0/8"
#define PRIV10 "private network 10.0.0.0/8"
#define CGNAT "carrier-grade NAT 100.64.0.0/10"
#define LOOP4 "loopback 127.0.0.0/8"
#define LINK4 "link-local (cloud metadata) 169.254.0.0/16"
#define PRIV172 "private network 172.16.0.0/12"
#define IETF "IETF protocol assignments 192.0.0.0/24"
#define DOC1 "documentation 192.0.2.0/24"
#define PRIV192 "private network 192.168.0.0/16"
#define BENCH "benchmarking 198.18.0.0/15"
#define DOC2 "documentation 198.51.100.0/24"
#define DOC3 "documentation 203.0.113.0/24"
#define MCAST4 "multicast 224.0.0.0/4"
#define RESV4 "reserved 240.0.0.0/4 and broadcast"

/* `why` NULL: the address is public. */
struct addr_case {
    const char *addr;
    const char *why;
};

static const struct addr_case v4_cases[] = {
    {"0.0.0.0", UNSPEC4},       {"0.255.255.255", UNSPEC4},  {"1.0.0.0", NULL},
    {"9.255.255.255", NULL},    {"10.0.0.0", PRIV10},        {"10.1.2.3", PRIV10},
    {"10.255.255.255", PRIV10}, {"11.0.0.0", NULL},          {"100.63.255.255", NULL},
    {"100.64.0.0", CGNAT},      {"100.64.0.1", CGNAT},       {"100.127.255.255", CGNAT},
    {"100.128.0.1", NULL},      {"126.255.255.255", NULL},   {"127.0.0.0", LOOP4},
    {"127.0.0.1", LOOP4},       {"127.255.255.255", LOOP4},  {"128.0.0.0", NULL},
    {"169.253.255.255", NULL},  {"169.254.0.0", LINK4},      {"169.254.169.254", LINK4},
    {"169.254.255.255", LINK4}, {"169.255.0.0", NULL},       {"172.15.255.255", NULL},
    {"172.16.0.0", PRIV172},    {"172.16.0.1", PRIV172},     {"172.31.255.255", PRIV172},
    {"172.32.0.1", NULL},       {"191.255.255.255", NULL},   {"192.0.0.0", IETF},
    {"192.0.0.255", IETF},      {"192.0.1.0", NULL},         {"192.0.2.0", DOC1},
    {"192.0.2.255", DOC1},      {"192.0.3.0", NULL},         {"192.167.255.255", NULL},
    {"192.168.0.0", PRIV192},   {"192.168.1.1", PRIV192},    {"192.168.255.255", PRIV192},
    {"192.169.0.0", NULL},      {"198.17.255.255", NULL},    {"198.18.0.0", BENCH},
    {"198.19.255.255", BENCH},  {"198.20.0.0", NULL},        {"198.51.99.255", NULL},
    {"198.51.100.0", DOC2},     {"198.51.100.255", DOC2},    {"198.51.101.0", NULL},
    {"203.0.112.255", NULL},    {"203.0.113.0", DOC3},       {"203.0.113.255", DOC3},
    {"203.0.114.0", NULL},      {"223.255.255.255", NULL},   {"224.0.0.0", MCAST4},
    {"224.0.0.1", MCAST4},      {"239.255.255.255", MCAST4}, {"240.0.0.0", RESV4},
    {"255.255.255.254", RESV4}, {"255.255.255.255", RESV4},  {"8.8.8.8", NULL},
    {"1.1.1.1", NULL},          {"93.184.216.34", NULL},     {"140.82.112.3", NULL},
};

static const struct addr_case v6_cases[] = {
    {"::", "unspecified ::"},
    {"::1", "loopback ::1"},
    {"fc00::", "unique local fc00::/7"},
    {"fc00::1", "unique local fc00::/7"},
    {"fd00::1", "unique local fc00::/7"},
    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique local fc00::/7"},
    {"fe80::", "link-local fe80::/10"},
    {"fe80::1", "link-local fe80::/10"},
    {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local fe80::/10"},
    {"fec0::1", "site-local fec0::/10"},
    {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local fec0::/10"},
    {"ff00::", "multicast ff00::/8"},
    {"ff02::1", "multicast ff00::/8"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast ff00::/8"},
    {"2001:db8::", "documentation 2001:db8::/32"},
    {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation 2001:db8::/32"},
    {"100::", "discard-only 100::/64"},
    {"100::ffff:ffff:ffff:ffff", "discard-only 100::/64"},
    /* IPv4 reached through IPv6 is judged as that IPv4 address. */
    {"::ffff:127.0.0.1", LOOP4},
    {"::ffff:10.1.2.3", PRIV10},
    {"::ffff:169.254.169.254", LINK4},
    {"::ffff:0.0.0.0", UNSPEC4},
    {"::ffff:255.255.255.255", RESV4},
    {"::ffff:8.8.8.8", NULL},
    {"64:ff9b::7f00:1", LOOP4},
    {"64:ff9b::a9fe:a9fe", LINK4},
    {"64:ff9b::c0a8:101", PRIV192},
    {"64:ff9b::808:808", NULL},
    {"::127.0.0.1", LOOP4},
    {"::10.0.0.1", PRIV10},
    {"::0.0.0.2", UNSPEC4},
    {"::8.8.8.8", NULL},
    {"2606:4700:4700::1111", NULL},
    {"2001:4860:4860::8888", NULL},
    {"2a00:1450:4001:80b::200e", NULL},
    {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
    {"2001:db9::", NULL},
    /* 6to4 is judged by the IPv4 address it embeds; local NAT64 and Teredo are refused. */
    {"2002:7f00:1::1", LOOP4},
    {"2002:a00:1::", PRIV10},
    {"2002:808:808::1", NULL},
    {"64:ff9b:1::a00:1", "local-use NAT64 64:ff9b:1::/48"},
    {"2001::1", "Teredo tunnel 2001::/32"},
    {"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "Teredo tunnel 2001::/32"},
    {"2001:1::1", NULL},
};

static void check_case(const struct sockaddr *sa, const struct addr_case *c)
{
    char why[128];
    memset(why, 'x', sizeof(why));
    why[sizeof(why) - 1] = '\0';
    bool got = netpolicy_public(sa, why, sizeof(why));
    if (c->why == NULL) {
        if (!got)
            fail_msg("%s refused (%s), want allowed", c->addr, why);
    } else {
        if (got)
            fail_msg("%s allowed, want refused (%s)", c->addr, c->why);
        if (strcmp(why, c->why) != 0)
            fail_msg("%s: why is \"%s\", want \"%s\"", c->addr, why, c->why);
    }
}

static void test_ipv4(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(v4_cases) / sizeof(v4_cases[0]); i++) {
        struct sockaddr_in in;
        memset(&in, 0, sizeof(in));
        in.sin_family = AF_INET;
        in.sin_port = htons(443);
        if (inet_pton(AF_INET, v4_cases[i].addr, &in.sin_addr) != 1)
            fail_msg("bad test address %s", v4_cases[i].addr);
        check_case((const struct sockaddr *)&in, &v4_cases[i]);
    }
}

static void test_ipv6(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(v6_cases) / sizeof(v6_cases[0]); i++) {
        struct sockaddr_in6 in6;
        memset(&in6, 0, sizeof(in6));
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(443);
        if (inet_pton(AF_INET6, v6_cases[i].addr, &in6.sin6_addr) != 1)
            fail_msg("bad test address %s", v6_cases[i].addr);
        check_case((const struct sockaddr *)&in6, &v6_cases[i]);
    }
}

/* A link-local address with a scope id is still link-local. */
static void test_ipv6_scope_id(void **state)
{
    (void)state;
    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    in6.sin6_scope_id = 2;
    assert_int_equal(inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr), 1);
    char why[64];
    assert_false(netpolicy_public((const struct sockaddr *)&in6, why, sizeof(why)));
    assert_string_equal(why, "link-local fe80::/10");
}

static void test_other_families(void **state)
{
    (void)state;
    char why[64];

    struct sockaddr_un un;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof(un.sun_path), "/tmp/hb.sock");
    assert_false(netpolicy_public((const struct sockaddr *)&un, why, sizeof(why)));
    assert_string_equal(why, "address family 1");

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNSPEC;
    assert_false(netpolicy_public((const struct sockaddr *)&ss, why, sizeof(why)));
    assert_string_equal(why, "address family 0");

    assert_false(netpolicy_public(NULL, why, sizeof(why)));
    assert_string_equal(why, "no address");
}

/* A short `why` buffer holds a NUL-terminated prefix and nothing is written past it. */
static void test_short_why(void **state)
{
    (void)state;
    struct sockaddr_in in;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, "10.0.0.1", &in.sin_addr), 1);
    char why[16];
    memset(why, 'x', sizeof(why));
    assert_false(netpolicy_public((const struct sockaddr *)&in, why, 8));
    assert_string_equal(why, "private");
    assert_int_equal(why[8], 'x');

    /* No room at all: still refused, nothing written. */
    memset(why, 'x', sizeof(why));
    assert_false(netpolicy_public((const struct sockaddr *)&in, why, 0));
    assert_int_equal(why[0], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),          cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_ipv6_scope_id), cmocka_unit_test(test_other_families),
        cmocka_unit_test(test_short_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
