// Structured JSON logs. Child loggers carry context (taskId, workerId) so every line of a task says which task.
import winston from "winston";

export type Logger = winston.Logger;

export function createLogger(service: string, level = "info"): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ["error", "warn"] })],
  });
}

/** A logger that drops everything: for tests and benchmarks that measure, not read. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
