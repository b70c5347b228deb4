/*
 * retention.h - the worker's deletion of events older than --retention-days.
 */
#ifndef RETENTION_H
#define RETENTION_H

struct event_base;
struct store;
struct retention;

/* Start deleting old events on `base`; NULL when days is 0 (nothing to do) or when its timer
 * cannot be made (out of memory). */
struct retention *retention_start(struct event_base *base, struct store *st, long days);

/* Stop and free (NULL is fine). */
void retention_stop(struct retention *r);

#endif
