/*
 * event_status.h - the statuses of an event and of each route's delivery, as an enum with
 * one name table, so that control flow is a `switch` the compiler checks rather than
 * strcmp on string literals.
 *
 * The names are the API's and SQLite's (schemas/event.schema.json); the enum values are
 * private to the processes and never stored.
 */
#ifndef EVENT_STATUS_H
#define EVENT_STATUS_H

#include <stdbool.h>
#include <stddef.h>

enum event_status {
    EVENT_STATUS_QUEUED,
    EVENT_STATUS_SCHEDULED,
    EVENT_STATUS_RETRYING,
    EVENT_STATUS_DELIVERED,
    EVENT_STATUS_FAILED,
    EVENT_STATUS_FILTERED,
    EVENT_STATUS_ABORTED,
};

#define EVENT_STATUS_COUNT 7

/* The API name ("queued", …) of `s`; "unknown" for a value outside the enum. */
const char *event_status_name(enum event_status s);

/* The status named `name` (exact, lower case). Returns 0 and *out, or -1 when unknown. */
int event_status_parse(const char *name, enum event_status *out);

/* Whether `s` is an outcome (delivered, failed, filtered, aborted) rather than a wait. */
bool event_status_final(enum event_status s);

/*
 * An event's status from its routes' statuses (n >= 1): while any route is pending, the
 * most advanced pending one (retrying, then scheduled, then queued); then failed if any
 * route failed, else aborted if any was aborted, else delivered if any was delivered, else
 * filtered. With n == 0, queued.
 */
enum event_status event_status_derive(const enum event_status *routes, size_t n);

#endif
