/*
 * cmd_snapshot.c - SNAPSHOT CREATE/LIST/DROP: named point-in-time snapshots of every
 * database, taken without stopping writes (engine/snap.c), which logstor-backup copies
 * out into a directory logstord opens directly.
 *
 *   SNAPSHOT CREATE name   +OK once the snapshot is durable (its segments held: never
 *                          compacted while it exists)
 *   SNAPSHOT LIST          one map (RESP3) / flat array (RESP2) per snapshot: name,
 *                          created (unix ms), keys, segments, bytes held, damaged
 *   SNAPSHOT DROP name     :1 (dropped) or :0 (no such snapshot)
 *   SNAPSHOT HELP
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "logstor.h"
#include "reply.h"
#include "server.h"

static const char *const help[] = {
    "CREATE <name>",
    "    Takes a point-in-time snapshot of every database; its segments are held until DROP.",
    "LIST",
    "    Lists the snapshots: name, created (unix ms), keys, segments and bytes held.",
    "DROP <name>",
    "    Drops a snapshot and releases the segments it held.",
    "HELP",
    "    Prints this help.",
};

static void name_of(const struct resp_arg *a, char *out, size_t cap)
{
    size_t n = a->len < cap - 1 ? a->len : cap - 1;
    memcpy(out, a->ptr, n);
    out[n] = '\0';
    if (memchr(a->ptr, '\0', a->len) || a->len >= cap)
        out[0] = '\0'; /* refused as a bad name */
}

static void created_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc == 0)
        reply_ok(r);
    else if (rc == -ECANCELED)
        reply_error(r, "ERR snapshot interrupted by a FLUSHDB/FLUSHALL; try again");
    else
        reply_engine_error(r, rc);
    req_done(r);
}

static void snap_create(struct req *r)
{
    char name[LS_SNAP_NAME_MAX + 2];
    name_of(&r->argv[2], name, sizeof(name));
    int rc = ls_snapshot_create(r->c->srv->eng, name, created_cb, r);
    if (rc == 0)
        return; /* answered by created_cb */
    if (rc == LS_EINVAL)
        reply_error(r, "ERR invalid snapshot name: 1 to 63 letters, digits, '_', '-' or '.', "
                       "not starting with '.'");
    else if (rc == -EEXIST)
        reply_error(r, "ERR a snapshot with this name exists");
    else if (rc == LS_EBUSY)
        reply_error(r, "ERR another snapshot is being created");
    else if (rc == -EMLINK)
        reply_errorf(r, "ERR too many snapshots (at most %d): drop one first", LS_SNAP_MAX);
    else
        reply_engine_error(r, rc);
    req_done(r);
}

static void snap_list(struct req *r)
{
    struct ls_snapshot_info v[LS_SNAP_MAX];
    const struct server *s = r->c->srv;
    uint32_t n = ls_snapshot_list(s->eng, v, LS_SNAP_MAX);
    reply_array(r, n);
    for (uint32_t i = 0; i < n; i++) {
        reply_map(r, 6);
        reply_simple(r, "name");
        reply_bulk(r, v[i].name, strlen(v[i].name));
        reply_simple(r, "created");
        reply_int(r, (int64_t)v[i].created_ms);
        reply_simple(r, "keys");
        reply_int(r, (int64_t)v[i].keys);
        reply_simple(r, "segments");
        reply_int(r, (int64_t)v[i].segments);
        reply_simple(r, "bytes");
        reply_int(r, (int64_t)(v[i].segments * s->cfg.segment_size));
        reply_simple(r, "damaged");
        reply_int(r, v[i].damaged);
    }
    req_done(r);
}

static void snap_drop(struct req *r)
{
    char name[LS_SNAP_NAME_MAX + 2];
    name_of(&r->argv[2], name, sizeof(name));
    int rc = ls_snapshot_drop(r->c->srv->eng, name);
    if (rc == 0 || rc == LS_ENOTFOUND)
        reply_int(r, rc == 0);
    else
        reply_engine_error(r, rc);
    req_done(r);
}

void cmd_snapshot(struct req *r)
{
    const struct resp_arg *sub = &r->argv[1];
    if (cmd_arg_is(sub, "create") && r->argc == 3) {
        snap_create(r);
    } else if (cmd_arg_is(sub, "list") && r->argc == 2) {
        snap_list(r);
    } else if (cmd_arg_is(sub, "drop") && r->argc == 3) {
        snap_drop(r);
    } else if (cmd_arg_is(sub, "help") && r->argc == 2) {
        size_t n = sizeof(help) / sizeof(help[0]);
        reply_array(r, n + 1);
        reply_simple(r, "SNAPSHOT <subcommand> [<arg> ...]. Subcommands are:");
        for (size_t i = 0; i < n; i++)
            reply_simple(r, help[i]);
        req_done(r);
    } else {
        reply_errorf(r,
                     "ERR unknown subcommand or wrong number of arguments for '%.128s'. Try "
                     "SNAPSHOT HELP.",
                     sub->ptr);
        req_done(r);
    }
}
