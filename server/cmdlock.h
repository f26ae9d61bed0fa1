/*
 * cmdlock.h - the concurrency rule (lockset.c) applied to requests: a request's declared
 * keys and databases become one claim, a connection's requests claim in the order they
 * were sent, and the claim is released once the request's writes are submitted.
 */
#ifndef LS_SERVER_CMDLOCK_H
#define LS_SERVER_CMDLOCK_H

#include <stdint.h>

struct conn;
struct req;

/* What a request declares besides its keys (r->lk), set by the protocol's dispatcher. */
#define CMDLOCK_KEYS_WRITE 0x01u /* it writes its keys (exclusive); else it only reads them */
#define CMDLOCK_DB_READ    0x02u /* it reads its database as a whole (DBSIZE, SCAN) */
#define CMDLOCK_DB_WRITE   0x04u /* it writes its database as a whole (FLUSHDB) */
#define CMDLOCK_ALL_DBS    0x08u /* with DB_READ/DB_WRITE: every database (FLUSHALL) */

/* Runs r->exec(r) once r holds the locks of r->keys (in r->db) and of what r->lk
 * declares (or, when r->lk_nitems is set, of r->lk_items alone; r->lk still says
 * whether it reads a database as a whole, CMDLOCK_DB_READ, for the connection order): at once when
 * they are free and no earlier request of the connection waits, else later, from the release that
 * grants them. A request that declares nothing runs at once. On allocation failure the connection
 * is closed and r completes with no reply. */
void cmdlock_start(struct req *r);
/* Lets c's requests waiting to claim, held back by c's memory bound (conn_may_claim: its
 * value bytes in flight and replies pending), claim as far as the bound now allows. May
 * run requests before it returns: call it from an event callback (conn.c), not a handler. */
void cmdlock_resume(struct conn *c);
/* Releases r's locks (idempotent). May run requests this grants, before it returns. */
void cmdlock_release(struct req *r);
/* Called once every read of r has been started (ls_get*: the entry looked up, the read
 * queued with its segment held; with held submissions it reaches the kernel at the end of
 * the loop's turn): a request that writes nothing releases its shared locks now (a started
 * read returns the record it looked up, which a later write never overwrites in place and
 * whose segment cannot be reused under it), so writers behind it need not wait for the
 * device. */
void cmdlock_reads_submitted(struct req *r);

#endif
