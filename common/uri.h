/*
 * uri.h - RFC 3986 URI references: split into their parts, split an authority, resolve a
 * reference against a base.
 *
 * The one URI parser of hookbridge. Its users apply their own rules to the parts: the
 * "uri" format checks each part's characters (common/jsonformat.c), a bridge's
 * outbound_url and notify_url need http(s) and a host (uri_http_problem), the JSON Schema
 * validator resolves $id and $ref (common/jsonschema.c). Splitting never fails: like the
 * regular expression of RFC 3986 appendix B, it takes any string apart, and the checks
 * belong to the caller.
 */
#ifndef URI_H
#define URI_H

#include <stdbool.h>
#include <stddef.h>

/* The parts of a URI reference, pointing into the string split. A part that is absent is
 * NULL (its length 0); the path is always there, maybe empty. */
struct uri_parts {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_len, auth_len, path_len, query_len, frag_len;
};

/* Split `s` (RFC 3986 appendix B): "scheme:" when a ':' comes before any of "/?#", "//"
 * authority up to the next of "/?#", path up to "?" or "#", "?" query, "#" fragment. */
void uri_split(const char *s, struct uri_parts *u);

/* The parts of an authority, pointing into it. */
struct uri_authority {
    const char *userinfo; /* NULL when there is no '@' */
    const char *host;     /* with its brackets for an IP literal ("[::1]") */
    const char *port;     /* after ':', NULL when there is no ':' (may be empty) */
    size_t userinfo_len, host_len, port_len;
};

/*
 * Split the authority auth[0..len): userinfo up to its last '@', then the host, then
 * ":port". Returns 0, or -1 when a '[' opens an IP literal that no ']' closes or that is
 * followed by something other than ":port".
 */
int uri_authority_split(const char *auth, size_t len, struct uri_authority *a);

/*
 * Why `url` is not a usable http(s) URL with a host ("must start with http:// or
 * https://", "must have a numeric port", ...), or NULL when it is. Lenient about everything
 * else, so that a URL holding template references (`${payload.id}`), which strict parsers
 * refuse, can be checked before they are resolved, and again after.
 */
const char *uri_http_problem(const char *url);

/*
 * `ref` resolved against `base` (RFC 3986 section 5.2, with dot segments removed); `base`
 * may itself be relative, or empty for no base. Returns a new string the caller frees.
 */
char *uri_resolve(const char *base, const char *ref);

#endif
