import assert from "node:assert/strict";
import { test } from "node:test";
import { NotificationsLostError, PgwakeError } from "../../src/index.js";

test("NotificationsLostError tells a pooler in the way from a listener on another database", () => {
  const pooled = new NotificationsLostError(10_000, { loginPid: 1234, serverPid: 5678 });
  assert.ok(pooled instanceof PgwakeError);
  assert.equal(pooled.code, "NOTIFICATIONS_LOST");
  assert.equal(pooled.name, "NotificationsLostError");
  assert.equal(pooled.throughPooler, true);
  assert.equal(pooled.waitedMs, 10_000);
  assert.match(pooled.message, /within 10s/);
  assert.match(pooled.message, /logged in as process 1234, but process 5678 answers it/);
  assert.match(pooled.message, /transaction or statement pooling mode/);
  assert.match(pooled.message, /listenUrl set to a direct connection/);
  assert.match(pooled.message, /listenUrl: false to run without notifications \(poll mode/);

  const direct = new NotificationsLostError(10_000, { loginPid: 42, serverPid: 42 });
  assert.equal(direct.throughPooler, false);
  assert.match(
    direct.message,
    /direct connection, so it is probably connected to another database/,
  );
  assert.match(direct.message, /the same PostgreSQL database/);

  // When the listener could not even be asked, the message does not claim a pooler.
  const unknown = new NotificationsLostError(10_000, { loginPid: null, serverPid: null });
  assert.equal(unknown.throughPooler, false);
  assert.match(unknown.message, /through a transaction pooler, or to another database/);
});
