/*
 * mail_in.c - an e-mail as its event's payload JSON, parsed with GMime (see mail_in.h).
 *
 * MIME is parsed by GMime rather than by hand: transfer encodings, RFC 2047 words, RFC 2231
 * filenames, charsets and the many ways real mail is broken are its job. What is ours is the
 * mapping: the first inline text/plain and text/html parts (later inline ones appended) are
 * `text` and `html`; every other leaf part, and any part with a filename or an attachment
 * disposition, is an attachment; a forwarded message (message/rfc822 part) is one
 * attachment holding its bytes. The walk is bounded (depth, parts) because a hostile
 * message may nest multiparts thousands deep within --max-body.
 */
#include "mail_in.h"

#include "utf8.h"
#include "xalloc.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Multipart nesting walked; deeper parts are left out of the payload. */
#define MAIL_IN_MAX_DEPTH 32
/* Leaf parts looked at; a message of thousands of tiny parts is cut there. */
#define MAIL_IN_MAX_PARTS 1000
/* Header fields copied into "headers": real mail has tens; the rest are dropped so that a
 * message of a million one-byte headers costs no more than its bytes. */
#define MAIL_IN_MAX_HEADERS 200
/* Groups inside groups (RFC 5322 forbids nesting; GMime reads it anyway). */
#define MAIL_IN_MAX_GROUP_DEPTH 4

struct mail_in_walk {
    cJSON *attachments;
    GString *text, *html;
    bool got_text, got_html; /* an inline part was seen, even an empty one */
    int parts;
};

static pthread_once_t mail_in_once = PTHREAD_ONCE_INIT;

static void mail_in_init(void)
{
    g_mime_init();
}

bool mail_in_ctype_is_rfc822(const char *ctype)
{
    if (ctype == NULL)
        return false;
    while (*ctype == ' ' || *ctype == '\t')
        ctype++;
    size_t n = strlen("message/rfc822");
    if (strncasecmp(ctype, "message/rfc822", n) != 0)
        return false;
    char c = ctype[n];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

/* A JSON string of s (NULL: null), made valid UTF-8 on the way in. */
static cJSON *mail_in_string(const char *s)
{
    if (s == NULL)
        return cJSON_CreateNull();
    char *clean = utf8_sanitize(s, strlen(s), false);
    cJSON *v = cJSON_CreateString(clean);
    free(clean);
    return v;
}

static cJSON *mail_in_mailbox(InternetAddress *ia)
{
    cJSON *o = cJSON_CreateObject();
    const char *name = internet_address_get_name(ia);
    cJSON_AddItemToObject(o, "name", mail_in_string(name && name[0] ? name : NULL));
    const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
    cJSON_AddItemToObject(o, "address", mail_in_string(addr ? addr : ""));
    return o;
}

/* The mailboxes of `list` appended to `arr`, a group's members in its place. */
static void mail_in_addresses(cJSON *arr, InternetAddressList *list, int depth)
{
    if (list == NULL || depth > MAIL_IN_MAX_GROUP_DEPTH)
        return;
    int n = internet_address_list_length(list);
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia))
            cJSON_AddItemToArray(arr, mail_in_mailbox(ia));
        else if (INTERNET_ADDRESS_IS_GROUP(ia))
            mail_in_addresses(arr, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
                              depth + 1);
    }
}

/* The first mailbox of `list` (a group's first member counts), or NULL. */
static InternetAddress *mail_in_first(InternetAddressList *list, int depth)
{
    if (list == NULL || depth > MAIL_IN_MAX_GROUP_DEPTH)
        return NULL;
    int n = internet_address_list_length(list);
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia))
            return ia;
        InternetAddress *m = mail_in_first(
            internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), depth + 1);
        if (m != NULL)
            return m;
    }
    return NULL;
}

/* The message's Date in UTC as RFC 3339 ("2026-12-03T10:00:00Z"), or null. */
static cJSON *mail_in_date(GMimeMessage *msg)
{
    GDateTime *d = g_mime_message_get_date(msg);
    if (d == NULL)
        return cJSON_CreateNull();
    GDateTime *utc = g_date_time_to_utc(d);
    if (utc == NULL)
        return cJSON_CreateNull();
    gchar *s = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ");
    g_date_time_unref(utc);
    cJSON *v = mail_in_string(s);
    g_free(s);
    return v;
}

