// ioredis against logstord (issue 12): multi/exec and defineCommand, the default paths of
// node users. Usage: node ioredis_test.js PORT. Prints "ok ..." / "FAIL ..." lines and
// exits non-zero on a failure.
const Redis = require("ioredis");
const port = Number(process.argv[2]);
let failed = 0;
function check(cond, what, got) {
  console.log((cond ? "ok   " : "FAIL ") + what + (cond ? "" : " got " + JSON.stringify(got)));
  if (!cond) failed++;
}
(async () => {
  const r = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
  const res = await r.multi().set("ik", 1).incr("ik").get("ik").exec();
  check(JSON.stringify(res) === JSON.stringify([[null, "OK"], [null, 2], [null, "2"]]),
        "multi().exec() answers every command in order", res);
  const res2 = await r.multi().set("is", "x").incr("is").exec();
  check(res2[0][1] === "OK" && res2[1][0] && /not an integer/.test(res2[1][0].message),
        "a runtime error is the command's, inside exec's result", res2);
  r.defineCommand("addTwo", { numberOfKeys: 1, lua: "return redis.call('incrby', KEYS[1], 2)" });
  await r.del("dk");
  const a = await r.addTwo("dk");
  const b = await r.addTwo("dk");
  check(a === 2 && b === 4, "defineCommand (EVALSHA, then EVAL on NOSCRIPT)", [a, b]);
  await r.script("FLUSH");
  const c = await r.addTwo("dk");
  check(c === 6, "defineCommand after SCRIPT FLUSH", c);
  const p = await r.pipeline().set("pp", "v").get("pp").exec();
  check(p[1][1] === "v", "pipeline", p);
  r.disconnect();
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.log("FAIL exception " + e); process.exit(1); });
