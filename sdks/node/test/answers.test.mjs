// Answers that are not the API's own JSON (what a proxy or a load balancer in between writes),
// and the retry paths: a 5xx and a 409 `idempotency_key_in_use` retried under the same
// Idempotency-Key until the real API answers. The stand-in in front of the API is
// scriptedProxy (helpers.mjs), not one of our components.
import assert from "node:assert/strict";
import { test } from "node:test";
import { APIConnectionError, APIError, ConflictError, NotFoundError, ServerError } from "@mboapay/node";
import { client, header, httpAnswer, scriptedProxy } from "./helpers.mjs";

const BAD_GATEWAY_PAGE = "<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>";

test("an HTML 502 is a ServerError with its status, retried after Retry-After", async () => {
  const proxy = await scriptedProxy(Array(3).fill(httpAnswer(502, BAD_GATEWAY_PAGE, "text/html", { "Retry-After": "1" })));
  try {
    await assert.rejects(client({ baseUrl: proxy.url, maxRetries: 2 }).balance.retrieve(), (error) => {
      assert.ok(error instanceof ServerError, String(error));
      assert.ok(!(error instanceof APIConnectionError));
      assert.deepEqual([error.httpStatus, error.code, error.body], [502, undefined, BAD_GATEWAY_PAGE]);
      return true;
    });
    assert.equal(proxy.requests.length, 3);
    for (let i = 1; i < proxy.arrivals.length; i++) {
      assert.ok(proxy.arrivals[i] - proxy.arrivals[i - 1] >= 950, JSON.stringify(proxy.arrivals));
    }
  } finally {
    await proxy.close();
  }
});

test("a plain-text 404 is a NotFoundError, not retried", async () => {
  const proxy = await scriptedProxy([httpAnswer(404, "404 page not found")]);
  try {
    await assert.rejects(client({ baseUrl: proxy.url, maxRetries: 2 }).customers.retrieve("cus_x"), (error) => {
      assert.ok(error instanceof NotFoundError, String(error));
      assert.deepEqual([error.httpStatus, error.code], [404, undefined]);
      return true;
    });
    assert.equal(proxy.requests.length, 1);
  } finally {
    await proxy.close();
  }
});

test("a success that is not JSON is an APIError, not retried", async () => {
  const page = "<html>Welcome to the hotel Wi-Fi</html>";
  const proxy = await scriptedProxy([httpAnswer(200, page, "text/html")]);
  try {
    await assert.rejects(client({ baseUrl: proxy.url, maxRetries: 2 }).customers.create({ name: "Portal" }), (error) => {
      assert.equal(error.constructor, APIError);
      assert.deepEqual([error.httpStatus, error.body], [200, page]);
      return true;
    });
    assert.equal(proxy.requests.length, 1); // the call may have run: not repeated
  } finally {
    await proxy.close();
  }
});

test("a 503 is retried under the same key and the call runs once", async () => {
  const proxy = await scriptedProxy([httpAnswer(503, "Service Unavailable")], { forward: true });
  const reference = `node-503-${Date.now()}`;
  try {
    const intent = await client({ baseUrl: proxy.url }).paymentIntents.create({ amount: 1200, currency: "XAF", reference });
    assert.equal(proxy.requests.length, 2);
    const keys = new Set(proxy.requests.map((r) => header(r, "idempotency-key")));
    assert.equal(keys.size, 1);
    assert.ok([...keys][0]);
    const found = await client().paymentIntents.list({ reference }).toArray();
    assert.deepEqual(found.map((pi) => pi.id), [intent.id]);
  } finally {
    await proxy.close();
  }
});

test("a 409 idempotency_key_in_use is retried until the API answers; another 409 is not", async () => {
  const inUse = httpAnswer(
    409,
    JSON.stringify({
      error: {
        type: "idempotency_error",
        code: "idempotency_key_in_use",
        message: "A request with this Idempotency-Key is still being processed.",
      },
    }),
    "application/json",
  );
  const email = `node-in-use-${Date.now()}@x.cm`;
  const key = `order-${Date.now()}`;
  let proxy = await scriptedProxy([inUse, inUse], { forward: true });
  try {
    const customer = await client({ baseUrl: proxy.url }).customers.create({ name: "Once", email }, { idempotencyKey: key });
    assert.equal(proxy.requests.length, 3);
    assert.deepEqual(new Set(proxy.requests.map((r) => header(r, "idempotency-key"))), new Set([key]));
    const found = await client().customers.list({ email }).toArray();
    assert.deepEqual(found.map((c) => c.id), [customer.id]);
  } finally {
    await proxy.close();
  }

  const conflict = httpAnswer(
    409,
    JSON.stringify({ error: { type: "invalid_request_error", code: "payment_intent_unexpected_state", message: "no" } }),
    "application/json",
  );
  proxy = await scriptedProxy([conflict]);
  try {
    await assert.rejects(client({ baseUrl: proxy.url }).paymentIntents.cancel("pi_x"), (error) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.code, "payment_intent_unexpected_state");
      return true;
    });
    assert.equal(proxy.requests.length, 1);
  } finally {
    await proxy.close();
  }
});
