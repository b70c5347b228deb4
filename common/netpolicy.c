/*
 * netpolicy.c - public versus internal destination addresses (see netpolicy.h).
 *
 * Tables of prefixes, one per family, so that the list of refused ranges reads as the list
 * in the README does.
 */
#include "netpolicy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct netpolicy_v4 {
    uint32_t net;
    int bits;
    const char *what;
};

static const struct netpolicy_v4 netpolicy_v4_denied[] = {
    {0x00000000, 8, "unspecified 0.0.0.0/8"},
    {0x0A000000, 8, "private network 10.0.0.0/8"},
    {0x64400000, 10, "carrier-grade NAT 100.64.0.0/10"},
    {0x7F000000, 8, "loopback 127.0.0.0/8"},
    {0xA9FE0000, 16, "link-local (cloud metadata) 169.254.0.0/16"},
    {0xAC100000, 12, "private network 172.16.0.0/12"},
    {0xC0000000, 24, "IETF protocol assignments 192.0.0.0/24"},
    {0xC0000200, 24, "documentation 192.0.2.0/24"},
    {0xC0A80000, 16, "private network 192.168.0.0/16"},
    {0xC6120000, 15, "benchmarking 198.18.0.0/15"},
    {0xC6336400, 24, "documentation 198.51.100.0/24"},
    {0xCB007100, 24, "documentation 203.0.113.0/24"},
    {0xE0000000, 4, "multicast 224.0.0.0/4"},
    {0xF0000000, 4, "reserved 240.0.0.0/4 and broadcast"},
};

static bool netpolicy_v4_public(uint32_t a, char *why, size_t whylen)
{
    for (size_t i = 0; i < sizeof(netpolicy_v4_denied) / sizeof(netpolicy_v4_denied[0]); i++) {
        const struct netpolicy_v4 *r = &netpolicy_v4_denied[i];
        uint32_t mask = r->bits == 0 ? 0 : 0xFFFFFFFFu << (32 - r->bits);
        if ((a & mask) == r->net) {
            snprintf(why, whylen, "%s", r->what);
            return false;
        }
    }
    return true;
}

struct netpolicy_v6 {
    unsigned char net[16];
    int bits;
    const char *what;
};

static const struct netpolicy_v6 netpolicy_v6_denied[] = {
    {{0}, 128, "unspecified ::"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback ::1"},
    {{0xfc}, 7, "unique local fc00::/7"},
    {{0xfe, 0x80}, 10, "link-local fe80::/10"},
    {{0xfe, 0xc0}, 10, "site-local fec0::/10"},
    {{0xff}, 8, "multicast ff00::/8"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation 2001:db8::/32"},
    {{0x01, 0x00}, 64, "discard-only 100::/64"},
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "local-use NAT64 64:ff9b:1::/48"},
    {{0x20, 0x01, 0x00, 0x00}, 32, "Teredo tunnel 2001::/32"},
};

static bool netpolicy_prefix(const unsigned char *a, const unsigned char *net, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xFF << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

static uint32_t netpolicy_v4_at(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool netpolicy_v6_public(const unsigned char *a, char *why, size_t whylen)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    static const unsigned char compat[12] = {0};
    /* IPv4 reachable through an IPv6 address is judged as that IPv4 address. */
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return netpolicy_v4_public(netpolicy_v4_at(a + 12), why, whylen);
    for (size_t i = 0; i < sizeof(netpolicy_v6_denied) / sizeof(netpolicy_v6_denied[0]); i++) {
        const struct netpolicy_v6 *r = &netpolicy_v6_denied[i];
        if (netpolicy_prefix(a, r->net, r->bits)) {
            snprintf(why, whylen, "%s", r->what);
            return false;
        }
    }
    /* 6to4 2002:V4ADDR::/48 reaches the IPv4 address it embeds. */
    if (a[0] == 0x20 && a[1] == 0x02)
        return netpolicy_v4_public(netpolicy_v4_at(a + 2), why, whylen);
    /* Deprecated IPv4-compatible ::a.b.c.d (the two above already matched :: and ::1). */
    if (memcmp(a, compat, 12) == 0)
        return netpolicy_v4_public(netpolicy_v4_at(a + 12), why, whylen);
    return true;
}

bool netpolicy_public(const struct sockaddr *sa, char *why, size_t whylen)
{
    if (sa == NULL) {
        snprintf(why, whylen, "no address");
        return false;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return netpolicy_v4_public(ntohl(in->sin_addr.s_addr), why, whylen);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return netpolicy_v6_public(in6->sin6_addr.s6_addr, why, whylen);
    }
    snprintf(why, whylen, "address family %d", sa->sa_family);
    return false;
}