/*
 * Header fields by lower-cased name. A repeated field's values are joined with ", " (the
 * same rule as an HTTP request's $headers); values are GMime's unfolded, RFC 2047-decoded
 * text.
 */
static cJSON *mail_in_headers(GMimeObject *obj)
{
    cJSON *o = cJSON_CreateObject();
    GMimeHeaderList *list = g_mime_object_get_header_list(obj);
    int n = list ? g_mime_header_list_get_count(list) : 0;
    if (n > MAIL_IN_MAX_HEADERS)
        n = MAIL_IN_MAX_HEADERS;
    for (int i = 0; i < n; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
        const char *name = g_mime_header_get_name(h);
        const char *value = g_mime_header_get_value(h);
        if (name == NULL || name[0] == '\0')
            continue;
        char *lower = utf8_sanitize(name, strlen(name), false);
        for (char *c = lower; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        const char *v = value ? value : "";
        cJSON *old = cJSON_GetObjectItemCaseSensitive(o, lower);
        if (old == NULL) {
            cJSON_AddItemToObject(o, lower, mail_in_string(v));
        } else {
            char *joined = xasprintf("%s, %s", old->valuestring, v);
            cJSON_ReplaceItemInObjectCaseSensitive(o, lower, mail_in_string(joined));
            free(joined);
        }
        free(lower);
    }
    return o;
}

/* A part's content with its transfer encoding undone (the caller frees it with
 * g_byte_array_free). */
static GByteArray *mail_in_decoded(GMimePart *part)
{
    GMimeStream *mem = g_mime_stream_mem_new();
    GMimeDataWrapper *content = g_mime_part_get_content(part);
    if (content != NULL)
        g_mime_data_wrapper_write_to_stream(content, mem);
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
    g_object_unref(mem);
    return bytes;
}

/* UTF-8 text of a part's decoded bytes. Its declared charset is converted; 8-bit text with
 * no charset is taken as UTF-8 when it is that, else as ISO-8859-1 (every byte a letter),
 * so an old mailer's Latin-1 reads right; what stays invalid becomes U+FFFD. */
static char *mail_in_text(GMimeObject *obj, const GByteArray *bytes)
{
    const char *b = (const char *)bytes->data;
    size_t n = bytes->len;
    const char *charset = g_mime_object_get_content_type_parameter(obj, "charset");
    const char *from = NULL;
    if (charset != NULL && g_ascii_strcasecmp(charset, "utf-8") != 0 &&
        g_ascii_strcasecmp(charset, "utf8") != 0 && g_ascii_strcasecmp(charset, "us-ascii") != 0)
        from = g_mime_charset_iconv_name(charset);
    else if (charset == NULL && !utf8_valid(b, n, true))
        from = "ISO-8859-1";
    if (from != NULL) {
        gsize out_len = 0;
        gchar *conv = g_convert(b, (gssize)n, "UTF-8", from, NULL, &out_len, NULL);
        if (conv != NULL) {
            char *r = utf8_sanitize(conv, out_len, false);
            g_free(conv);
            return r;
        }
    }
    return utf8_sanitize(b, n, false);
}

static void mail_in_attachment(struct mail_in_walk *w, const char *filename, const char *ctype,
                               const guint8 *data, size_t len)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddItemToObject(a, "filename", mail_in_string(filename));
    cJSON_AddItemToObject(a, "content_type", mail_in_string(ctype));
    cJSON_AddNumberToObject(a, "size", (double)len);
    gchar *b64 = g_base64_encode(data, len);
    cJSON_AddStringToObject(a, "content_base64", b64);
    g_free(b64);
    cJSON_AddItemToArray(w->attachments, a);
}

/* Later inline parts of a type (a footer after an inline image) follow on a new line. */
static void mail_in_append(GString *s, const char *text)
{
    if (s->len > 0)
        g_string_append_c(s, '\n');
    g_string_append(s, text);
}

