/*
 * sweep.h - rows for events that wait: the workers' share of common/record.h.
 *
 * Every second a worker takes the ids on the unrecorded list that were received more than
 * SWEEP_AGE_MS ago and writes the rows of those still waiting (delayed, or behind a
 * backlog), so that SQLite shows them without anyone listing events first. An id whose
 * event was delivered meanwhile costs only its removal: its row was written by its
 * delivery. Any number of workers sweep at once; each id is taken by one.
 */
#ifndef SWEEP_H
#define SWEEP_H

struct worker;
struct sweep;

/* Start sweeping on w's loop, its command connection and its event writer; NULL when its
 * timer cannot be made (out of memory). */
struct sweep *sweep_start(struct worker *w);

/* Stop (NULL is fine); a take still waiting for Redis ends with the connection. */
void sweep_stop(struct sweep *s);

#endif
