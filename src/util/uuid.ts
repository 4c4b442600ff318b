import { randomFillSync } from "node:crypto";

const pool = Buffer.alloc(16 * 256);
let poolOffset = pool.length;

function randomBytes16(): Buffer {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return bytes;
}

/** The last timestamp used and the 12-bit counter within it (RFC 9562, §6.2, method 1). */
let lastMs = -1;
let counter = 0;

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, a 12-bit counter, then random bits.
 *
 * Job ids are made on the client so a producer knows a job's id before its insert commits (its
 * completion handle is registered before any worker can finish the job). Within one process the
 * ids strictly increase, even within a millisecond, because jobs inserted by one statement share
 * `run_at` and the id is what keeps them first-in, first-out. Across processes they are ordered
 * by millisecond only.
 */
export function uuidv7(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    // Start low in the counter's range so a burst has room before it borrows the next millisecond.
    counter = randomBytes16()[0]! & 0x3f;
  } else if (++counter > 0xfff) {
    lastMs++; // the counter ran out: borrow the next millisecond to stay monotonic
    counter = 0;
  }
  const ms = lastMs;
  const bytes = randomBytes16();
  // 48-bit big-endian timestamp; split because bitwise operators work on 32 bits.
  const high = Math.floor(ms / 0x10000);
  bytes[0] = (high >>> 24) & 0xff;
  bytes[1] = (high >>> 16) & 0xff;
  bytes[2] = (high >>> 8) & 0xff;
  bytes[3] = high & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  bytes[6] = 0x70 | (counter >>> 8); // version 7, counter high bits
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f); // variant 10
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a string is a UUID in canonical text form. */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}
