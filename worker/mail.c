/*
 * mail.c - an e-mail route's MIME message (see mail.h).
 *
 * Bodies go out base64-encoded in 76-character lines: any UTF-8 text, long lines and a
 * line holding a lone "." survive every SMTP server unchanged, which quoted-printable or
 * 8bit would not promise.
 */
#include "mail.h"

#include "crypto.h"
#include "dynbuf.h"
#include "hb.h"
#include "job.h"
#include "template.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The longest rendered recipient and subject. */
#define MAIL_FIELD_MAX 4096

void mail_message_clear(struct mail_message *m)
{
    free(m->from);
    if (m->rcpt != NULL) {
        for (char **r = m->rcpt; *r; r++)
            free(*r);
        free(m->rcpt);
    }
    free(m->data);
    cJSON_Delete(m->shown);
    memset(m, 0, sizeof(*m));
}

/* A UTF-8 sequence's length from its lead byte (1 for anything unexpected). */
static size_t mail_utf8_len(unsigned char c)
{
    if (c >= 0xF0 && c < 0xF8)
        return 4;
    if (c >= 0xE0)
        return 3;
    if (c >= 0xC0)
        return 2;
    return 1;
}

char *mail_subject_encode(const char *subject)
{
    bool ascii = true;
    for (const unsigned char *c = (const unsigned char *)subject; *c; c++)
        if (*c >= 0x7F || *c < 0x20)
            ascii = false;
    if (ascii)
        return xstrdup(subject);
    struct dynbuf out;
    dynbuf_init(&out, TMPL_RENDER_MAX);
    /* 45 bytes make 60 base64 characters: with "=?UTF-8?B?" and "?=" a word stays under
     * RFC 2047's 75. */
    const size_t chunk = 45;
    size_t len = strlen(subject);
    size_t i = 0;
    bool first = true;
    while (i < len) {
        size_t n = 0;
        while (i + n < len) {
            size_t l = mail_utf8_len((unsigned char)subject[i + n]);
            if (n + l > chunk)
                break;
            n += l;
        }
        if (n == 0)
            n = len - i < chunk ? len - i : chunk;
        char piece[64];
        size_t k = 0;
        /* Control characters (a template's CR or LF) become spaces: a header stays one
         * header. */
        for (size_t j = 0; j < n && i + j < len; j++) {
            unsigned char c = (unsigned char)subject[i + j];
            piece[k++] = (char)(c < 0x20 || c == 0x7F ? ' ' : c);
        }
        char *b64 = crypto_b64_encode(piece, k, CRYPTO_B64_STD);
        if (!first)
            dynbuf_addstr(&out, "\r\n ");
        dynbuf_addstr(&out, "=?UTF-8?B?");
        dynbuf_addstr(&out, b64);
        dynbuf_addstr(&out, "?=");
        free(b64);
        first = false;
        i += n;
    }
    return dynbuf_take(&out, NULL);
}

/* Append `data` base64-encoded in lines of 76 characters. */
static int mail_add_base64(struct dynbuf *out, const char *data, size_t len)
{
    char *b64 = crypto_b64_encode(data, len, CRYPTO_B64_STD);
    size_t blen = strlen(b64);
    int rc = 0;
    for (size_t i = 0; i < blen && rc == 0; i += 76) {
        size_t n = blen - i < 76 ? blen - i : 76;
        rc = dynbuf_add(out, b64 + i, n);
        if (rc == 0)
            rc = dynbuf_addstr(out, "\r\n");
    }
    free(b64);
    return rc;
}

/* A recipient as SMTP's RCPT TO takes it (see destcfg.c's check of `from`). */
static bool mail_address_ok(const char *s)
{
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || at[1] == '\0' || strlen(s) > 254)
        return false;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c <= 0x20 || *c == 0x7F || *c == '<' || *c == '>' || *c == ',' || *c == '"')
            return false;
    return true;
}

/* Render template member `name` of `email` (absent: NULL, no error). */
static int mail_render_text(struct render_ctx *c, const cJSON *email, const char *name,
                            enum tmpl_mode mode, size_t max, char **out, char *err, size_t errlen)
{
    *out = NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(email, name);
    if (!cJSON_IsString(t))
        return 0;
    char why[HB_ERR_LEN];
    struct dynbuf buf;
    dynbuf_init(&buf, max);
    int rc = tmpl_render_text_buf(t->valuestring, &c->tc, mode, &buf, NULL, why, sizeof(why));
    if (rc == TMPL_ETOOBIG) {
        snprintf(err, errlen, "email.%s %.200s", name, why);
        return RENDER_TOO_LARGE;
    }
    if (rc != 0) {
        snprintf(err, errlen, "email.%s: %.200s", name, why);
        return -1;
    }
    *out = dynbuf_take(&buf, NULL);
    return 0;
}

static int mail_add_part(struct dynbuf *out, const char *boundary, const char *type,
                         const char *body)
{
    char head[256];
    snprintf(head, sizeof(head),
             "--%s\r\nContent-Type: %s; charset=UTF-8\r\nContent-Transfer-Encoding: "
             "base64\r\n\r\n",
             boundary, type);
    if (dynbuf_addstr(out, head) != 0)
        return -1;
    return mail_add_base64(out, body, strlen(body));
}

