import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import {
  APIConnectionError,
  AuthenticationError,
  ConflictError,
  IdempotencyError,
  InvalidRequestError,
  Mboa,
  NotFoundError,
} from "@mboapay/node";
import { BASE_URL, MTN_OK, client } from "./helpers.mjs";

test("errors carry code, param, request id and status", async () => {
  const mboa = client();
  await assert.rejects(mboa.paymentIntents.create({ amount: 50, currency: "XAF", phone: MTN_OK }), (error) => {
    assert.ok(error instanceof InvalidRequestError);
    assert.deepEqual([error.httpStatus, error.code, error.param, error.type], [400, "amount_too_small", "amount", "invalid_request_error"]);
    assert.match(error.requestId, /^req_/);
    assert.match(error.docUrl, /#amount_too_small$/);
    return true;
  });
  await assert.rejects(mboa.customers.retrieve("cus_01JD5Z8Q4Y2V6N3K7M9P1R0S2T"), (error) => {
    assert.ok(error instanceof NotFoundError && error instanceof InvalidRequestError);
    assert.deepEqual([error.httpStatus, error.code], [404, "resource_missing"]);
    return true;
  });
  const intent = await mboa.paymentIntents.create({ amount: 1000, currency: "XAF" });
  await mboa.paymentIntents.cancel(intent.id);
  await assert.rejects(mboa.paymentIntents.cancel(intent.id), (error) => {
    assert.ok(error instanceof ConflictError);
    assert.deepEqual([error.httpStatus, error.code], [409, "payment_intent_unexpected_state"]);
    return true;
  });
  const key = `node-same-key-${Date.now()}`;
  await mboa.customers.create({ name: "A" }, { idempotencyKey: key });
  await assert.rejects(mboa.customers.create({ name: "B" }, { idempotencyKey: key }), (error) => {
    assert.ok(error instanceof IdempotencyError);
    assert.deepEqual([error.httpStatus, error.code], [400, "idempotency_key_reused"]);
    return true;
  });
  await assert.rejects(new Mboa("sk_test_nope", { baseUrl: BASE_URL }).balance.retrieve(), (error) => {
    assert.ok(error instanceof AuthenticationError);
    assert.equal(error.httpStatus, 401);
    return true;
  });

  // Nobody listens there: retried, then an APIConnectionError without an HTTP status.
  const closed = net.createServer();
  await new Promise((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = closed.address().port;
  await new Promise((resolve) => closed.close(resolve));
  await assert.rejects(client({ baseUrl: `http://127.0.0.1:${port}`, maxRetries: 1 }).balance.retrieve(), (error) => {
    assert.ok(error instanceof APIConnectionError);
    assert.equal(error.httpStatus, undefined);
    return true;
  });
});
