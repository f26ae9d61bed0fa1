// BullMQ against logstord (issue 15): its Lua scripts (EVALSHA of dozens of scripts that use
// lists, hashes, sorted sets, sets and XADD into the events stream), a Worker's blocking
// moves, QueueEvents' XREAD BLOCK on the events stream. Usage: node bullmq_test.js PORT.
// Prints "ok ..." / "FAIL ..." lines and exits non-zero on a failure.
const { Queue, Worker, QueueEvents } = require("bullmq");
const port = Number(process.argv[2]);
const connection = { host: "127.0.0.1", port, maxRetriesPerRequest: null };
let failed = 0;
function check(cond, what, got) {
  console.log((cond ? "ok   " : "FAIL ") + what + (cond ? "" : " got " + JSON.stringify(got)));
  if (!cond) failed++;
}
const N = 40;
(async () => {
  const timer = setTimeout(() => {
    console.log("FAIL timed out");
    process.exit(1);
  }, 50000);
  const queue = new Queue("lq", { connection });
  const events = new QueueEvents("lq", { connection });
  await events.waitUntilReady();
  const completed = new Map();
  const failedEv = new Map();
  events.on("completed", ({ jobId, returnvalue }) => completed.set(jobId, returnvalue));
  events.on("failed", ({ jobId, failedReason }) => failedEv.set(jobId, failedReason));
  const worker = new Worker(
    "lq",
    async (job) => {
      if (job.name === "boom") throw new Error("on purpose");
      return job.data.x * 2;
    },
    { connection, concurrency: 4 }
  );
  const jobs = [];
  for (let i = 0; i < N; i++) jobs.push(await queue.add("double", { x: i }));
  const bulk = await queue.addBulk([
    { name: "double", data: { x: 1000 } },
    { name: "double", data: { x: 1001 } },
  ]);
  const bad = await queue.add("boom", {}, { attempts: 2, backoff: { type: "fixed", delay: 50 } });
  const delayed = await queue.add("double", { x: 7 }, { delay: 300 });
  const deadline = Date.now() + 40000;
  while (Date.now() < deadline && (completed.size < N + 3 || !failedEv.has(bad.id)))
    await new Promise((res) => setTimeout(res, 50));
  check(completed.size === N + 3, "QueueEvents (XREAD BLOCK) saw every job complete", completed.size);
  let right = true;
  for (let i = 0; i < N; i++) right = right && String(completed.get(jobs[i].id)) === String(2 * i);
  check(right, "every completed event carries its job's result");
  check(String(completed.get(bulk[1].id)) === "2002" && String(completed.get(delayed.id)) === "14",
        "addBulk's jobs and a delayed job ran", [completed.get(bulk[1].id), completed.get(delayed.id)]);
  const j = await queue.getJob(jobs[5].id);
  check(j && j.returnvalue === 10 && (await j.getState()) === "completed",
        "getJob: its return value and state", j && j.returnvalue);
  const b = await queue.getJob(bad.id);
  check(b && (await b.getState()) === "failed" && b.attemptsMade === 2 &&
        failedEv.get(bad.id) === "on purpose",
        "a job that throws is retried once (attempts 2), then failed", b && [b.attemptsMade, b.failedReason]);
  const counts = await queue.getJobCounts("completed", "failed", "wait", "active", "delayed");
  check(counts.completed === N + 3 && counts.failed === 1 && counts.wait === 0 && counts.active === 0 &&
        counts.delayed === 0, "getJobCounts", counts);
  const client = await queue.client;
  const evlen = await client.xlen("bull:lq:events");
  check(evlen > N, "the events stream holds the events", evlen);
  await worker.close();
  await events.close();
  await queue.obliterate({ force: true });
  check((await client.keys("bull:lq:*")).length === 0, "obliterate removed every key");
  await queue.close();
  clearTimeout(timer);
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log("FAIL exception: " + (e && e.stack ? e.stack : e));
  process.exit(1);
});
