// The API's resources, one class each (`mboa.paymentIntents`, `mboa.refunds`, …). Parameters are
// named as in the API reference (/docs); every POST takes `{ idempotencyKey }` in its options.
import type { Mboa } from "./client.js";
import { decodeBody, encodeQuery } from "./client.js";
import { errorFromResponse } from "./errors.js";
import { ListIterator } from "./pagination.js";
import type * as T from "./types.js";

const id = (value: string) => encodeURIComponent(value);
type Body = Record<string, unknown>;

abstract class Resource {
  constructor(protected readonly client: Mboa) {}

  protected get<R>(path: string, query?: Body): Promise<R> {
    return this.client.request<R>({ method: "GET", path, query });
  }

  protected post<R>(path: string, body: object | undefined, options?: T.RequestOptions): Promise<R> {
    return this.client.request<R>({ method: "POST", path, body: (body ?? {}) as Body, options });
  }

  protected paginate<R>(path: string, params: object = {}): ListIterator<R> {
    return new ListIterator<R>((query) => this.get(path, query), params as Body);
  }
}

export class PaymentIntents extends Resource {
  /** With `phone`, the payer gets the USSD prompt at once (status `processing`). */
  create(params: T.PaymentIntentCreateParams, options?: T.RequestOptions): Promise<T.PaymentIntent> {
    return this.post("/v1/payment_intents", params, options);
  }
  retrieve(intentId: string): Promise<T.PaymentIntent> {
    return this.get(`/v1/payment_intents/${id(intentId)}`);
  }
  /**
   * The PDF receipt of a succeeded payment intent, as bytes (`locale`: `fr` or `en`; default:
   * the checkout session's language, else French). A payment that has not succeeded has none:
   * a `ConflictError` with code `receipt_unavailable` (409).
   */
  receipt(intentId: string, params: { locale?: "fr" | "en" } = {}): Promise<Uint8Array> {
    return this.client.requestBytes({ method: "GET", path: `/v1/payment_intents/${id(intentId)}/receipt`, query: params });
  }
  confirm(intentId: string, params: T.PaymentIntentConfirmParams = {}, options?: T.RequestOptions): Promise<T.PaymentIntent> {
    return this.post(`/v1/payment_intents/${id(intentId)}/confirm`, params, options);
  }
  cancel(intentId: string, params: T.PaymentIntentCancelParams = {}, options?: T.RequestOptions): Promise<T.PaymentIntent> {
    return this.post(`/v1/payment_intents/${id(intentId)}/cancel`, params, options);
  }
  list(
    params: T.ListParams & { status?: string; provider?: string; reference?: string; customer?: string; phone?: string } = {},
  ): ListIterator<T.PaymentIntent> {
    return this.paginate("/v1/payment_intents", params);
  }
}

export class CheckoutSessions extends Resource {
  create(params: T.CheckoutSessionCreateParams, options?: T.RequestOptions): Promise<T.CheckoutSession> {
    return this.post("/v1/checkout/sessions", params, options);
  }
  retrieve(sessionId: string): Promise<T.CheckoutSession> {
    return this.get(`/v1/checkout/sessions/${id(sessionId)}`);
  }
  expire(sessionId: string, options?: T.RequestOptions): Promise<T.CheckoutSession> {
    return this.post(`/v1/checkout/sessions/${id(sessionId)}/expire`, undefined, options);
  }
  list(
    params: T.ListParams & { status?: "open" | "complete" | "expired"; payment_intent?: string; payment_link?: string } = {},
  ): ListIterator<T.CheckoutSession> {
    return this.paginate("/v1/checkout/sessions", params);
  }
}

export class PaymentLinks extends Resource {
  create(params: T.PaymentLinkCreateParams, options?: T.RequestOptions): Promise<T.PaymentLink> {
    return this.post("/v1/payment_links", params, options);
  }
  retrieve(linkId: string): Promise<T.PaymentLink> {
    return this.get(`/v1/payment_links/${id(linkId)}`);
  }
  update(linkId: string, params: T.PaymentLinkUpdateParams): Promise<T.PaymentLink> {
    return this.client.request({ method: "PATCH", path: `/v1/payment_links/${id(linkId)}`, body: params as Body });
  }
  list(params: T.ListParams & { active?: boolean } = {}): ListIterator<T.PaymentLink> {
    return this.paginate("/v1/payment_links", params);
  }
  /** The payments made through the link. */
  listPaymentIntents(linkId: string, params: T.ListParams = {}): ListIterator<T.PaymentIntent> {
    return this.paginate(`/v1/payment_links/${id(linkId)}/payment_intents`, params);
  }
  /** The link's `url` as a QR code: an SVG document's bytes (for print). */
  qrSvg(linkId: string): Promise<Uint8Array> {
    return this.client.requestBytes({ method: "GET", path: `/v1/payment_links/${id(linkId)}/qr.svg`, accept: "image/svg+xml" });
  }
  /** The link's `url` as a QR code: a PNG image's bytes (8 pixels a module). */
  qrPng(linkId: string): Promise<Uint8Array> {
    return this.client.requestBytes({ method: "GET", path: `/v1/payment_links/${id(linkId)}/qr.png`, accept: "image/png" });
  }
}

export class Refunds extends Resource {
  /** Without `amount`, refunds what is left of the payment. */
  create(params: T.RefundCreateParams, options?: T.RequestOptions): Promise<T.Refund> {
    return this.post("/v1/refunds", params, options);
  }
  retrieve(refundId: string): Promise<T.Refund> {
    return this.get(`/v1/refunds/${id(refundId)}`);
  }
  list(params: T.ListParams & { payment_intent?: string; status?: string } = {}): ListIterator<T.Refund> {
    return this.paginate("/v1/refunds", params);
  }
}

