// A minimal shop backend on plain node:http and @mboapay/node: an order opens a hosted checkout
// session, the webhook marks the order paid once its signature checks out.
//
//   npm install @mboapay/node
//   MBOA_API_KEY=sk_test_… MBOA_WEBHOOK_SECRET=whsec_… node shop.mjs
//
// (MBOA_BASE_URL defaults to the local `make run`.) Register http://127.0.0.1:4243/webhooks as
// a webhook endpoint (enabled_events ["*"]; the shop acts on checkout.session.completed) to get
// the secret.
import { randomUUID } from "node:crypto";
import http from "node:http";
import { Mboa, SignatureVerificationError, webhooks } from "@mboapay/node";

const mboa = new Mboa(process.env.MBOA_API_KEY, { baseUrl: process.env.MBOA_BASE_URL });
const PORT = Number(process.env.PORT ?? 4243);
const PUBLIC_URL = process.env.SHOP_URL ?? `http://127.0.0.1:${PORT}`;
const orders = new Map(); // in a real shop: a table

const readBody = (req) =>
  new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });

const json = (res, status, body) => res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));

export const server = http.createServer(async (req, res) => {
  try {
    if (req.method === "POST" && req.url === "/orders") {
      const { amount, description = "Order" } = JSON.parse(await readBody(req));
      const orderId = `order_${randomUUID().slice(0, 12)}`;
      const session = await mboa.checkoutSessions.create(
        {
          amount,
          currency: "XAF",
          description,
          reference: orderId,
          success_url: `${PUBLIC_URL}/orders/${orderId}`,
          metadata: { order_id: orderId },
        },
        { idempotencyKey: orderId }, // a retried call never opens a second session
      );
      orders.set(orderId, { id: orderId, status: "awaiting_payment", session: session.id });
      return json(res, 200, { order_id: orderId, pay_url: session.url });
    }
    if (req.method === "GET" && req.url?.startsWith("/orders/")) {
      const order = orders.get(req.url.slice("/orders/".length));
      return order ? json(res, 200, order) : json(res, 404, { error: "no such order" });
    }
    if (req.method === "POST" && req.url === "/webhooks") {
      const body = await readBody(req); // the raw bytes: never re-serialised JSON
      let event;
      try {
        event = webhooks.verify(body, req.headers, process.env.MBOA_WEBHOOK_SECRET);
      } catch (error) {
        if (error instanceof SignatureVerificationError) return json(res, 400, { error: "bad signature" });
        throw error;
      }
      if (event.type === "checkout.session.completed") {
        const order = orders.get(event.data.object.metadata?.order_id);
        if (order) order.status = "paid"; // deliveries can repeat: harmless twice
      }
      return json(res, 200, { received: true });
    }
    json(res, 404, { error: "not found" });
  } catch (error) {
    json(res, 500, { error: String(error) });
  }
});

if (import.meta.url === `file://${process.argv[1]}`) {
  server.listen(PORT, "127.0.0.1", () => console.log(`shop on ${PUBLIC_URL}`));
}
