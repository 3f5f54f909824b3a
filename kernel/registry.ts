// The task-type registry: each type declares its payload schema once, and the API (validation,
// OpenAPI) and the worker (handler lookup, defaults) both read it from here.
import { z } from "zod";
import type { JetqConnection } from "./connection.js";

export interface TaskTypeDefinition<P = unknown> {
  name: string;
  description: string;
  payload: z.ZodType<P>;
  /** Soft time limit when the client gives none. */
  defaultTimeoutSeconds?: number;
  defaultMaxAttempts?: number;
  /**
   * Checks at create time what the schema cannot: that what the payload names exists. Throws an
   * InvalidError to refuse the task, so that it is not accepted only to fail in a worker later.
   * `tenant` is the task's: what another tenant owns must be refused exactly like what is missing.
   */
  admit?: (payload: P, conn: JetqConnection, tenant: string) => Promise<void>;
}

export const TASK_TYPE_NAME = /^[a-z][a-z0-9_]{0,62}$/;

export class TaskTypeRegistry {
  private readonly types = new Map<string, TaskTypeDefinition>();

  register<P>(def: TaskTypeDefinition<P>): this {
    // Type names become subject tokens and consumer-name parts, so they must be plain.
    if (!TASK_TYPE_NAME.test(def.name)) throw new Error(`task type name ${JSON.stringify(def.name)} must match ${TASK_TYPE_NAME}`);
    if (this.types.has(def.name)) throw new Error(`task type ${def.name} is already registered`);
    this.types.set(def.name, def as TaskTypeDefinition);
    return this;
  }

  get(name: string): TaskTypeDefinition | undefined {
    return this.types.get(name);
  }

  has(name: string): boolean {
    return this.types.has(name);
  }

  names(): string[] {
    return [...this.types.keys()];
  }

  all(): TaskTypeDefinition[] {
    return [...this.types.values()];
  }
}
