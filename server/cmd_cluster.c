/*
 * cmd_cluster.c - a single-node Redis Cluster view, for cluster-aware clients (memtier
 * --cluster-mode, redis-py's RedisCluster, redis-cli -c).
 *
 * With `cluster_enabled yes` logstord answers CLUSTER INFO/MYID/SLOTS/SHARDS/NODES/KEYSLOT
 * as the one master of a cluster of one node owning all 16384 slots, at the address the
 * client connected to; READONLY, READWRITE and ASKING are accepted; and a command whose
 * keys hash to different slots is refused with -CROSSSLOT before it runs, as a cluster
 * node refuses it. Nothing is ever MOVED: every slot is here. Without it, CLUSTER and
 * READONLY/READWRITE answer Redis's "cluster support disabled" error.
 *
 * The node id is the SHA-1 of the data directory's path and the port, so it stays the
 * same across restarts of one server (clients cache it).
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "reply.h"
#include "server.h"
#include "sha1.h"

#define CLUSTER_SLOTS 16384

static const char ERR_DISABLED[] = "ERR This instance has cluster support disabled";

static void node_id(const struct server *s, char id[41])
{
    char buf[4200];
    int n = snprintf(buf, sizeof(buf), "logstor %s %llu", s->cfg.dir ? s->cfg.dir : "",
                     (unsigned long long)s->cfg.port);
    sha1_hex(buf, n > 0 ? (size_t)n : 0, id);
}

/* The IP the client reached us on (its connection's local address). */
static void node_ip(const struct conn *c, char *ip, size_t len)
{
    snprintf(ip, len, "%s", c->laddr);
    char *colon = strrchr(ip, ':');
    if (colon)
        *colon = '\0';
    if (ip[0] == '\0')
        snprintf(ip, len, "127.0.0.1");
}

static void cluster_info(struct req *r)
{
    char info[512];
    int n = snprintf(info, sizeof(info),
                     "cluster_state:ok\r\ncluster_slots_assigned:%d\r\ncluster_slots_ok:%d\r\n"
                     "cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\n"
                     "cluster_size:1\r\ncluster_current_epoch:1\r\ncluster_my_epoch:1\r\n"
                     "cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n"
                     "total_cluster_links_buffer_limit_exceeded:0\r\n",
                     CLUSTER_SLOTS, CLUSTER_SLOTS);
    reply_verbatim(r, info, (size_t)n);
}

static void cluster_slots(struct req *r, const char *ip, const char *id)
{
    reply_array(r, 1);
    reply_array(r, 3);
    reply_int(r, 0);
    reply_int(r, CLUSTER_SLOTS - 1);
    reply_array(r, 4);
    reply_cstr(r, ip);
    reply_int(r, (int64_t)r->c->srv->cfg.port);
    reply_bulk(r, id, 40);
    reply_map(r, 0);
}

static void cluster_shards(struct req *r, const char *ip, const char *id)
{
    reply_array(r, 1);
    reply_map(r, 2);
    reply_cstr(r, "slots");
    reply_array(r, 2);
    reply_int(r, 0);
    reply_int(r, CLUSTER_SLOTS - 1);
    reply_cstr(r, "nodes");
    reply_array(r, 1);
    reply_map(r, 7);
    reply_cstr(r, "id");
    reply_bulk(r, id, 40);
    reply_cstr(r, "port");
    reply_int(r, (int64_t)r->c->srv->cfg.port);
    reply_cstr(r, "ip");
    reply_cstr(r, ip);
    reply_cstr(r, "endpoint");
    reply_cstr(r, ip);
    reply_cstr(r, "role");
    reply_cstr(r, "master");
    reply_cstr(r, "replication-offset");
    reply_int(r, 0);
    reply_cstr(r, "health");
    reply_cstr(r, "online");
}

/* CLUSTER HELP: Redis's lines for the subcommands a one-node cluster answers. */
static void cluster_help(struct req *r)
{
    static const char *const lines[] = {
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "MYID",
        "    Return the node id.",
        "NODES",
        "    Return cluster configuration seen by node. Output format:",
        "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
        "SLOTS",
        "    Return information about slots range mappings. Each range is made of:",
        "    start, end, master and replicas IP addresses, ports and ids",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
        "HELP",
        "    Prints this help."};
    reply_lines(r, lines, sizeof(lines) / sizeof(lines[0]));
}

void cmd_cluster_cluster(struct req *r)
{
    struct server *s = r->c->srv;
    const struct resp_arg *sub = &r->argv[1];
    char id[41], ip[64];
    if (!s->cfg.cluster_enabled) {
        reply_error(r, ERR_DISABLED);
        req_done(r);
        return;
    }
    node_id(s, id);
    node_ip(r->c, ip, sizeof(ip));
    if (cmd_arg_is(sub, "info") && r->argc == 2) {
        cluster_info(r);
    } else if (cmd_arg_is(sub, "myid") && r->argc == 2) {
        reply_bulk(r, id, 40);
    } else if (cmd_arg_is(sub, "slots") && r->argc == 2) {
        cluster_slots(r, ip, id);
    } else if (cmd_arg_is(sub, "shards") && r->argc == 2) {
        cluster_shards(r, ip, id);
    } else if (cmd_arg_is(sub, "nodes") && r->argc == 2) {
        char line[256];
        int n =
            snprintf(line, sizeof(line), "%s %s:%llu@%llu myself,master - 0 0 1 connected 0-%d\n",
                     id, ip, (unsigned long long)s->cfg.port,
                     (unsigned long long)s->cfg.port + 10000, CLUSTER_SLOTS - 1);
        reply_verbatim(r, line, (size_t)n);
    } else if (cmd_arg_is(sub, "keyslot") && r->argc == 3) {
        reply_int(r, ls_key_slot(r->argv[2].ptr, r->argv[2].len));
    } else if (cmd_arg_is(sub, "help") && r->argc == 2) {
        cluster_help(r);
    } else {
        reply_errorf(r, "ERR unknown subcommand '%.128s'. Try CLUSTER HELP.", sub->ptr);
    }
    req_done(r);
}

/* READONLY, READWRITE, ASKING: a single master serves every read and write itself. */
void cmd_cluster_mode(struct req *r)
{
    if (!r->c->srv->cfg.cluster_enabled)
        reply_error(r, ERR_DISABLED);
    else
        reply_ok(r);
    req_done(r);
}

int cmd_cluster_crossslot(const struct req *r)
{
    if (!r->c->srv->cfg.cluster_enabled || r->nkeys < 2)
        return 0;
    uint32_t slot = ls_key_slot(r->keys[0].ptr, r->keys[0].len);
    for (uint32_t i = 1; i < r->nkeys; i++)
        if (ls_key_slot(r->keys[i].ptr, r->keys[i].len) != slot)
            return 1;
    return 0;
}
