/*
 * loading.h - opening (recovering) the engine on a thread of its own while the event loop
 * already serves connections, as Redis answers while it loads its data set.
 *
 * Until the hand-over, s->eng is NULL: Redis commands without Redis's "loading" flag get
 * -LOADING, memcached data commands SERVER_ERROR loading (cmd_redis.c, mcserver.c), and
 * INFO shows loading:1 with the progress the engine reports (loading_info).
 */
#ifndef LS_SERVER_LOADING_H
#define LS_SERVER_LOADING_H

#include "logstor.h"
#include "pbuf.h"

struct server;

/* Called on the loop's thread once ls_open has returned: rc 0 with s->eng set (the engine
 * now belongs to the loop's thread), or ls_open's error with s->eng NULL. */
typedef void (*loading_done_fn)(struct server *s, int rc);

/* Starts ls_open(cfg) on a new thread; cfg is copied (dir included), its progress callback
 * is loading.c's (it logs as the synchronous start-up did and feeds INFO). done runs from
 * the loop once the open has finished. Call after s->base exists. Returns 0, or -1 (logged)
 * when the thread or its wake-up descriptor cannot be had (nothing started). */
int loading_start(struct server *s, const struct ls_config *cfg, loading_done_fn done);

/* Whether the engine is still being opened (s->eng is NULL until then). */
int loading_active(const struct server *s);

/* The loop ended before the hand-over (a shutdown during loading): waits for ls_open to
 * return and sets s->eng to what it opened (NULL on error). Returns ls_open's code. The
 * caller then closes the engine as usual. */
int loading_wait(struct server *s);

/* Ends the opening thread, after the engine was closed (ls_close) or never opened, and
 * frees the loading state. Safe when nothing was started. */
void loading_free(struct server *s);

/* INFO # Persistence: "loading:<0|1>" and, while loading, Redis's loading_* fields
 * (bytes: segments scanned x segment size). */
void loading_info(const struct server *s, struct pbuf *pb);

#endif
