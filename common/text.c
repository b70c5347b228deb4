/*
 * text.c - hex digits, percent-decoding, string hashes (FNV-1a, and SipHash with a per-process key)
 * and JSON quoting (see text.h).
 */
#include "text.h"

#include "dynbuf.h"
#include "shash.h"
#include "xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int text_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool text_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool text_is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!text_is_tchar((unsigned char)*s))
            return false;
    return true;
}

size_t text_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

uint32_t text_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

uint64_t text_hash_keyed(const void *p, size_t len)
{
    return shash(p, len);
}

char *text_uri_decode(const char *s)
{
    size_t n = strlen(s);
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? text_hex_value((unsigned char)s[i + 1]) : -1;
        int lo = hi >= 0 ? text_hex_value((unsigned char)s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

size_t text_form_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len &&
                   (hi = text_hex_value((unsigned char)s[i + 1])) >= 0 &&
                   (lo = text_hex_value((unsigned char)s[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

size_t text_json_escape(char *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20 || c == 0x7F) {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    return (size_t)(o - out);
}

size_t text_json_quote(char *out, const char *s, size_t len)
{
    out[0] = '"';
    size_t n = 1 + text_json_escape(out + 1, s, len);
    out[n] = '"';
    return n + 1;
}

char *text_json_put(char *out, const char *lead, const char *s)
{
    size_t l = strlen(lead);
    memcpy(out, lead, l);
    return out + l + text_json_quote(out + l, s, strlen(s));
}

int text_json_put_dynbuf(struct dynbuf *b, const char *lead, const char *s)
{
    /* Short strings (most header values, paths, methods) are quoted on the stack. */
    char small[512];
    size_t len = strlen(s);
    size_t need = TEXT_JSON_QUOTE_MAX(len);
    char *q = need <= sizeof(small) ? small : xmalloc(need);
    size_t n = text_json_quote(q, s, len);
    int rc = dynbuf_addstr(b, lead);
    if (rc == 0)
        rc = dynbuf_add(b, q, n);
    if (q != small)
        free(q);
    return rc;
}

size_t text_json_number(char out[TEXT_JSON_NUMBER_MAX], double d)
{
    if (!isfinite(d)) {
        memcpy(out, "null", 5);
        return 4;
    }
    if (d == 0) {
        memcpy(out, "0", 2);
        return 1;
    }
    int n = 0;
    if (d == floor(d) && fabs(d) < 1e17) {
        n = snprintf(out, TEXT_JSON_NUMBER_MAX, "%.0f", d);
        return (size_t)n;
    }
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, TEXT_JSON_NUMBER_MAX, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    return (size_t)n;
}

struct text_buf {
    char *p;
    size_t len, cap;
};

static void text_buf_add(struct text_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void text_buf_string(struct text_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + TEXT_JSON_QUOTE_MAX(n) + 1 > b->cap) {
        b->cap = (b->len + TEXT_JSON_QUOTE_MAX(n) + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    b->len += text_json_quote(b->p + b->len, s, n);
    b->p[b->len] = '\0';
}

/* A string's whole text (body.h's body_json_whole: U+0000 as C0 80), written with each
 * U+0000 as the escape \u0000 again. */
static void text_buf_whole_string(struct text_buf *b, const char *whole)
{
    size_t n = strlen(whole);
    char *plain = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)whole[i] == 0xC0 && (unsigned char)whole[i + 1] == 0x80) {
            plain[o++] = '\0';
            i++;
        } else {
            plain[o++] = whole[i];
        }
    }
    if (b->len + TEXT_JSON_QUOTE_MAX(o) + 1 > b->cap) {
        b->cap = (b->len + TEXT_JSON_QUOTE_MAX(o) + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    b->len += text_json_quote(b->p + b->len, plain, o);
    b->p[b->len] = '\0';
    free(plain);
}

static void text_print_value(struct text_buf *b, const cJSON *v)
{
    char num[TEXT_JSON_NUMBER_MAX];
    switch (v->type & 0xFF) {
    case cJSON_False:
        text_buf_add(b, "false", 5);
        break;
    case cJSON_True:
        text_buf_add(b, "true", 4);
        break;
    case cJSON_Number:
        text_buf_add(b, num, text_json_number(num, v->valuedouble));
        break;
    case cJSON_String:
        if (v->child != NULL && cJSON_IsRaw(v->child) && v->child->valuestring != NULL)
            text_buf_whole_string(b, v->child->valuestring);
        else
            text_buf_string(b, v->valuestring ? v->valuestring : "");
        break;
    case cJSON_Raw:
        text_buf_add(b, v->valuestring ? v->valuestring : "",
                     v->valuestring ? strlen(v->valuestring) : 0);
        break;
    case cJSON_Array:
    case cJSON_Object:
        text_buf_add(b, cJSON_IsArray(v) ? "[" : "{", 1);
        for (const cJSON *e = v->child; e != NULL; e = e->next) {
            if (cJSON_IsObject(v)) {
                text_buf_string(b, e->string ? e->string : "");
                text_buf_add(b, ":", 1);
            }
            text_print_value(b, e);
            if (e->next != NULL)
                text_buf_add(b, ",", 1);
        }
        text_buf_add(b, cJSON_IsArray(v) ? "]" : "}", 1);
        break;
    default:
        text_buf_add(b, "null", 4);
        break;
    }
}

char *text_json_print(const cJSON *v)
{
    struct text_buf b = {0};
    text_buf_add(&b, "", 0);
    if (v != NULL)
        text_print_value(&b, v);
    return b.p;
}
