import assert from "node:assert/strict";
import { test } from "node:test";
import { client, recordingFetch } from "./helpers.mjs";

test("for await walks 250 customers, page by page", async () => {
  const seen = [];
  const mboa = client({ fetch: recordingFetch(seen), maxRetries: 8 });
  const tag = `node-page-${Date.now()}@example.cm`;
  // Ten at a time: the test-mode rate limit (25/s) makes the SDK wait out some 429s.
  const ids = [];
  for (let start = 0; start < 250; start += 10) {
    const batch = Array.from({ length: 10 }, (_, i) => mboa.customers.create({ name: `C ${start + i}`, email: tag }));
    ids.push(...(await Promise.all(batch)).map((c) => c.id));
  }
  assert.equal(new Set(ids).size, 250);

  seen.length = 0;
  const walked = [];
  for await (const customer of mboa.customers.list({ limit: 100, email: tag })) walked.push(customer.id);
  assert.deepEqual([...walked].sort(), [...ids].sort());
  assert.deepEqual(walked, [...walked].sort().reverse()); // newest first
  assert.equal(seen.filter((s) => s.path === "/v1/customers" && s.status === 200).length, 3);

  const newer = await mboa.customers.list({ limit: 30, email: tag, ending_before: walked[100] }).toArray();
  assert.deepEqual(newer.map((c) => c.id).sort(), walked.slice(0, 100).sort());
  assert.equal((await mboa.customers.list({ limit: 7, email: tag }).firstPage()).length, 7);
});
