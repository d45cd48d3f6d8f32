// The client: authentication, JSON, retries that reuse one Idempotency-Key per call.
import { APIConnectionError, APIError, APITimeoutError, MboaError, errorFromResponse } from "./errors.js";
import {
  Balance,
  BalanceTransactions,
  CheckoutSessions,
  Customers,
  Events,
  PaymentIntents,
  PaymentLinks,
  Payouts,
  Refunds,
  WebhookEndpoints,
} from "./resources.js";
import type { RequestOptions } from "./types.js";

export const VERSION = "0.1.0";
const DEFAULT_BASE_URL = "http://127.0.0.1:8000";
const INITIAL_RETRY_DELAY_MS = 500;
const MAX_RETRY_DELAY_MS = 8_000;
/** A server asking for a longer wait than this is not waited for: the error is thrown. */
const MAX_RETRY_AFTER_MS = 60_000;

export interface MboaOptions {
  /** Default `http://127.0.0.1:8000` (`make run`). */
  baseUrl?: string;
  /** Milliseconds for one try (default 30 000). */
  timeout?: number;
  /** Tries after the first on connection errors, 409 `idempotency_key_in_use`, 429, 5xx (default 2). */
  maxRetries?: number;
  /** Your own fetch (a proxy agent, a test double of the network); default the platform's. */
  fetch?: typeof fetch;
}

export interface Request {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, unknown>;
  body?: Record<string, unknown>;
  options?: RequestOptions;
  /** What a success answers: decoded JSON (default), or the body's bytes (a receipt's PDF). */
  as?: "json" | "bytes";
  /** The Accept header's preferred type when `as` is "bytes" (default `application/pdf`). */
  accept?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function newIdempotencyKey(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  // Node 18 without the global: uniqueness, not secrecy, is what an idempotency key needs.
  return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => {
    const r = (Math.random() * 16) | 0;
    return (c === "x" ? r : (r & 0x3) | 0x8).toString(16);
  });
}

