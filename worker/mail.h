/*
 * mail.h - the message of an e-mail route's attempt (README "Destinations", `email`): the
 * route's to, subject, text and html templates rendered against the inbound request into
 * a MIME message that libcurl sends over SMTP (worker/deliver.c).
 *
 * Every attempt of one event makes the same message: its Message-ID comes from the event
 * id, so a retry after a lost reply is recognisably the same mail to the recipient's
 * server and client.
 */
#ifndef MAIL_H
#define MAIL_H

#include "render.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct mail_message {
    char *from;  /* the envelope sender, as configured */
    char **rcpt; /* rendered recipients, NULL-terminated */
    char *data;  /* the message, CRLF line ends */
    size_t len;
    cJSON *shown; /* the event's "outbound" record: method SMTP, url, headers, body */
};

/*
 * Render the message of route `email` (destcfg.h's stored form) sent to `url` for the
 * context `c`. With `redact`, $env values read "[redacted]" (the event's record). The
 * message is at most `max` bytes. Returns 0; RENDER_TOO_LARGE or -1 with `err` (a template
 * fails, a recipient is not an address). `out` is filled either way; the caller clears it
 * with mail_message_clear.
 */
int mail_render(struct render_ctx *c, const cJSON *email, const char *url, size_t max, bool redact,
                struct mail_message *out, char *err, size_t errlen);

void mail_message_clear(struct mail_message *m);

/*
 * A Subject header value: ASCII text as it is; anything else as RFC 2047 encoded words
 * (=?UTF-8?B?...?=), each under 76 characters and holding whole UTF-8 characters, folded
 * onto continuation lines. CR and LF never reach the result. The caller frees it.
 */
char *mail_subject_encode(const char *subject);

#endif
