// The logger an attempt hands its handler (ctx.log) and logs its own notes with: a winston child
// of the worker's logger (so every line still goes to stdout with the task's id), whose lines at
// info and above are also written to the task's log (kernel/task-logs.ts) for the task page, up to
// a number per attempt. Lines are captured before winston's level filter, so a worker logging
// only warnings to stdout still keeps its tasks' info lines.
import type { Logger } from "../kernel/logger.js";
import { TASK_LOG_LEVELS, taskLogEntry, type TaskLogLevel, type TaskLogWriter } from "../kernel/task-logs.js";

export interface TaskLogTarget {
  writer: TaskLogWriter;
  taskId: string;
  /** Read per line: the attempt's number is settled by its claim, which may log before that. */
  attempt: () => number;
  workerId: string;
  /** Lines this attempt may write to the task's log; the rest go only to stdout. */
  maxLines: number;
}

/** Keys winston adds, or the child's context carries: not the line's own fields. */
const NOT_FIELDS = new Set(["level", "message", "taskId", "type", "attempt", "workerId", "service", "timestamp", "stack"]);

export function taskLogger(child: Logger, target: TaskLogTarget): Logger {
  let written = 0;
  const forward = child.write.bind(child);
  const capture = (info: Record<string, unknown>) => {
    const level = info.level as TaskLogLevel;
    if (!TASK_LOG_LEVELS.includes(level) || written > target.maxLines) return;
    written++;
    const context = { attempt: target.attempt(), workerId: target.workerId };
    if (written > target.maxLines) {
      target.writer.write(target.taskId, taskLogEntry("warn", `this attempt wrote ${target.maxLines} lines to the task's log (JETQ_TASK_LOG_LINES); the rest are only in the worker's output`, context));
      return;
    }
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(info)) if (!NOT_FIELDS.has(k)) fields[k] = v;
    const message = typeof info.message === "string" ? info.message : JSON.stringify(info.message ?? "");
    target.writer.write(target.taskId, taskLogEntry(level, info.stack && level === "error" ? `${message}\n${String(info.stack)}` : message, context, fields));
  };
  // winston's child() is Object.create(parent) with its own write(); this is one more such layer.
  return Object.create(child, {
    write: {
      value(info: Record<string, unknown>) {
        try {
          capture(info);
        } catch {
          // A line that cannot be captured (a field that will not serialise) still goes to stdout.
        }
        return forward(info);
      },
    },
  }) as Logger;
}
