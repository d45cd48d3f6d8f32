import assert from "node:assert/strict";
import { test } from "node:test";
import { ConflictError, NotFoundError } from "@mboapay/node";
import { API_KEY, BASE_URL, MTN_OK, client, until } from "./helpers.mjs";

test("a succeeded payment's receipt is its PDF, in French or English", async () => {
  const mboa = client();
  const intent = await mboa.paymentIntents.create({ amount: 2500, currency: "XAF", phone: MTN_OK });
  await until(() => mboa.paymentIntents.retrieve(intent.id), (pi) => pi.status === "succeeded");

  const french = await mboa.paymentIntents.receipt(intent.id);
  assert.ok(french instanceof Uint8Array);
  assert.equal(new TextDecoder().decode(french.subarray(0, 5)), "%PDF-");
  const english = await mboa.paymentIntents.receipt(intent.id, { locale: "en" });
  assert.equal(new TextDecoder().decode(english.subarray(0, 5)), "%PDF-");
  assert.notDeepEqual(english, french);
  // The same bytes as the API serves.
  const direct = await fetch(`${BASE_URL}/v1/payment_intents/${intent.id}/receipt?locale=en`, {
    headers: { Authorization: `Bearer ${API_KEY}` },
  });
  assert.deepEqual(new Uint8Array(await direct.arrayBuffer()), english);

  // A payment that has not succeeded has none: the API's error, thrown.
  const unpaid = await mboa.paymentIntents.create({ amount: 1000, currency: "XAF" });
  await assert.rejects(mboa.paymentIntents.receipt(unpaid.id), (error) => {
    assert.ok(error instanceof ConflictError);
    assert.deepEqual([error.httpStatus, error.code], [409, "receipt_unavailable"]);
    return true;
  });
  await assert.rejects(mboa.paymentIntents.receipt("pi_01JD5Z8Q4Y2V6N3K7M9P1R0S2T"), NotFoundError);
});

test("a payment link's QR code, as SVG and PNG bytes", async () => {
  const mboa = client();
  const link = await mboa.paymentLinks.create({ currency: "XAF", amount: 2000, description: "Ndolé" });
  const svg = await mboa.paymentLinks.qrSvg(link.id);
  assert.ok(svg instanceof Uint8Array);
  assert.ok(new TextDecoder().decode(svg).includes("<svg"));
  const png = await mboa.paymentLinks.qrPng(link.id);
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]); // \x89PNG
  // The same images as the API serves.
  for (const [kind, bytes] of [["svg", svg], ["png", png]]) {
    const direct = await fetch(`${BASE_URL}/v1/payment_links/${link.id}/qr.${kind}`, {
      headers: { Authorization: `Bearer ${API_KEY}` },
    });
    assert.deepEqual(new Uint8Array(await direct.arrayBuffer()), bytes);
  }
  await assert.rejects(mboa.paymentLinks.qrPng("plink_01JD5Z8Q4Y2V6N3K7M9P1R0S2T"), (error) => {
    assert.ok(error instanceof NotFoundError);
    assert.equal(error.httpStatus, 404);
    return true;
  });
});
