// Where (a)'s time goes: the end-to-end run of (a) (producer and one worker of 1,024 slots in this
// process, 1,000 creates in flight), reporting CPU per task of nats-server and of this Node process
// besides tasks/s. On a 2-core machine the one Node process is what binds (a): its CPU per task
// is about 1 s / (tasks/s). Run it in a worktree of another commit (copy this file there) to
// compare versions.
// With --phases, each round also measures creates alone and then the worker draining alone (as
// `npm run bench -- --only a` does), on a fresh NATS of their own.
//   node dist-bench/bench/cpu-per-task.js [--tasks 50000] [--rounds 2] [--phases]
import { parseArgs } from "node:util";
import { startNatsServer } from "../kit/nats-server.js";
import { jetqEndToEnd, jetqPhases } from "./jetq-throughput.js";
import { childPid, cpuMsOf } from "./lib.js";

const { values: args } = parseArgs({ options: { tasks: { type: "string", default: "50000" }, rounds: { type: "string", default: "2" }, phases: { type: "boolean", default: false } } });
const TASKS = Number(args.tasks);

for (let round = 1; round <= Number(args.rounds); round++) {
  const nats = await startNatsServer({});
  const pid = childPid("nats-server");
  const natsBefore = cpuMsOf(pid);
  const nodeBefore = process.cpuUsage();
  const r = await jetqEndToEnd(nats.url, { tasks: TASKS, workers: 1, concurrency: 1024, window: 1000 });
  const natsMs = (cpuMsOf(pid) ?? NaN) - (natsBefore ?? NaN);
  const node = process.cpuUsage(nodeBefore);
  const perTask = (ms: number) => Math.round(((ms * 1000) / TASKS) * 10) / 10;
  await nats.stop();
  let phases = {};
  if (args.phases) {
    const again = await startNatsServer({});
    const p = await jetqPhases(again.url, { tasks: TASKS, workers: 1, concurrency: 1024, window: 1000 });
    phases = { publishPerSec: p.publish.tasksPerSec, drainPerSec: p.drain.tasksPerSec };
    await again.stop();
  }
  console.log(JSON.stringify({ round, tasksPerSec: r.tasksPerSec, natsCpuUsPerTask: perTask(natsMs), nodeCpuUsPerTask: perTask((node.user + node.system) / 1000), ...phases }));
}
