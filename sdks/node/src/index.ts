// @mboapay/node: Mboa Pay's API from Node.js 18+ and edge runtimes, on the platform's fetch.
import { Mboa } from "./client.js";
import * as webhooks from "./webhooks.js";

export { Mboa, VERSION } from "./client.js";
export type { MboaOptions } from "./client.js";
export * from "./errors.js";
export { ListIterator } from "./pagination.js";
export type * from "./types.js";
export { SignatureVerificationError } from "./webhooks.js";
export type { WebhookEvent } from "./webhooks.js";
export { webhooks };
export default Mboa;
