/*
 * smtpparse.c - SMTP command lines, parsed without I/O (see smtpparse.h).
 *
 * Lenient where real clients differ and nothing is at stake (a space after "FROM:", a path
 * without angle brackets, lower-case verbs), strict where a mistake would matter: control
 * bytes anywhere in a path, unknown MAIL or RCPT parameters (we advertise only SIZE and
 * 8BITMIME), and arguments to verbs that take none.
 */
#include "smtpparse.h"

#include "ids.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    enum smtpparse_verb verb;
} smtpparse_verbs[] = {
    {"HELO", SMTPPARSE_HELO},
    {"EHLO", SMTPPARSE_EHLO},
    {"MAIL", SMTPPARSE_MAIL},
    {"RCPT", SMTPPARSE_RCPT},
    {"DATA", SMTPPARSE_DATA},
    {"RSET", SMTPPARSE_RSET},
    {"NOOP", SMTPPARSE_NOOP},
    {"QUIT", SMTPPARSE_QUIT},
    {"STARTTLS", SMTPPARSE_STARTTLS},
    {"VRFY", SMTPPARSE_NOT_IMPLEMENTED},
    {"EXPN", SMTPPARSE_NOT_IMPLEMENTED},
    {"HELP", SMTPPARSE_NOT_IMPLEMENTED},
    {"AUTH", SMTPPARSE_NOT_IMPLEMENTED},
    {"BDAT", SMTPPARSE_NOT_IMPLEMENTED},
    {"TURN", SMTPPARSE_NOT_IMPLEMENTED},
    {"ETRN", SMTPPARSE_NOT_IMPLEMENTED},
};

static int smtpparse_fail(struct smtpparse_error *e, int code, const char *text)
{
    e->code = code;
    e->text = text;
    return -1;
}

/* Printable ASCII or UTF-8 bytes: what a path or domain may hold. */
static bool smtpparse_path_byte(unsigned char c)
{
    return c > 0x20 && c != 0x7F;
}

/*
 * The path at s[0..len) ("<...>" or a bare address) into out; *used is how many bytes it
 * took. A source route before ':' is dropped.
 */
static bool smtpparse_path(const char *s, size_t len, char *out, size_t *used)
{
    size_t i = 0, start, end;
    bool angled = len > 0 && s[0] == '<';
    if (angled) {
        const char *close = memchr(s, '>', len);
        if (close == NULL)
            return false;
        start = 1;
        end = (size_t)(close - s);
        *used = end + 1;
    } else {
        while (i < len && s[i] != ' ')
            i++;
        start = 0;
        end = i;
        *used = i;
        if (end == 0)
            return false;
    }
    if (end > start && s[start] == '@') {
        const char *colon = memchr(s + start, ':', end - start);
        if (colon == NULL)
            return false;
        start = (size_t)(colon - s) + 1;
    }
    if (end - start > SMTPPARSE_PATH_MAX)
        return false;
    for (size_t k = start; k < end; k++)
        if (!smtpparse_path_byte((unsigned char)s[k]) || s[k] == '<' || s[k] == '>')
            return false;
    memcpy(out, s + start, end - start);
    out[end - start] = '\0';
    return true;
}

/* MAIL's parameters: SIZE=<digits> and BODY=7BIT|8BITMIME. */
static int smtpparse_mail_params(const char *s, size_t len, struct smtpparse_cmd *cmd,
                                 struct smtpparse_error *e)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && s[i] == ' ')
            i++;
        size_t k = i;
        while (k < len && s[k] != ' ')
            k++;
        if (k == i)
            break;
        const char *p = s + i;
        size_t n = k - i;
        if (n > 5 && strncasecmp(p, "SIZE=", 5) == 0) {
            long long v = 0;
            if (n - 5 > 18)
                return smtpparse_fail(e, 501, "5.5.4 SIZE value out of range");
            for (size_t d = 5; d < n; d++) {
                if (p[d] < '0' || p[d] > '9')
                    return smtpparse_fail(e, 501, "5.5.4 SIZE must be a number");
                v = v * 10 + (p[d] - '0');
            }
            cmd->size = v;
        } else if ((n == 9 && strncasecmp(p, "BODY=7BIT", 9) == 0) ||
                   (n == 13 && strncasecmp(p, "BODY=8BITMIME", 13) == 0)) {
            /* Both are stored as they come: the message is bytes either way. */
        } else {
            return smtpparse_fail(e, 555, "5.5.4 unsupported MAIL parameter");
        }
        i = k;
    }
    return 0;
}

