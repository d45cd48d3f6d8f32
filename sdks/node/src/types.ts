// The API's objects, named: aliases of the types generated from sdks/openapi.json (openapi.ts).
import type { components } from "./openapi.js";

type Schemas = components["schemas"];

export type PaymentIntent = Schemas["PaymentIntent"];
export type PaymentAttempt = Schemas["PaymentAttempt"];
export type CheckoutSession = Schemas["CheckoutSession"];
export type PaymentLink = Schemas["PaymentLink"];
export type Refund = Schemas["Refund"];
export type Payout = Schemas["Payout"];
export type Customer = Schemas["Customer"];
export type DeletedCustomer = Schemas["DeletedCustomer"];
export type Balance = Schemas["Balance"];
export type BalanceTransaction = Schemas["BalanceTransaction"];
export type Event = Schemas["EventObject"];
export type EventResendResult = Schemas["EventResendResult"];
export type WebhookEndpoint = Schemas["WebhookEndpoint"];
export type DeletedWebhookEndpoint = Schemas["DeletedWebhookEndpoint"];
export type WebhookDelivery = Schemas["WebhookDelivery"];

// Parameters: the request bodies as the API documents them.
export type PaymentIntentCreateParams = Schemas["PaymentIntentCreate"];
export type PaymentIntentConfirmParams = Schemas["PaymentIntentConfirm"];
export type PaymentIntentCancelParams = Schemas["PaymentIntentCancel"];
export type CheckoutSessionCreateParams = Schemas["CheckoutSessionCreate"];
export type PaymentLinkCreateParams = Schemas["PaymentLinkCreate"];
export type PaymentLinkUpdateParams = Schemas["PaymentLinkUpdate"];
export type RefundCreateParams = Schemas["RefundCreate"];
export type PayoutCreateParams = Schemas["PayoutCreate"];
export type CustomerCreateParams = Schemas["CustomerCreate"];
export type CustomerUpdateParams = Schemas["CustomerUpdate"];
export type WebhookEndpointCreateParams = Schemas["WebhookEndpointCreate"];
export type WebhookEndpointUpdateParams = Schemas["WebhookEndpointUpdate"];

/** Per-call options: your own Idempotency-Key (an order id) makes a POST safe to repeat. */
export interface RequestOptions {
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/** Cursor pagination (docs/api-conventions.md §D8) and the `created` range every list takes. */
export interface ListParams {
  limit?: number;
  starting_after?: string;
  ending_before?: string;
  created?: number | { gt?: number; gte?: number; lt?: number; lte?: number };
}
