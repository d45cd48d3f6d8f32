import assert from "node:assert/strict";
import { test } from "node:test";
import { MTN_OK, client, until } from "./helpers.mjs";

test("a payment succeeds, is partly refunded, and a payout is paid", async () => {
  const mboa = client();
  const intent = await mboa.paymentIntents.create({
    amount: 1500,
    currency: "XAF",
    phone: MTN_OK,
    reference: `node-order-${Date.now()}`,
    metadata: { order: "42" },
  });
  assert.match(intent.id, /^pi_/);
  assert.deepEqual(intent.metadata, { order: "42" });
  const paid = await until(() => mboa.paymentIntents.retrieve(intent.id), (pi) => pi.status === "succeeded");
  assert.deepEqual([paid.amount_received, paid.fee, paid.net], [1500, 30, 1470]);

  const refund = await mboa.refunds.create({ payment_intent: intent.id, amount: 500, reason: "requested_by_customer" });
  assert.equal(refund.amount, 500);
  await until(() => mboa.refunds.retrieve(refund.id), (r) => r.status === "succeeded");
  assert.equal((await mboa.paymentIntents.retrieve(intent.id)).amount_refunded, 500);

  // The test funded this merchant's available balance beforehand (a settled collection): this
  // payment's net stays `pending` for the fee plan's settlement delay (1 day, docs/ledger.md),
  // and a payout spends only `available` money.
  const balance = await mboa.balance.retrieve();
  assert.ok(balance.available.some((a) => a.currency === "XAF" && a.amount >= 5000), JSON.stringify(balance));
  const payout = await mboa.payouts.create({ amount: 5000, currency: "XAF", destination: { phone: MTN_OK } });
  const paidOut = await until(() => mboa.payouts.retrieve(payout.id), (p) => p.status === "paid");
  assert.equal(paidOut.amount, 5000);

  const types = new Set();
  for await (const event of mboa.events.list({ object_id: intent.id, limit: 100 })) types.add(event.type);
  assert.ok(types.has("payment_intent.created") && types.has("payment_intent.succeeded"), [...types].join());
  const payouts = await mboa.payouts.list().toArray();
  assert.ok(payouts.some((p) => p.id === payout.id));
});
