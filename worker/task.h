/*
 * task.h - one job's delivery attempt, from the job hash to the recorded outcome.
 */
#ifndef TASK_H
#define TASK_H

struct worker;
struct job;

/* Deliver one job taken from Redis; takes ownership of `job` (heap-allocated). */
void task_run(struct worker *w, struct job *job);

/* Tasks whose HTTP request is in flight. */
int task_active(void);

/* Abandon in-flight requests (shutdown timeout): their jobs stay in the in-flight list and
 * are released by fetch_release_all. */
void task_cancel_all(void);

#endif
