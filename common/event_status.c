/*
 * event_status.c - the one table of event status names, and the rule that derives an
 * event's status from its routes' deliveries.
 */
#include "event_status.h"

#include <string.h>

static const char *const event_status_names[EVENT_STATUS_COUNT] = {
    [EVENT_STATUS_QUEUED] = "queued",     [EVENT_STATUS_SCHEDULED] = "scheduled",
    [EVENT_STATUS_RETRYING] = "retrying", [EVENT_STATUS_DELIVERED] = "delivered",
    [EVENT_STATUS_FAILED] = "failed",     [EVENT_STATUS_FILTERED] = "filtered",
    [EVENT_STATUS_ABORTED] = "aborted",
};

const char *event_status_name(enum event_status s)
{
    if ((unsigned)s >= EVENT_STATUS_COUNT)
        return "unknown";
    return event_status_names[s];
}

int event_status_parse(const char *name, enum event_status *out)
{
    for (unsigned i = 0; name != NULL && i < EVENT_STATUS_COUNT; i++) {
        if (strcmp(name, event_status_names[i]) == 0) {
            *out = (enum event_status)i;
            return 0;
        }
    }
    return -1;
}

bool event_status_final(enum event_status s)
{
    switch (s) {
    case EVENT_STATUS_QUEUED:
    case EVENT_STATUS_SCHEDULED:
    case EVENT_STATUS_RETRYING:
        return false;
    case EVENT_STATUS_DELIVERED:
    case EVENT_STATUS_FAILED:
    case EVENT_STATUS_FILTERED:
    case EVENT_STATUS_ABORTED:
        return true;
    }
    return false;
}

/* Rank for the derivation: a higher rank wins. Pending statuses outrank every outcome, as
 * the event is not finished while one route still waits. */
static int event_status_rank(enum event_status s)
{
    switch (s) {
    case EVENT_STATUS_RETRYING:
        return 7;
    case EVENT_STATUS_SCHEDULED:
        return 6;
    case EVENT_STATUS_QUEUED:
        return 5;
    case EVENT_STATUS_FAILED:
        return 4;
    case EVENT_STATUS_ABORTED:
        return 3;
    case EVENT_STATUS_DELIVERED:
        return 2;
    case EVENT_STATUS_FILTERED:
        return 1;
    }
    return 0;
}

enum event_status event_status_derive(const enum event_status *routes, size_t n)
{
    if (n == 0)
        return EVENT_STATUS_QUEUED;
    enum event_status best = routes[0];
    for (size_t i = 1; i < n; i++)
        if (event_status_rank(routes[i]) > event_status_rank(best))
            best = routes[i];
    return best;
}
