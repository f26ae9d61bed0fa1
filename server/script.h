/*
 * script.h - Lua scripting (script.c): EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT.
 */
#ifndef LS_SERVER_SCRIPT_H
#define LS_SERVER_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

struct req;
struct server;

void cmd_script_eval(struct req *r);
void cmd_script_evalsha(struct req *r);
void cmd_script_eval_ro(struct req *r);
void cmd_script_evalsha_ro(struct req *r);
void cmd_script_script(struct req *r);
void cmd_script_function(struct req *r);
void cmd_script_fcall(struct req *r);
void cmd_script_fcall_ro(struct req *r);

/* Called by the dispatcher for EVAL and friends: declares the script's claim (its
 * database as a whole, exclusive; every database when it may SELECT). Returns 0. */
int script_prepare(struct req *r);
/* A command a script ran submitted its writes / completed (txn.c passes them on). */
void script_child_submitted(struct req *k);
void script_child_done(struct req *k);
/* While a script runs past busy_reply_threshold: the -BUSY error for r (NULL: r may run). */
const char *script_busy_error(const struct server *s, const struct req *r);
/* SHUTDOWN while a script is busy: it is stopped. */
void script_shutdown(struct server *s);
/* Scripts compiled (INFO). */
uint64_t script_count(const struct server *s);
/* The function libraries as RDB records, [RDB_OPCODE_FUNCTION2 (245)][code as an RDB
 * string] each, what FUNCTION DUMP sends before its footer and an RDB file holds before its
 * databases (SYNC, cmd_sync.c). Sets *out (malloc'd, caller frees, with 10 bytes of room
 * past *len for a footer) and *len. Returns 0 or -ENOMEM. */
int script_functions_rdb(struct server *s, uint8_t **out, size_t *len);
/* Closes the interpreter (at exit). */
void script_server_free(struct server *s);

#endif
