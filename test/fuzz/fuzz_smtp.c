/*
 * fuzz_smtp.c - libFuzzer harness for ingress/smtpparse.c, the parser every SMTP command
 * line goes through. The input is a conversation: lines split at LF (a CR before it
 * dropped, as the server's reader does), each parsed as a command until a DATA is accepted,
 * then as message lines until the end marker, as ingress/smtpd.c does. Each line is copied
 * to a buffer of its exact size so that any read past it is caught; every accepted command
 * must leave a NUL-terminated path and domain without control bytes, every refusal a
 * known code with its text, and a recipient's endpoint must be a valid endpoint name.
 */
#include "ids.h"
#include "smtpparse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_check_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7F)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    int in_data = 0;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - data) : size;
        size_t len = end - pos;
        if (len > 0 && data[pos + len - 1] == '\r')
            len--;
        char *line = malloc(len ? len : 1);
        memcpy(line, data + pos, len);
        if (in_data) {
            const char *out;
            size_t outlen;
            if (smtpparse_data_line(line, len, &out, &outlen)) {
                in_data = 0;
            } else if (out < line || out + outlen > line + len) {
                abort();
            }
        } else {
            struct smtpparse_cmd cmd;
            struct smtpparse_error e;
            if (smtpparse_command(line, len, &cmd, &e) == 0) {
                fuzz_check_text(cmd.domain, SMTPPARSE_DOMAIN_MAX);
                fuzz_check_text(cmd.path, SMTPPARSE_PATH_MAX);
                if (cmd.verb == SMTPPARSE_RCPT) {
                    char ep[HB_ENDPOINT_LEN + 1];
                    if (smtpparse_rcpt_endpoint(cmd.path, ep) &&
                        !ids_endpoint_valid(ep, strlen(ep)))
                        abort();
                }
                if (cmd.verb == SMTPPARSE_DATA)
                    in_data = 1;
            } else if ((e.code != 500 && e.code != 501 && e.code != 555) || e.text == NULL ||
                       e.text[0] < '2' || e.text[0] > '5') {
                abort();
            }
        }
        free(line);
        pos = nl ? end + 1 : size;
    }
    return 0;
}
