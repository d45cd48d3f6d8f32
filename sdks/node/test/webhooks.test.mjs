import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { test } from "node:test";
import { SignatureVerificationError, webhooks } from "@mboapay/node";
import { MTN_OK, client, until } from "./helpers.mjs";

test("a real delivery verifies; a tampered one does not", async () => {
  const deliveries = [];
  let arrived;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) });
      arrived?.();
      res.writeHead(200).end("ok");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const mboa = client();
    const endpoint = await mboa.webhookEndpoints.create({
      url: `http://127.0.0.1:${server.address().port}/hooks`,
      enabled_events: ["payment_intent.succeeded"],
    });
    assert.match(endpoint.secret, /^whsec_/);
    const intent = await mboa.paymentIntents.create({ amount: 1500, currency: "XAF", phone: MTN_OK });
    const deadline = Date.now() + 60_000;
    let delivery;
    while (!(delivery = deliveries.find((d) => d.body.includes(intent.id)))) {
      assert.ok(Date.now() < deadline, "no delivery within a minute");
      await Promise.race([new Promise((resolve) => (arrived = resolve)), new Promise((r) => setTimeout(r, 500))]);
    }

    const event = webhooks.verify(delivery.body, delivery.headers, endpoint.secret);
    assert.equal(event.type, "payment_intent.succeeded");
    assert.equal(event.id, delivery.headers["webhook-id"]);
    assert.equal(event.data.object.id, intent.id);
    assert.equal(webhooks.verify(delivery.body.toString(), new Headers(delivery.headers), endpoint.secret).id, event.id);

    // The events list filters on delivery: once the delivery succeeded, the intent's events are
    // all delivered (`created` had nothing to deliver).
    const types = async (params) => new Set((await mboa.events.list(params).toArray()).map((e) => e.type));
    const delivered = await until(() => types({ object_id: intent.id, delivery_success: true }), (t) => t.has("payment_intent.succeeded"));
    assert.ok(delivered.has("payment_intent.created"));
    assert.deepEqual(await types({ object_id: intent.id, delivery_success: false }), new Set());

    const body = JSON.parse(delivery.body);
    body.data.object.amount = 1;
    const cases = [
      [JSON.stringify(body), delivery.headers, endpoint.secret],
      [delivery.body, { ...delivery.headers, "webhook-id": "evt_other" }, endpoint.secret],
      [delivery.body, delivery.headers, `whsec_${Buffer.alloc(32, 1).toString("base64")}`],
      [delivery.body, { ...delivery.headers, "webhook-timestamp": String(Math.floor(Date.now() / 1000) - 3600) }, endpoint.secret],
    ];
    for (const [payload, headers, secret] of cases) {
      assert.throws(() => webhooks.verify(payload, headers, secret), SignatureVerificationError);
    }
    await mboa.webhookEndpoints.del(endpoint.id);

    // An endpoint nobody answers at: its event stays undelivered (pending, then failed).
    const deaf = net.createServer();
    await new Promise((resolve) => deaf.listen(0, "127.0.0.1", resolve));
    const deadUrl = `http://127.0.0.1:${deaf.address().port}/hooks`;
    await new Promise((resolve) => deaf.close(resolve));
    const dead = await mboa.webhookEndpoints.create({ url: deadUrl, enabled_events: ["payment_intent.canceled"] });
    const unpaid = await mboa.paymentIntents.create({ amount: 1000, currency: "XAF" });
    await mboa.paymentIntents.cancel(unpaid.id);
    const undelivered = await until(() => types({ object_id: unpaid.id, delivery_success: false }), (t) => t.size > 0);
    assert.deepEqual(undelivered, new Set(["payment_intent.canceled"]));
    assert.deepEqual(await types({ object_id: unpaid.id, delivery_success: true }), new Set(["payment_intent.created"]));
    await mboa.webhookEndpoints.del(dead.id);
  } finally {
    server.close();
  }
});