export class Payouts extends Resource {
  create(params: T.PayoutCreateParams, options?: T.RequestOptions): Promise<T.Payout> {
    return this.post("/v1/payouts", params, options);
  }
  retrieve(payoutId: string): Promise<T.Payout> {
    return this.get(`/v1/payouts/${id(payoutId)}`);
  }
  /** Only while `pending`. */
  cancel(payoutId: string, options?: T.RequestOptions): Promise<T.Payout> {
    return this.post(`/v1/payouts/${id(payoutId)}/cancel`, undefined, options);
  }
  list(params: T.ListParams & { status?: string } = {}): ListIterator<T.Payout> {
    return this.paginate("/v1/payouts", params);
  }
}

export class Customers extends Resource {
  create(params: T.CustomerCreateParams = {}, options?: T.RequestOptions): Promise<T.Customer> {
    return this.post("/v1/customers", params, options);
  }
  retrieve(customerId: string): Promise<T.Customer> {
    return this.get(`/v1/customers/${id(customerId)}`);
  }
  update(customerId: string, params: T.CustomerUpdateParams, options?: T.RequestOptions): Promise<T.Customer> {
    return this.post(`/v1/customers/${id(customerId)}`, params, options);
  }
  del(customerId: string): Promise<T.DeletedCustomer> {
    return this.client.request({ method: "DELETE", path: `/v1/customers/${id(customerId)}` });
  }
  list(params: T.ListParams & { email?: string } = {}): ListIterator<T.Customer> {
    return this.paginate("/v1/customers", params);
  }
}

export class Balance extends Resource {
  /** `available` (can be paid out now), `pending` (not settled yet), `reserved`. */
  retrieve(): Promise<T.Balance> {
    return this.get("/v1/balance");
  }
}

export class BalanceTransactions extends Resource {
  retrieve(transactionId: string): Promise<T.BalanceTransaction> {
    return this.get(`/v1/balance_transactions/${id(transactionId)}`);
  }
  list(params: T.ListParams & { type?: string; source?: string } = {}): ListIterator<T.BalanceTransaction> {
    return this.paginate("/v1/balance_transactions", params);
  }
}

export class Events extends Resource {
  retrieve(eventId: string): Promise<T.Event> {
    return this.get(`/v1/events/${id(eventId)}`);
  }
  /** `type` or `types` may be patterns: `payment_intent.*`, `*.failed`. `delivery_success: false`:
   * only events with a webhook delivery that has not succeeded (pending or given up); `true`: only
   * events whose every delivery succeeded. */
  list(
    params: T.ListParams & { type?: string; types?: string[]; object_id?: string; delivery_success?: boolean } = {},
  ): ListIterator<T.Event> {
    return this.paginate("/v1/events", params);
  }
  resend(eventId: string, params: { endpoint?: string } = {}, options?: T.RequestOptions): Promise<T.EventResendResult> {
    return this.post(`/v1/events/${id(eventId)}/resend`, params, options);
  }

  /** Test-mode events as they happen (server-sent events), after `lastEventId` when given.
   * Stop with `break` or the `signal`. */
  async *stream(
    params: { type?: string; types?: string[]; lastEventId?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<T.Event> {
    const headers = this.client.headers({ Accept: "text/event-stream" });
    if (params.lastEventId) headers["Last-Event-ID"] = params.lastEventId;
    const query = encodeQuery({ type: params.type, types: params.types });
    const response = await this.client.fetch(`/v1/events/stream${query}`, { headers, signal: params.signal });
    if (!response.ok || !response.body) {
      const text = await response.text();
      throw errorFromResponse(response.status, response.headers, decodeBody(text).value);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let data: string[] = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let newline: number;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline).replace(/\r$/, "");
          buffer = buffer.slice(newline + 1);
          if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          else if (line === "" && data.length) {
            yield JSON.parse(data.join("\n")) as T.Event;
            data = [];
          }
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }
}

export class WebhookEndpoints extends Resource {
  /** The answer's `secret` (`whsec_…`) is shown here only: store it. */
  create(params: T.WebhookEndpointCreateParams, options?: T.RequestOptions): Promise<T.WebhookEndpoint> {
    return this.post("/v1/webhook_endpoints", params, options);
  }
  retrieve(endpointId: string): Promise<T.WebhookEndpoint> {
    return this.get(`/v1/webhook_endpoints/${id(endpointId)}`);
  }
  update(endpointId: string, params: T.WebhookEndpointUpdateParams): Promise<T.WebhookEndpoint> {
    return this.client.request({ method: "PATCH", path: `/v1/webhook_endpoints/${id(endpointId)}`, body: params as Body });
  }
  del(endpointId: string): Promise<T.DeletedWebhookEndpoint> {
    return this.client.request({ method: "DELETE", path: `/v1/webhook_endpoints/${id(endpointId)}` });
  }
  /** A new secret; the old one keeps signing too for `expires_in` seconds. */
  rollSecret(endpointId: string, params: { expires_in?: number } = {}, options?: T.RequestOptions): Promise<T.WebhookEndpoint> {
    return this.post(`/v1/webhook_endpoints/${id(endpointId)}/roll_secret`, params, options);
  }
  list(params: T.ListParams = {}): ListIterator<T.WebhookEndpoint> {
    return this.paginate("/v1/webhook_endpoints", params);
  }
  listDeliveries(endpointId: string, params: T.ListParams & { event?: string; outcome?: string } = {}): ListIterator<T.WebhookDelivery> {
    return this.paginate(`/v1/webhook_endpoints/${id(endpointId)}/deliveries`, params);
  }
}
