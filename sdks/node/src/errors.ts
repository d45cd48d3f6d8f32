// Errors: one class per kind of failure, each carrying the API's error object
// (docs/api-conventions.md §D7).

export interface ErrorFields {
  httpStatus?: number;
  type?: string;
  code?: string;
  param?: string;
  docUrl?: string;
  requestId?: string;
  headers?: Headers;
  body?: unknown;
}

/** Every error this SDK throws: `code` is for programs, `message` for people, `param` names the
 * offending parameter, `requestId` is what support asks for. */
export class MboaError extends Error {
  readonly httpStatus?: number;
  readonly type?: string;
  readonly code?: string;
  readonly param?: string;
  readonly docUrl?: string;
  readonly requestId?: string;
  readonly headers?: Headers;
  readonly body?: unknown;

  constructor(message: string, fields: ErrorFields = {}) {
    super(message);
    this.name = new.target.name;
    Object.assign(this, fields);
  }
}

/** No answer (refused, reset, DNS, timeout): retried automatically first. */
export class APIConnectionError extends MboaError {}
export class APITimeoutError extends APIConnectionError {}
/** The API answered with an error object. */
export class APIError extends MboaError {}
/** 400: a parameter is missing or wrong (`param`); nothing was written. */
export class InvalidRequestError extends APIError {}
/** 401: no valid API key. */
export class AuthenticationError extends APIError {}
/** 403: the key lacks the permission. */
export class PermissionDeniedError extends APIError {}
/** 404: no such object for this key's merchant and mode. */
export class NotFoundError extends InvalidRequestError {}
/** 409: the object's state does not allow this. */
export class ConflictError extends APIError {}
/** An Idempotency-Key reused with other parameters (400), or still running (409, retried first). */
export class IdempotencyError extends APIError {}
/** 402 / 424: the operator declined, or is down. */
export class ProviderError extends APIError {}
/** 429: too many requests; retried after Retry-After first. */
export class RateLimitError extends APIError {}
/** 5xx: a failure on Mboa Pay's side; retried first. */
export class ServerError extends APIError {}

const BY_STATUS: Record<number, typeof APIError> = {
  400: InvalidRequestError,
  401: AuthenticationError,
  402: ProviderError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  424: ProviderError,
  429: RateLimitError,
};

interface ErrorObject {
  type?: string;
  code?: string;
  message?: string;
  param?: string | null;
  doc_url?: string;
  request_id?: string;
}

export function errorFromResponse(status: number, headers: Headers, body: unknown): APIError {
  const raw = (body as { error?: unknown } | null)?.error;
  const error: ErrorObject = raw && typeof raw === "object" ? (raw as ErrorObject) : {};
  let cls: typeof APIError;
  if (error.type === "idempotency_error" || error.code === "idempotency_key_in_use") cls = IdempotencyError;
  else if (status >= 500) cls = ServerError;
  else cls = BY_STATUS[status] ?? APIError;
  return new cls(error.message ?? `HTTP ${status}`, {
    httpStatus: status,
    type: error.type,
    code: error.code,
    param: error.param ?? undefined,
    docUrl: error.doc_url,
    requestId: error.request_id ?? headers.get("x-request-id") ?? undefined,
    headers,
    body,
  });
}
