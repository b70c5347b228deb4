/*
 * mail_in.h - an inbound e-mail (RFC 5322 / MIME bytes) as the JSON payload of its event.
 *
 * Both ways a message comes in use it: the SMTP listener (ingress/smtpd.c) and a POST with
 * Content-Type message/rfc822 to /hooks/{endpoint}. The payload (README, "E-mail in") is
 *   {"from","to","cc","subject","date","message_id","text","html","headers":{…},
 *    "attachments":[{"filename","content_type","size","content_base64"}]}
 * with `from` {"name","address"} (null when absent) and `to`/`cc` arrays of those. Parsing
 * is GMime's; every string in the result is valid UTF-8.
 */
#ifndef MAIL_IN_H
#define MAIL_IN_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Parse raw[0..len) into the payload object (the caller frees it with cJSON_Delete).
 * Returns NULL with `err` set when the bytes are not a message at all (GMime finds no
 * header block); a message with broken MIME parts still parses, as mail readers show it.
 */
cJSON *mail_in_parse(const char *raw, size_t len, char *err, size_t errlen);

/* The same, printed as compact JSON text (the caller frees it); NULL with `err`. */
char *mail_in_json(const char *raw, size_t len, char *err, size_t errlen);

/* True for a Content-Type of message/rfc822 (parameters and case ignored). */
bool mail_in_ctype_is_rfc822(const char *ctype);

#endif
