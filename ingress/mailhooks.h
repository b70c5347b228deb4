/*
 * mailhooks.h - e-mail in: the SMTP listener's owner, making events of the mail it takes.
 *
 * Mail to {endpoint}@any.domain becomes an event of that bridge, after the same checks
 * as a webhook: at RCPT the endpoint must name a bridge (550), be active (450) and need no
 * inbound auth, which mail cannot carry (550 5.7.1); after DATA the message is parsed
 * (common/mail_in.h), checked against each bridge's schema and queued in Redis, one event
 * per recipient bridge, and 250 is answered only once Redis holds every one of them (451
 * when it does not: the sender retries, and the retry does not queue a bridge twice).
 */
#ifndef MAILHOOKS_H
#define MAILHOOKS_H

#include "ingress.h"

struct smtpd;

/* Serve SMTP on `listen_fd` (not owned) with the ingress's limits, offering STARTTLS when
 * --tls-cert and --tls-key are set. NULL with `err` on failure. */
struct smtpd *mailhooks_listen(struct ingress *in, int listen_fd, char *err, size_t errlen);

#endif