/** Query parameters as the API reads them: `created[gte]=…`, `types[]=a&types[]=b`. */
export function encodeQuery(params: Record<string, unknown>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) for (const item of value) search.append(`${key}[]`, String(item));
    else if (typeof value === "object")
      for (const [op, bound] of Object.entries(value)) {
        if (bound !== undefined) search.append(`${key}[${op}]`, String(bound));
      }
    else search.append(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get("retry-after");
  if (value === null) return undefined;
  const seconds = Number(value);
  if (!Number.isNaN(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function shouldRetry(status: number, body: unknown): boolean {
  if (status === 409) {
    return (body as { error?: { code?: string } } | null)?.error?.code === "idempotency_key_in_use";
  }
  return status === 429 || status >= 500;
}

/**
 * Mboa Pay's API.
 *
 * ```ts
 * const mboa = new Mboa(process.env.MBOA_API_KEY!, { baseUrl: "http://127.0.0.1:8000" });
 * const intent = await mboa.paymentIntents.create({ amount: 1500, currency: "XAF", phone: "670000000" });
 * ```
 */
export class Mboa {
  readonly baseUrl: string;
  readonly timeout: number;
  readonly maxRetries: number;
  private readonly apiKey: string;
  private readonly fetchImpl: typeof fetch;

  readonly paymentIntents = new PaymentIntents(this);
  readonly checkoutSessions = new CheckoutSessions(this);
  readonly paymentLinks = new PaymentLinks(this);
  readonly refunds = new Refunds(this);
  readonly payouts = new Payouts(this);
  readonly customers = new Customers(this);
  readonly balance = new Balance(this);
  readonly balanceTransactions = new BalanceTransactions(this);
  readonly events = new Events(this);
  readonly webhookEndpoints = new WebhookEndpoints(this);

  constructor(apiKey: string, options: MboaOptions = {}) {
    if (!apiKey) throw new Error("an API key is required (sk_test_… or sk_live_…)");
    this.apiKey = apiKey;
    this.baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    this.timeout = options.timeout ?? 30_000;
    this.maxRetries = options.maxRetries ?? 2;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Headers of every request (the event stream uses them too). */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      Authorization: `Bearer ${this.apiKey}`,
      Accept: "application/json",
      "User-Agent": `mboapay-node/${VERSION}`,
      ...extra,
    };
  }

  /** One logical call whose answer is a file (a receipt's PDF): its bytes. Errors are the API's
   * JSON error objects, thrown as for `request`. */
  requestBytes(request: Omit<Request, "as">): Promise<Uint8Array> {
    return this.request<Uint8Array>({ ...request, as: "bytes" });
  }

  /** One logical call, tried up to `maxRetries + 1` times; the decoded JSON answer. */
  async request<T>({ method, path, query, body, options = {}, as = "json", accept }: Request): Promise<T> {
    const headers = this.headers(body !== undefined ? { "Content-Type": "application/json" } : {});
    if (as === "bytes") headers.Accept = `${accept ?? "application/pdf"}, application/json`;
    if (method === "POST") headers["Idempotency-Key"] = options.idempotencyKey ?? newIdempotencyKey();
    const url = this.baseUrl + path + (query ? encodeQuery(query) : "");
    const payload = body === undefined ? undefined : JSON.stringify(dropUndefined(body));
    for (let retries = 0; ; retries++) {
      let error: MboaError;
      let response: Response | undefined;
      const timeout = AbortSignal.timeout(this.timeout);
      // AbortSignal.any is Node 20+; on older runtimes the caller's signal wins over the timeout.
      const signal = !options.signal
        ? timeout
        : typeof AbortSignal.any === "function"
          ? AbortSignal.any([options.signal, timeout])
          : options.signal;
      try {
        response = await this.fetchImpl(url, { method, headers, body: payload, signal });
        if (response.ok && as === "bytes") return new Uint8Array(await response.arrayBuffer()) as T;
        const text = await response.text();
        const decoded = decodeBody(text);
        if (response.ok) {
          // A success that is not JSON (a captive portal's page, a proxy's) is not retried: the
          // call may have run.
          if (decoded.json) return decoded.value as T;
          throw new APIError(`HTTP ${response.status} with a body that is not JSON`, {
            httpStatus: response.status,
            requestId: response.headers.get("x-request-id") ?? undefined,
            headers: response.headers,
            body: text,
          });
        }
        // An error answer that is not JSON (a proxy's HTML 502, a plain-text 404) is still
        // classed by its status, and retried (or not) as the status says.
        error = errorFromResponse(response.status, response.headers, decoded.value);
        if (!shouldRetry(response.status, decoded.value)) throw error;
      } catch (caught) {
        if (caught instanceof MboaError) throw caught;
        if (options.signal?.aborted) throw caught;
        const timedOut = caught instanceof Error && caught.name === "TimeoutError";
        error = timedOut
          ? new APITimeoutError(`no answer from ${this.baseUrl} within ${this.timeout} ms`)
          : new APIConnectionError(`could not reach ${this.baseUrl}: ${String(caught)}`);
        response = undefined;
      }
      if (retries >= this.maxRetries) throw error;
      let delay: number;
      const asked = response ? retryAfterMs(response.headers) : undefined;
      if (asked !== undefined) {
        if (asked > MAX_RETRY_AFTER_MS) throw error;
        delay = asked;
      } else {
        // Exponential backoff with jitter spreads the retries of many clients hit by one outage.
        delay = Math.min(INITIAL_RETRY_DELAY_MS * 2 ** retries, MAX_RETRY_DELAY_MS) * (0.75 + Math.random() * 0.25);
      }
      await sleep(delay);
    }
  }

  /** The raw fetch, authenticated (the event stream reads its body itself). */
  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return this.fetchImpl(this.baseUrl + path, init);
  }
}

/** A body's JSON, or its text (`json: false`) when it is not JSON; null when empty. */
export function decodeBody(text: string): { json: boolean; value: unknown } {
  if (!text) return { json: true, value: null };
  try {
    return { json: true, value: JSON.parse(text) };
  } catch {
    return { json: false, value: text };
  }
}

function dropUndefined(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}
