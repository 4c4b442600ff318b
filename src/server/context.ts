import type { Client } from "../client.js";
import type { RemoteConsumer } from "../remote-consumer.js";
import type { Runtime } from "../runtime.js";

/** What the routes share: the client, its runtime, the remote consumer and the body limit. */
export interface ServerContext {
  client: Client;
  runtime: Runtime;
  remote: RemoteConsumer;
  maxBodyBytes: number;
}
