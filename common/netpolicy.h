/*
 * netpolicy.h - which destination addresses a worker may connect to when
 * HOOKBRIDGE_DENY_PRIVATE=1.
 *
 * The check is made on the address a connection is about to use, after DNS (worker/
 * deliver.c calls it from curl's open-socket callback), so a name that resolves to an
 * internal address, or is re-pointed there later, is refused all the same.
 */
#ifndef NETPOLICY_H
#define NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/*
 * False for loopback, private (RFC 1918, IPv6 unique-local), link-local (which holds the
 * cloud metadata address 169.254.169.254), carrier-grade NAT, unspecified, multicast,
 * broadcast and reserved ranges, and for IPv4 addresses embedded in IPv6 (mapped,
 * NAT64) that are any of those; `why` then names the range ("private network 10.0.0.0/8").
 * True for anything else (a public address). Unknown address families are refused.
 */
bool netpolicy_public(const struct sockaddr *sa, char *why, size_t whylen);

#endif
