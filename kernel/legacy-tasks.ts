// Moves work messages written before the queued index (`jetq.tasks.<priority>.<type>.<id>`) to
// today's subjects (`jetq.tasks.<priority>.<type>`, the id in a header) and indexes them, so that
// a store written by an earlier version is listed, counted and looked up like a new one. The API
// runs it at start; it is idempotent, and several API replicas running it at once move each
// message once (the same message id for the same task: the stream drops the repeat).
// A message whose task already has a state record is in a worker's hands (or is garbage of an
// ended task): it stays where it is, and the consumers still take that subject.
// Stop workers of the earlier version before the upgrade: one could be holding a message that is
// moved under it.
import type { StoredMsg } from "@nats-io/jetstream";
import type { JetqConnection } from "./connection.js";
import { isNoMessage } from "./kv-scan.js";
import { workMessageAt } from "./queued-index.js";
import { LEGACY_TASK_SUBJECTS, parseTaskSubject, TASK_ID_HEADER, taskSubject, TOPOLOGY } from "./topology.js";

export interface LegacyMoveResult {
  moved: number;
  /** Left in place: their tasks have state records (in flight, or ended). */
  left: number;
}

const BATCH = 256;

export async function moveLegacyTasks(conn: JetqConnection): Promise<LegacyMoveResult> {
  const result: LegacyMoveResult = { moved: 0, left: 0 };
  let seq = 1;
  for (;;) {
    const batch: StoredMsg[] = [];
    try {
      for await (const m of await conn.jsm.direct.getBatch(TOPOLOGY.tasksStream, { seq, batch: BATCH, next_by_subj: LEGACY_TASK_SUBJECTS })) batch.push(m);
    } catch (err) {
      if (isNoMessage(err)) break;
      throw err;
    }
    if (batch.length === 0) break;
    seq = batch[batch.length - 1]!.seq + 1;
    const outcomes = await Promise.all(batch.map((m) => moveOne(conn, m)));
    for (const o of outcomes) result[o]++;
  }
  return result;
}

async function moveOne(conn: JetqConnection, m: StoredMsg): Promise<"moved" | "left"> {
  const parsed = parseTaskSubject(m.subject);
  if (!parsed?.id) return "left";
  const id = parsed.id;
  if (await conn.state.get(id)) return "left";
  // Moved already (by an earlier run, or another replica right now): only the old copy is left.
  const indexed = await conn.queued.seqOf(id);
  if (!indexed || !(await workMessageAt(conn.jsm, indexed, id))) {
    const ack = await conn.publisher.publish(taskSubject(parsed.priority, parsed.type), m.data, {
      msgId: `${id}.moved`,
      headers: { [TASK_ID_HEADER]: id },
    });
    await conn.queued.put(id, ack.seq, new TextDecoder().decode(m.data));
  }
  await conn.jsm.streams.deleteMessage(TOPOLOGY.tasksStream, m.seq, false).catch((err: unknown) => {
    if (!isNoMessage(err) && !/no message found/i.test(String(err))) throw err;
  });
  return "moved";
}
