/**
 * NOTIFY channel names. The one function both the trigger SQL (through its template tokens) and
 * the listener use, so the two can never disagree.
 */

/**
 * What a channel carries: jobs that can run (`ready`), jobs that finished (`done`), and
 * schedules that were created, removed or retimed (`schedule`).
 */
export type ChannelKind = "ready" | "done" | "schedule";

export const CHANNEL_KINDS: readonly ChannelKind[] = ["ready", "done", "schedule"];

/** PostgreSQL truncates identifiers, channel names included, to 63 bytes. */
export const MAX_CHANNEL_BYTES = 63;

/** The channel of one kind for one schema, e.g. `pgwake:ready`. */
export function channelName(schema: string, kind: ChannelKind): string {
  return `${schema}:${kind}`;
}

/** The longest schema name whose channels all fit in {@link MAX_CHANNEL_BYTES}. */
export const MAX_SCHEMA_BYTES =
  MAX_CHANNEL_BYTES - Math.max(...CHANNEL_KINDS.map((kind) => channelName("", kind).length));
