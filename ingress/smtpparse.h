/*
 * smtpparse.h - the pure SMTP command parser behind ingress/smtpd.c.
 *
 * It works on one command line already read (CRLF removed) and knows nothing about
 * sockets or sessions, so that every rule of the RFC 5321 subset we speak can be tested on
 * a string and fuzzed. Errors come back as the reply the server should send (code and
 * enhanced status text), never as a crash or an allocation.
 */
#ifndef SMTPPARSE_H
#define SMTPPARSE_H

#include "hb.h"

#include <stdbool.h>
#include <stddef.h>

/* Longest command line we read, CRLF excluded (RFC 5321 4.5.3.1.4 says 512 with CRLF; ESMTP
 * parameters may add to it). Longer: 500 and the connection is closed. */
#define SMTPPARSE_LINE_MAX 1000
/* Longest reverse- or forward-path, brackets excluded (RFC 5321 4.5.3.1.3). */
#define SMTPPARSE_PATH_MAX 256
/* Longest HELO/EHLO argument kept. */
#define SMTPPARSE_DOMAIN_MAX 255

enum smtpparse_verb {
    SMTPPARSE_HELO,
    SMTPPARSE_EHLO,
    SMTPPARSE_MAIL,
    SMTPPARSE_RCPT,
    SMTPPARSE_DATA,
    SMTPPARSE_RSET,
    SMTPPARSE_NOOP,
    SMTPPARSE_QUIT,
    SMTPPARSE_STARTTLS,
    SMTPPARSE_NOT_IMPLEMENTED, /* VRFY, EXPN, HELP, AUTH, BDAT, ...: 502 */
};

struct smtpparse_cmd {
    enum smtpparse_verb verb;
    /* MAIL: the reverse-path ("" for the null path <>); RCPT: the forward-path; a source
     * route (<@a,@b:user@host>) is dropped as RFC 5321 says. */
    char path[SMTPPARSE_PATH_MAX + 1];
    char domain[SMTPPARSE_DOMAIN_MAX + 1]; /* HELO/EHLO */
    long long size;                        /* MAIL SIZE=, -1 when absent */
};

/* A refused command: the reply to send. `text` is static and starts with the enhanced
 * status code. */
struct smtpparse_error {
    int code;
    const char *text;
};

/*
 * Parse line[0..len) (no CRLF; may hold any bytes). Returns 0 with *cmd filled, or -1 with
 * *e the reply: 500 unknown command or bad line, 501 bad arguments, 555 an unsupported MAIL
 * or RCPT parameter. Verbs are case-insensitive.
 */
int smtpparse_command(const char *line, size_t len, struct smtpparse_cmd *cmd,
                      struct smtpparse_error *e);

/*
 * One line of DATA, without its CRLF. Returns true when it is the end marker "."; else
 * `out` and `outlen` are the line with one leading dot removed (dot-stuffing, RFC 5321 4.5.2).
 */
bool smtpparse_data_line(const char *line, size_t len, const char **out, size_t *outlen);

/*
 * The endpoint a forward-path names: its local part when the path is local@domain with a
 * non-empty domain and the local part is a valid endpoint name (ids_endpoint_valid).
 * Returns false otherwise. `ep` holds HB_ENDPOINT_LEN + 1 bytes.
 */
bool smtpparse_rcpt_endpoint(const char *path, char ep[HB_ENDPOINT_LEN + 1]);

#endif