int smtpparse_command(const char *line, size_t len, struct smtpparse_cmd *cmd,
                      struct smtpparse_error *e)
{
    memset(cmd, 0, sizeof(*cmd));
    cmd->size = -1;
    if (len > SMTPPARSE_LINE_MAX)
        return smtpparse_fail(e, 500, "5.5.2 line too long");
    if (memchr(line, '\0', len) != NULL)
        return smtpparse_fail(e, 500, "5.5.2 NUL byte in command");
    size_t vlen = 0;
    while (vlen < len && line[vlen] != ' ')
        vlen++;
    size_t i = 0, nverbs = sizeof(smtpparse_verbs) / sizeof(smtpparse_verbs[0]);
    for (; i < nverbs; i++)
        if (strlen(smtpparse_verbs[i].name) == vlen &&
            strncasecmp(line, smtpparse_verbs[i].name, vlen) == 0)
            break;
    if (i == nverbs)
        return smtpparse_fail(e, 500, "5.5.2 command not recognized");
    cmd->verb = smtpparse_verbs[i].verb;
    const char *arg = line + vlen;
    size_t alen = len - vlen;
    while (alen > 0 && arg[0] == ' ') {
        arg++;
        alen--;
    }
    while (alen > 0 && (arg[alen - 1] == ' ' || arg[alen - 1] == '\t'))
        alen--;

    switch (cmd->verb) {
    case SMTPPARSE_HELO:
    case SMTPPARSE_EHLO: {
        size_t d = 0;
        while (d < alen && arg[d] != ' ')
            d++;
        if (d == 0)
            return smtpparse_fail(e, 501, "5.5.4 a domain or address literal is required");
        if (d > SMTPPARSE_DOMAIN_MAX)
            return smtpparse_fail(e, 501, "5.5.4 domain too long");
        for (size_t k = 0; k < d; k++)
            if (!smtpparse_path_byte((unsigned char)arg[k]))
                return smtpparse_fail(e, 501, "5.5.4 bad domain");
        memcpy(cmd->domain, arg, d);
        cmd->domain[d] = '\0';
        return 0;
    }
    case SMTPPARSE_MAIL:
    case SMTPPARSE_RCPT: {
        const char *kw = cmd->verb == SMTPPARSE_MAIL ? "FROM:" : "TO:";
        size_t kl = strlen(kw), used;
        if (alen < kl || strncasecmp(arg, kw, kl) != 0)
            return smtpparse_fail(e, 501,
                                  cmd->verb == SMTPPARSE_MAIL ? "5.5.4 syntax: MAIL FROM:<address>"
                                                              : "5.5.4 syntax: RCPT TO:<address>");
        arg += kl;
        alen -= kl;
        while (alen > 0 && arg[0] == ' ') {
            arg++;
            alen--;
        }
        if (!smtpparse_path(arg, alen, cmd->path, &used))
            return smtpparse_fail(e, 501, "5.1.7 bad address syntax");
        if (cmd->verb == SMTPPARSE_RCPT && cmd->path[0] == '\0')
            return smtpparse_fail(e, 501, "5.1.3 a recipient is required");
        if (used < alen && arg[used] != ' ')
            return smtpparse_fail(e, 501, "5.1.7 bad address syntax");
        if (cmd->verb == SMTPPARSE_MAIL)
            return smtpparse_mail_params(arg + used, alen - used, cmd, e);
        for (size_t k = used; k < alen; k++)
            if (arg[k] != ' ')
                return smtpparse_fail(e, 555, "5.5.4 RCPT parameters are not supported");
        return 0;
    }
    case SMTPPARSE_NOOP:
    case SMTPPARSE_NOT_IMPLEMENTED:
        return 0; /* NOOP's argument is ignored (RFC 5321 4.1.1.9) */
    case SMTPPARSE_DATA:
    case SMTPPARSE_RSET:
    case SMTPPARSE_QUIT:
    case SMTPPARSE_STARTTLS:
        if (alen != 0)
            return smtpparse_fail(e, 501, "5.5.4 no arguments allowed");
        return 0;
    }
    return smtpparse_fail(e, 500, "5.5.2 command not recognized");
}

bool smtpparse_data_line(const char *line, size_t len, const char **out, size_t *outlen)
{
    if (len == 1 && line[0] == '.')
        return true;
    if (len > 0 && line[0] == '.') {
        line++;
        len--;
    }
    *out = line;
    *outlen = len;
    return false;
}

bool smtpparse_rcpt_endpoint(const char *path, char ep[HB_ENDPOINT_LEN + 1])
{
    const char *at = strchr(path, '@');
    if (at == NULL || at[1] == '\0' || strchr(at + 1, '@') != NULL)
        return false;
    size_t n = (size_t)(at - path);
    if (!ids_endpoint_valid(path, n))
        return false;
    memcpy(ep, path, n);
    ep[n] = '\0';
    return true;
}