static void mail_in_leaf(struct mail_in_walk *w, GMimePart *part)
{
    GMimeObject *obj = GMIME_OBJECT(part);
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    const char *filename = g_mime_part_get_filename(part);
    bool plain = ct && g_mime_content_type_is_type(ct, "text", "plain");
    bool html = ct && g_mime_content_type_is_type(ct, "text", "html");
    GByteArray *bytes = mail_in_decoded(part);
    if ((plain || html) && filename == NULL && !g_mime_part_is_attachment(part)) {
        char *text = mail_in_text(obj, bytes);
        mail_in_append(plain ? w->text : w->html, text);
        *(plain ? &w->got_text : &w->got_html) = true;
        free(text);
    } else {
        gchar *type = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
        mail_in_attachment(w, filename, type ? type : "application/octet-stream", bytes->data,
                           bytes->len);
        g_free(type);
    }
    g_byte_array_free(bytes, TRUE);
}

/* A forwarded message: one attachment of its bytes as they came. */
static void mail_in_message_part(struct mail_in_walk *w, GMimeMessagePart *mp)
{
    GMimeMessage *inner = g_mime_message_part_get_message(mp);
    GMimeStream *mem = g_mime_stream_mem_new();
    if (inner != NULL)
        g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, mem);
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    const char *filename =
        g_mime_object_get_content_disposition_parameter(GMIME_OBJECT(mp), "filename");
    mail_in_attachment(w, filename, "message/rfc822", bytes->data, bytes->len);
    g_object_unref(mem);
}

static void mail_in_walk(struct mail_in_walk *w, GMimeObject *obj, int depth)
{
    if (obj == NULL || depth > MAIL_IN_MAX_DEPTH || w->parts >= MAIL_IN_MAX_PARTS)
        return;
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n && w->parts < MAIL_IN_MAX_PARTS; i++)
            mail_in_walk(w, g_mime_multipart_get_part(mp, i), depth + 1);
        return;
    }
    w->parts++;
    if (GMIME_IS_MESSAGE_PART(obj))
        mail_in_message_part(w, GMIME_MESSAGE_PART(obj));
    else if (GMIME_IS_PART(obj))
        mail_in_leaf(w, GMIME_PART(obj));
}

cJSON *mail_in_parse(const char *raw, size_t len, char *err, size_t errlen)
{
    pthread_once(&mail_in_once, mail_in_init);
    static const char *fallback[] = {"UTF-8", "ISO-8859-1", NULL};
    GMimeParserOptions *opts = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(opts, fallback);
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, opts);
    cJSON *o = NULL;
    if (msg == NULL) {
        snprintf(err, errlen, "not an e-mail message: no header block");
        goto out;
    }
    o = cJSON_CreateObject();
    InternetAddress *from = mail_in_first(g_mime_message_get_from(msg), 0);
    cJSON_AddItemToObject(o, "from", from ? mail_in_mailbox(from) : cJSON_CreateNull());
    cJSON *to = cJSON_AddArrayToObject(o, "to");
    mail_in_addresses(to, g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_TO), 0);
    cJSON *cc = cJSON_AddArrayToObject(o, "cc");
    mail_in_addresses(cc, g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_CC), 0);
    cJSON_AddItemToObject(o, "subject", mail_in_string(g_mime_message_get_subject(msg)));
    cJSON_AddItemToObject(o, "date", mail_in_date(msg));
    cJSON_AddItemToObject(o, "message_id", mail_in_string(g_mime_message_get_message_id(msg)));

    struct mail_in_walk w = {
        cJSON_CreateArray(), g_string_new(NULL), g_string_new(NULL), false, false, 0};
    GMimeObject *body = g_mime_message_get_mime_part(msg);
    mail_in_walk(&w, body, 0);
    /* null: the message has no such part; "": it has an empty one. */
    cJSON_AddItemToObject(o, "text", mail_in_string(w.got_text ? w.text->str : NULL));
    cJSON_AddItemToObject(o, "html", mail_in_string(w.got_html ? w.html->str : NULL));
    g_string_free(w.text, TRUE);
    g_string_free(w.html, TRUE);
    cJSON_AddItemToObject(o, "headers", mail_in_headers(GMIME_OBJECT(msg)));
    cJSON_AddItemToObject(o, "attachments", w.attachments);
out:
    if (msg != NULL)
        g_object_unref(msg);
    g_object_unref(parser);
    g_object_unref(stream);
    g_mime_parser_options_free(opts);
    return o;
}

char *mail_in_json(const char *raw, size_t len, char *err, size_t errlen)
{
    cJSON *o = mail_in_parse(raw, len, err, errlen);
    if (o == NULL)
        return NULL;
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
