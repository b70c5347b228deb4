/*
 * listener.h - the accepting half of the ingress's servers (httpd.c for HTTP, smtpd.c for
 * SMTP), written once: accept every waiting connection on a listening socket, listen only
 * while the server wants more connections, and pause for a moment when accept fails for
 * want of descriptors, instead of spinning on a listener that stays readable.
 */
#ifndef LISTENER_H
#define LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct listener;

/* How long accepting pauses after a failure such as EMFILE. */
#define LISTENER_BACKOFF_MS 100

/*
 * Called for each accepted connection: `fd` is non-blocking and close-on-exec, and now the
 * callback's (it closes it when it cannot serve it). `peer` is the client's address. It may
 * call listener_want() to stop the accept loop (at its maximum of connections).
 */
typedef void (*listener_accept_fn)(int fd, const struct sockaddr_storage *peer, void *arg);

/*
 * Accept on `listen_fd` (a listening socket: made non-blocking here, not owned: close it
 * after listener_free) from `base`. Starts listening at once. Returns NULL when the socket
 * or the events cannot be set up.
 */
struct listener *listener_new(struct event_base *base, int listen_fd, listener_accept_fn fn,
                              void *arg);

/* Whether the server wants connections now (not stopping, below its maximum). It listens
 * exactly when it does and is not pausing after a failed accept. Cheap to call often. */
void listener_want(struct listener *l, bool want);

/* Stop listening and free (NULL is ignored). */
void listener_free(struct listener *l);

/* The address as "1.2.3.4:5678", "[::1]:5678", or "unix" for other families. */
void listener_peer_name(const struct sockaddr_storage *peer, char *out, size_t outlen);

/* Room listener_peer_name needs: an IPv6 address in brackets, a colon and a port. */
#define LISTENER_PEER_LEN 64

#endif
