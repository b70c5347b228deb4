/*
 * hb.h - constants shared by every hookbridge module.
 *
 * Kept tiny on purpose: error-buffer size, the version string and the id lengths that
 * several modules size their buffers with.
 */
#ifndef HB_H
#define HB_H

#define HB_VERSION "0.1.0"

/* Size of the caller-provided error buffers (`char err[HB_ERR_LEN]`). */
#define HB_ERR_LEN 256

/* "brg_" / "evt_" + 26-character ULID + NUL. */
#define HB_ID_LEN 32

/* Longest endpoint token we accept in a URL (ours are 32 characters). */
#define HB_ENDPOINT_LEN 64

/* Response bodies are kept in events up to this many bytes. */
#define HB_RESPONSE_BODY_MAX (64 * 1024)

#endif
