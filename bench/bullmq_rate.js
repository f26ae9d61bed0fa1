// bench/bullmq_rate.js PORT MAXLEN JOBS CONCURRENCY - BullMQ (npm, tests/clients) job
// throughput against one server: a Queue whose events stream is capped at MAXLEN entries,
// a Worker of CONCURRENCY that doubles job.data.x, JOBS jobs added with addBulk in groups
// of 200, and the time until the last one completes. Prints one JSON line. Run by
// bench/bullmq.sh, which starts each server.
const path = require("path");
const { Queue, Worker } = require(path.join(__dirname, "..", "tests", "clients", "node_modules", "bullmq"));
const [port, maxLen, N, conc] = process.argv.slice(2, 6).map(Number);
const connection = { host: "127.0.0.1", port, maxRetriesPerRequest: null };
(async () => {
  const queue = new Queue("bench", { connection, streams: { events: { maxLen } } });
  const worker = new Worker("bench", async (job) => job.data.x * 2, { connection, concurrency: conc });
  const jobs = [];
  for (let i = 0; i < N; i++) jobs.push({ name: "d", data: { x: i } });
  const t0 = Date.now();
  for (let i = 0; i < N; i += 200) await queue.addBulk(jobs.slice(i, i + 200));
  const deadline = t0 + 300000; // bounded: a stuck run reports what it finished
  let done = 0;
  while (Date.now() < deadline) {
    done = (await queue.getJobCounts("completed")).completed;
    if (done >= N) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const s = (Date.now() - t0) / 1000;
  console.log(JSON.stringify({ done, seconds: s, jobs_per_s: Math.round(done / s) }));
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  process.exit(done >= N ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(2); });
