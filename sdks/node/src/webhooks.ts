// Verifying the webhooks Mboa Pay sends, per Standard Webhooks (docs/webhooks.md), with the
// official `standardwebhooks` package.
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { MboaError } from "./errors.js";
import type { Event } from "./types.js";

/** Not a delivery from Mboa Pay signed with this secret (or older than five minutes): answer 400. */
export class SignatureVerificationError extends MboaError {}

/** The event a delivery carries; `request` and `sequence` may be absent from a delivery. */
export type WebhookEvent = Omit<Event, "request" | "sequence"> & Partial<Pick<Event, "request" | "sequence">>;

type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function lowered(headers: HeaderBag): Record<string, string> {
  const out: Record<string, string> = {};
  const entries: Iterable<[string, unknown]> =
    typeof (headers as Headers).forEach === "function" && typeof (headers as Headers).get === "function"
      ? (headers as Headers).entries()
      : Object.entries(headers);
  for (const [key, value] of entries) {
    if (typeof value === "string") out[key.toLowerCase()] = value;
    else if (Array.isArray(value) && typeof value[0] === "string") out[key.toLowerCase()] = value.join(" ");
  }
  return out;
}

/**
 * The event a delivery carries, once its signature checks out.
 *
 * `payload` is the request body exactly as received (a string or bytes; never re-serialised
 * JSON); `headers` the request's headers (a fetch `Headers` or node's `req.headers`); `secret`
 * the endpoint's `whsec_…`. Throws `SignatureVerificationError` otherwise. Deliveries can
 * repeat: de-duplicate on the event's `id`.
 */
export function verify(payload: string | Uint8Array, headers: HeaderBag, secret: string): WebhookEvent {
  try {
    return new Webhook(secret).verify(payload, lowered(headers)) as WebhookEvent;
  } catch (error) {
    if (error instanceof WebhookVerificationError) {
      throw new SignatureVerificationError(error.message || "invalid signature");
    }
    throw error;
  }
}

/** The `webhook-signature` header for `payload` (to test your own receiver). */
export function sign(payload: string, secret: string, msgId: string, timestamp: Date): string {
  return new Webhook(secret).sign(msgId, timestamp, payload);
}
