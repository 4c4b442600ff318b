/**
 * pgwake: a PostgreSQL job queue for Node.js. Workers are woken by LISTEN/NOTIFY, every send
 * returns a handle whose `completed` settles when a worker acks, and jobs are leased so a
 * crashed worker's job comes back.
 *
 * @example
 * ```ts
 * import { connect } from "pgwake";
 * const client = await connect(process.env.DATABASE_URL);
 * const q = await client.createQueue("emails");
 * q.work(async (job) => ({ sent: job.payload }), { concurrency: 10 });
 * console.log(await q.send({ to: "a@b.c" }).completed);
 * ```
 */
export { connect, Client, type CloseOptions } from "./client.js";
export { Queue, type QueueStats, type SendManyItem } from "./queue.js";
export { SentJob, SentBatch } from "./sent-job.js";
export { Job } from "./job.js";
export { Worker, type Handler } from "./worker.js";
export type { ClientEvents } from "./runtime.js";
export type { JobInfo, JobState, QueueInfo } from "./db/rows.js";
export type { ScheduleInfo, ScheduleOptions } from "./schedule.js";
export type { MigrationReport } from "./db/migrate.js";
export type {
  BackoffOptions,
  ConnectOptions,
  JobsQuery,
  NackOptions,
  QueueOptions,
  ReceiveOptions,
  SendOptions,
  Transaction,
  WorkOptions,
} from "./options.js";
export type { Duration } from "./util/duration.js";
export type { Json } from "./util/json.js";
export {
  AbortedError,
  ClientClosedError,
  DatabaseError,
  JobCancelledError,
  JobFailedError,
  JobNotFoundError,
  LeaseLostError,
  NotificationsLostError,
  PgwakeError,
  QueueFullError,
  QueueInUseError,
  QueueNotFoundError,
  SchemaTooNewError,
  ValidationError,
  type PgwakeErrorCode,
  type StoredError,
} from "./errors.js";
