/*
 * it_redis_auth.c - requirepass: NOAUTH before AUTH, AUTH errors, HELLO AUTH, and the
 * commands allowed before authentication.
 */
#include "it.h"

int main(void)
{
    static const char *const extra[] = {"--requirepass", "s3cret", NULL};
    it_start("it_redis_auth", extra);

    it_section("NOAUTH before AUTH");
    EXPECT_ERR("NOAUTH Authentication required.", "GET k");
    EXPECT_ERR("NOAUTH Authentication required.", "SET k v");
    EXPECT_ERR("NOAUTH Authentication required.", "PING");
    EXPECT_ERR("NOAUTH Authentication required.", "SELECT 1");
    EXPECT_ERR("NOAUTH Authentication required.", "CLIENT ID");
    /* Redis checks for an unknown command before authentication. */
    EXPECT_ERRPFX("ERR unknown command 'NOSUCHCMD'", "NOSUCHCMD");
    EXPECT_ERRPFX("NOAUTH HELLO must be called with the client already authenticated, "
                  "otherwise the HELLO",
                  "HELLO 2");

    it_section("AUTH");
    EXPECT_ERR("WRONGPASS invalid username-password pair or user is disabled.", "AUTH wrong");
    EXPECT_ERR("WRONGPASS invalid username-password pair or user is disabled.",
               "AUTH default wrong");
    EXPECT_ERR("ERR wrong number of arguments for 'auth' command", "AUTH");
    EXPECT_ERR("NOAUTH Authentication required.", "GET k");
    EXPECT_OK("AUTH s3cret");
    EXPECT_STATUS("PONG", "PING");
    EXPECT_OK("SET k v");
    EXPECT_STR("v", "GET k");
    /* AUTH with the 2-argument form and user "default". */
    redisContext *c2 = it_connect();
    redisContext *save = it_c;
    it_c = c2;
    EXPECT_OK("AUTH default s3cret");
    EXPECT_STR("v", "GET k");
    it_c = save;
    redisFree(c2);

    it_section("HELLO AUTH");
    c2 = it_connect();
    it_c = c2;
    EXPECT_ERR("WRONGPASS invalid username-password pair or user is disabled.",
               "HELLO 2 AUTH default nope");
    EXPECT_ERR("NOAUTH Authentication required.", "GET k");
    redisReply *r = KEEP_ARRAYN(14, "HELLO 2 AUTH default s3cret SETNAME authed");
    freeReplyObject(r);
    EXPECT_STR("v", "GET k");
    EXPECT_STR("authed", "CLIENT GETNAME");
    it_c = save;
    redisFree(c2);

    it_section("QUIT needs no AUTH");
    c2 = it_connect();
    it_c = c2;
    EXPECT_OK("QUIT");
    it_c = save;
    redisFree(c2);
    return it_finish();
}
