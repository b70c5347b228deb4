/*
 * smtpd.h - the ingress's SMTP listener (an RFC 5321 subset) on its libevent loop.
 *
 * Conversation only: it speaks EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT (and
 * STARTTLS when given a certificate: libevent's OpenSSL filter over the same socket), enforces
 * the limits (message size, line length, recipients, connections, bad commands) and the
 * timeouts of the HTTP listener (a command must arrive within the command timeout of its
 * first byte, the next one within the idle timeout, the whole DATA within the data timeout),
 * and asks its owner two things: whether a recipient is welcome (at RCPT) and what to answer
 * a complete message (after DATA). The owner (ingress/mailhooks.c) makes events of it.
 *
 * Lifetime: a struct smtpd_msg stays valid from the message function until its owner calls
 * smtpd_msg_reply, exactly once, from any callback of the same loop; if the client went away
 * meanwhile the reply is dropped and the message freed all the same.
 */
#ifndef SMTPD_H
#define SMTPD_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct smtpd;
struct smtpd_msg;

/* Limits and timeouts. A zero field means the default given here. */
struct smtpd_config {
    size_t max_message;          /* raw message bytes, the SIZE we advertise: 552 (1048576) */
    unsigned max_recipients;     /* RCPTs per message: 452 (100) */
    unsigned max_errors;         /* refused commands per connection, then 421 (10) */
    unsigned command_timeout_ms; /* first byte of a command to its end: 421 (10000) */
    unsigned idle_timeout_ms;    /* waiting for the next command: 421 (30000) */
    unsigned data_timeout_ms;    /* 354 to the end of the message: 421 (30000) */
    unsigned write_timeout_ms;   /* no progress writing a reply: close (30000) */
    unsigned max_connections;    /* accepting pauses above this (10000) */
    const char *hostname;        /* in the greeting and EHLO (copied; NULL: "hookbridge") */
    const char *tls_cert;        /* PEM certificate chain file: STARTTLS offered (NULL: not) */
    const char *tls_key;         /* PEM private key file, with tls_cert */
};

/* The answer to a RCPT: `code` 250 to accept, else the refusal (e.g. 550) with `text`, a
 * static string starting with the enhanced status code ("5.1.1 unknown endpoint"). */
struct smtpd_rcpt_answer {
    int code;
    const char *text;
};

/* Is mail for `endpoint` (the local part of `address`) welcome? */
typedef struct smtpd_rcpt_answer (*smtpd_rcpt_fn)(const char *endpoint, const char *address,
                                                  void *arg);

/* A whole message is in; answer it with smtpd_msg_reply, now or later. */
typedef void (*smtpd_message_fn)(struct smtpd_msg *msg, void *arg);

void smtpd_config_init(struct smtpd_config *cfg);

/* Serve SMTP on `listen_fd` (a listening socket, not owned). Returns NULL with `err` when
 * the listener cannot be set up or the certificate and key cannot be loaded. */
struct smtpd *smtpd_new(struct event_base *base, int listen_fd, const struct smtpd_config *cfg,
                        smtpd_rcpt_fn rcpt, smtpd_message_fn message, void *arg, char *err,
                        size_t errlen);

/* Stop accepting; idle connections get 421 and close, busy ones close after their answer. */
void smtpd_stop_accepting(struct smtpd *s);

/* Messages waiting for their answer, and connections whose last reply (a 421 on stopping)
 * is still going out: zero means smtpd_free cuts nothing short. */
size_t smtpd_active(const struct smtpd *s);

/* Close everything; waiting messages are detached (their reply only frees them). */
void smtpd_free(struct smtpd *s);

/* The message as received (dot-stuffing undone, CRLF line ends), NUL-terminated. */
const char *smtpd_msg_data(const struct smtpd_msg *msg, size_t *len);
/* Accepted recipients, each endpoint once, in RCPT order. */
size_t smtpd_msg_rcpt_count(const struct smtpd_msg *msg);
const char *smtpd_msg_rcpt_endpoint(const struct smtpd_msg *msg, size_t i);
const char *smtpd_msg_rcpt_address(const struct smtpd_msg *msg, size_t i);
/* MAIL FROM's address ("" for <>), the HELO/EHLO name, the client's "ip:port". */
const char *smtpd_msg_from(const struct smtpd_msg *msg);
const char *smtpd_msg_helo(const struct smtpd_msg *msg);
const char *smtpd_msg_peer(const struct smtpd_msg *msg);

/* Answer the message (`text` starts with the enhanced status code; copied) and free it. */
void smtpd_msg_reply(struct smtpd_msg *msg, int code, const char *text);

#endif