int mail_render(struct render_ctx *c, const cJSON *email, const char *url, size_t max, bool redact,
                struct mail_message *out, char *err, size_t errlen)
{
    const struct job *j = c->job;
    char *subject = NULL, *text = NULL, *html = NULL, *subj_enc = NULL;
    struct dynbuf msg, to_line;
    int rc;
    memset(out, 0, sizeof(*out));
    dynbuf_init(&msg, max);
    dynbuf_init(&to_line, TMPL_RENDER_MAX);
    c->tc.redact_env = redact;

    const cJSON *from = cJSON_GetObjectItemCaseSensitive(email, "from");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(email, "to");
    out->from = xstrdup(cJSON_IsString(from) ? from->valuestring : "");
    int nto = cJSON_GetArraySize(to);
    out->rcpt = xcalloc((size_t)nto + 1, sizeof(*out->rcpt));
    int k = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, to)
    {
        if (!cJSON_IsString(t))
            continue;
        char why[HB_ERR_LEN];
        struct dynbuf buf;
        dynbuf_init(&buf, MAIL_FIELD_MAX);
        rc =
            tmpl_render_text_buf(t->valuestring, &c->tc, TMPL_HEADER, &buf, NULL, why, sizeof(why));
        if (rc != 0) {
            snprintf(err, errlen, "email.to: %.200s", why);
            rc = rc == TMPL_ETOOBIG ? RENDER_TOO_LARGE : -1;
            goto out;
        }
        char *addr = dynbuf_take(&buf, NULL);
        /* A recipient from the sender's input must be one address: no second one, no
         * SMTP command, no header smuggled in. */
        if (!mail_address_ok(addr)) {
            snprintf(err, errlen, "email.to rendered to something that is not one address: %.120s",
                     addr);
            free(addr);
            rc = -1;
            goto out;
        }
        out->rcpt[k++] = addr;
        if (dynbuf_len(&to_line) > 0)
            dynbuf_addstr(&to_line, ", ");
        dynbuf_addstr(&to_line, addr);
    }
    if ((rc = mail_render_text(c, email, "subject", TMPL_HEADER, MAIL_FIELD_MAX, &subject, err,
                               errlen)) != 0 ||
        (rc = mail_render_text(c, email, "text", TMPL_TEXT, max, &text, err, errlen)) != 0 ||
        (rc = mail_render_text(c, email, "html", TMPL_TEXT, max, &html, err, errlen)) != 0)
        goto out;

    subj_enc = mail_subject_encode(subject ? subject : "");
    const char *domain = strchr(out->from, '@');
    domain = domain ? domain + 1 : "hookbridge.invalid";
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    char *head = xasprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n"
                           "Message-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
                           "X-Hookbridge-Event-Id: %s\r\nUser-Agent: hookbridge/%s\r\n",
                           out->from, dynbuf_ptr(&to_line), subj_enc, date, j->id, domain, j->id,
                           HB_VERSION);
    rc = dynbuf_addstr(&msg, head);
    free(head);
    char boundary[HB_ID_LEN + 16];
    snprintf(boundary, sizeof(boundary), "=_hookbridge_%s", j->id);
    if (rc == 0 && text != NULL && html != NULL) {
        char *ct =
            xasprintf("Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
        rc = dynbuf_addstr(&msg, ct);
        free(ct);
        /* Plain text first: RFC 2046 puts the most faithful version last. */
        if (rc == 0)
            rc = mail_add_part(&msg, boundary, "text/plain", text);
        if (rc == 0)
            rc = mail_add_part(&msg, boundary, "text/html", html);
        if (rc == 0) {
            char end[HB_ID_LEN + 32];
            snprintf(end, sizeof(end), "--%s--\r\n", boundary);
            rc = dynbuf_addstr(&msg, end);
        }
    } else if (rc == 0) {
        const char *body = text ? text : html ? html : "";
        char *ct = xasprintf("Content-Type: %s; charset=UTF-8\r\n"
                             "Content-Transfer-Encoding: base64\r\n\r\n",
                             text || !html ? "text/plain" : "text/html");
        rc = dynbuf_addstr(&msg, ct);
        free(ct);
        if (rc == 0)
            rc = mail_add_base64(&msg, body, strlen(body));
    }
    if (rc != 0) {
        snprintf(err, errlen, "email message is larger than %zu bytes", max);
        rc = RENDER_TOO_LARGE;
        goto out;
    }
    out->data = dynbuf_take(&msg, &out->len);

    /* What the event shows: the envelope and headers, and the text (or html) as sent. */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", "SMTP");
    cJSON_AddStringToObject(o, "url", url);
    cJSON *h = cJSON_AddObjectToObject(o, "headers");
    cJSON_AddStringToObject(h, "From", out->from);
    cJSON_AddStringToObject(h, "To", dynbuf_ptr(&to_line));
    cJSON_AddStringToObject(h, "Subject", subject ? subject : "");
    char *mid = xasprintf("<%s@%s>", j->id, domain);
    cJSON_AddStringToObject(h, "Message-ID", mid);
    free(mid);
    cJSON_AddStringToObject(o, "body", text ? text : html ? html : "");
    out->shown = o;
    rc = 0;
out:
    dynbuf_free(&msg);
    dynbuf_free(&to_line);
    free(subject);
    free(text);
    free(html);
    free(subj_enc);
    return rc;
}
