/*
 * notice.h - failure notices: when an event fails for good and its bridge has a
 * notify_url, one POST there saying which event failed and why, signed like deliveries
 * when the bridge has a signing secret. One try only: a notice must never hold up
 * deliveries or loop on a broken receiver.
 */
#ifndef NOTICE_H
#define NOTICE_H

#include "crypto.h"

#include <stdint.h>

struct bridge;
struct deliver;
struct job;
struct route;

/* What a notice says about one failed event. */
struct notice_failure {
    const struct bridge *bridge;
    const struct route *route; /* the route whose delivery failed: its notify_url, signing */
    const struct job *job;
    int attempts;           /* attempts made */
    int last_status;        /* HTTP status of the last attempt; 0 when none came */
    const char *last_error; /* why the last attempt failed; NULL for none */
};

/*
 * The notice's JSON body: {type "event.failed", event_id, bridge_id, bridge_name, route
 * (only for one route of a bridge with routes), status "failed", attempts, last_status,
 * last_error, received_at, failed_at (`now_ms`), replay_of}, with null for what is
 * unknown. The caller frees it.
 */
char *notice_body(const struct notice_failure *f, int64_t now_ms);

/* Send the notice through `d` when there is a bridge and the route has a notify_url
 * (nothing otherwise); `key` opens the route's signing secret. The outcome is logged. */
void notice_send(struct deliver *d, const struct notice_failure *f,
                 const unsigned char key[CRYPTO_KEY_LEN]);

/* Abandon the notices still in flight (shutdown). */
/*
 * POST {"type": "circuit_opened"|"circuit_closed", "bridge_id", "route", "at", "event_id"
 * (the attempt that opened or closed it), "open_seconds" (opened only)} to the bridge's
 * notify_url, if it has one (SPEC "Flow control").
 */
void notice_send_circuit(struct deliver *d, const struct bridge *b, const char *route,
                         const char *type, const char *event_id, long open_seconds,
                         const unsigned char key[CRYPTO_KEY_LEN]);

void notice_cancel_all(void);

#endif
