import assert from "node:assert/strict";
import { test } from "node:test";
import { NotFoundError, RateLimitError } from "@mboapay/node";
import { client, droppingProxy, header, recordingFetch } from "./helpers.mjs";

test("an answer lost on the way is retried under the same key and runs once", async () => {
  const proxy = await droppingProxy(1);
  const reference = `node-dropped-${Date.now()}`;
  try {
    const intent = await client({ baseUrl: proxy.url }).paymentIntents.create({ amount: 2500, currency: "XAF", reference });
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

test("a 429 is retried after Retry-After", async () => {
  const seen = [];
  const mboa = client({ fetch: recordingFetch(seen), maxRetries: 6 });
  const tag = `node-burst-${Date.now()}@example.cm`;
  // Ten in flight at a time (more starve one API process's connection pool): still far above
  // the test-mode limit of 25 requests per second.
  const created = [];
  const next = { i: 0 };
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next.i < 60) created.push(await mboa.customers.create({ name: `B ${next.i++}`, email: tag }));
    }),
  );
  assert.equal(new Set(created.map((c) => c.id)).size, 60);
  assert.equal((await mboa.customers.list({ email: tag, limit: 100 }).toArray()).length, 60);

  const limited = seen.filter((s) => s.status === 429);
  assert.ok(limited.length > 0, "60 requests, ten at a time, must cross the test-mode limit of 25 per second");
  for (const refused of limited) {
    assert.ok(refused.retryAfter);
    const next = seen.find((s) => s.key === refused.key && s.at > refused.at);
    assert.ok(next, JSON.stringify(refused));
    assert.ok(next.at - refused.at >= Number(refused.retryAfter) * 1000 - 50, JSON.stringify([refused, next]));
  }

  const bare = client({ maxRetries: 0 });
  const results = await Promise.allSettled(Array.from({ length: 40 }, () => bare.paymentIntents.retrieve("pi_missing")));
  const errors = results.map((r) => r.reason);
  assert.ok(errors.every((e) => e instanceof RateLimitError || e instanceof NotFoundError), errors.join());
  const refusals = errors.filter((e) => e instanceof RateLimitError);
  assert.ok(refusals.length > 0);
  for (const error of refusals) {
    assert.deepEqual([error.httpStatus, error.code, error.type], [429, "rate_limit", "rate_limit_error"]);
  }
});
