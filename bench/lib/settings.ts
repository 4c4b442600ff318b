/** The settings each library runs under, in words, for the report (see lib/adapters/). */
import type { SettingsDescription } from "./types.ts";

export const SETTINGS_DESCRIPTION: SettingsDescription = {
  pgwake: {
    default: "connect({ url, schema }) (pool 10, safety poll 30 s); work(h, { concurrency: 10 })",
    fast: "as default, and work(h, { concurrency: 10, batch: 10 })",
  },
  "graphile-worker": {
    default:
      "run({ concurrency: 10 }); defaults: pollInterval 2000 ms, pool 10, prepared statements, no local queue, no batched completion",
    fast: "run({ concurrency: 10, maxPoolSize: 12, preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } })",
  },
  "pg-boss": {
    default:
      "new PgBoss({ schema }); work(q, { localConcurrency: 10 }); defaults: batchSize 1, pollingIntervalSeconds 2, no LISTEN/NOTIFY, pool 10",
    fast: "new PgBoss({ schema, useListenNotify: true }); createQueue(q, { notify: true }); work(q, { batchSize: 10, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 })",
  },
};
