/*
 * keylock.h - per-key exclusive locks with FIFO wait queues, to make read-modify-write
 * commands atomic over an asynchronous engine.
 *
 * A read-modify-write request (r->rmw, exactly one key) holds its key from the moment it
 * starts until req_done. While a key is held or has waiters, every later request that
 * touches it, read or write, from any connection, waits in the key's queue and runs in
 * arrival order when the lock is released. Requests whose keys are all free run at once
 * and take no lock: the engine orders plain reads and writes itself.
 */
#ifndef LS_SERVER_KEYLOCK_H
#define LS_SERVER_KEYLOCK_H

#include <stdint.h>

struct keylock;
struct req;

struct keylock *keylock_new(void);
void keylock_free(struct keylock *kl);

/* Asks to run r (r->keys, r->nkeys, r->db, r->rmw, r->exec set). Returns 1 when r may
 * run now (holding its lock if rmw), 0 when it was queued: r->exec will be called when
 * it may run. */
int keylock_enter(struct keylock *kl, struct req *r);
/* Releases r's lock and runs the waiters that may now run. */
void keylock_leave(struct keylock *kl, struct req *r);
/* Number of keys with a lock entry (held or waited on). */
uint64_t keylock_count(const struct keylock *kl);

#endif
