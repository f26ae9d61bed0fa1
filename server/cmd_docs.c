/*
 * cmd_docs.c - COMMAND DOCS: each command's interface as Redis 7.0.15 describes it (since,
 * group, arguments with their types, tokens and flags, subcommands), which redis-cli turns
 * into its argument hints, with logstord's own summary. Redis's prose (summary, complexity,
 * history) is not copied.
 *
 * The replies are data, generated from redis-server 7.0.15's COMMAND DOCS by
 * scripts/gen_cmd_docs.py into cmd_docs.inc (subcommands logstord lacks left out), as
 * compact reply trees this file replays through reply.c, so that RESP2 and RESP3 clients
 * get the shapes Redis sends them (maps as maps or flat arrays, sets as sets or arrays):
 *   M<n> map of n pairs   A<n> array   S<n> set   (each followed by a space, then the items)
 *   B<len>:<bytes> bulk   P<len>:<bytes> simple string   I<n>; integer
 * The trees are compiled in and trusted (checked by the tests); a malformed one stops the
 * replay with an error reply rather than reading past its end.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "reply.h"

struct cmd_doc {
    const char *name;
    const char *tree;
};

static const struct cmd_doc docs[] = {
#include "cmd_docs.inc"
};

const char *cmd_docs_tree(const char *name)
{
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        if (strcmp(docs[i].name, name) == 0)
            return docs[i].tree;
    return NULL;
}

/* Replays one value of the tree at *p, advancing *p. Returns 0, or -1 when malformed.
 * Recursion depth is the tree's nesting (at most 6 in Redis's docs). */
static int replay(struct req *r, const char **p, int depth)
{
    char type = **p, *end;
    if (depth > 16 || type == '\0')
        return -1;
    unsigned long long n = strtoull(*p + 1, &end, 10);
    if (end == *p + 1)
        return -1;
    *p = end;
    if (type == 'I' || type == 'B' || type == 'P') {
        if (type == 'I') {
            reply_int(r, (int64_t)n);
            *p += **p == ';';
            return 0;
        }
        if (**p != ':' || strnlen(*p + 1, n) < n)
            return -1;
        if (type == 'B') {
            reply_bulk(r, *p + 1, n);
        } else {
            char buf[256];
            if (n >= sizeof(buf))
                return -1;
            memcpy(buf, *p + 1, n);
            buf[n] = '\0';
            reply_simple(r, buf);
        }
        *p += 1 + n;
        return 0;
    }
    if (**p != ' ')
        return -1;
    (*p)++;
    if (type == 'M')
        reply_map(r, n);
    else if (type == 'A')
        reply_array(r, n);
    else if (type == 'S')
        reply_set(r, n);
    else
        return -1;
    for (unsigned long long i = 0; i < (type == 'M' ? 2 * n : n); i++)
        if (replay(r, p, depth + 1) < 0)
            return -1;
    return 0;
}

int cmd_docs_reply(struct req *r, const char *name)
{
    const char *tree = cmd_docs_tree(name);
    if (tree == NULL)
        return -1;
    reply_cstr(r, name);
    if (replay(r, &tree, 0) < 0)
        reply_error(r, "ERR internal error: malformed command documentation");
    return 0;
}
