import type { ClaimedRow } from "../../src/db/rows.js";

/** A claimed row as a claim statement decodes it, for tests that stand in for the database. */
export function claimedRow(id: string): ClaimedRow {
  return {
    id,
    payload: null,
    attributes: null,
    attempt: 1,
    leaseToken: `token-${id}`,
    leaseMs: 30_000,
    waitedMs: 0,
    leaseExpiresAt: new Date(),
    traceContext: null,
  };
}
