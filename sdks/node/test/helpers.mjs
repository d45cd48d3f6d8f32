// Shared by the tests: they run against a real Mboa Pay stack whose base URL and test secret
// key come from the environment (tests/sdks/test_node_sdk.py starts the stack and sets them).
import assert from "node:assert/strict";
import net from "node:net";
import { Mboa } from "@mboapay/node";

export const BASE_URL = process.env.MBOA_BASE_URL;
export const API_KEY = process.env.MBOA_API_KEY;
assert.ok(BASE_URL && API_KEY, "MBOA_BASE_URL and MBOA_API_KEY must name a running stack (see tests/sdks/test_node_sdk.py)");
export const MTN_OK = "+237670000000";

export const client = (options = {}) => new Mboa(API_KEY, { baseUrl: BASE_URL, ...options });

/** Read until `done`, or fail with the last value. */
export async function until(read, done, within = 60_000) {
  const deadline = Date.now() + within;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    assert.ok(Date.now() < deadline, `gave up waiting: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A fetch that records each attempt (time, method, path, status, Idempotency-Key, Retry-After). */
export function recordingFetch(seen) {
  return async (url, init) => {
    const response = await fetch(url, init);
    seen.push({
      at: performance.now(),
      method: init?.method ?? "GET",
      path: new URL(url).pathname,
      status: response.status,
      key: init?.headers?.["Idempotency-Key"],
      retryAfter: response.headers.get("retry-after"),
    });
    return response;
  };
}

/** A TCP relay to the API that reads the API's whole answer to the first `dropFirst` requests
 * and closes the client's connection instead of passing it on. */
export async function droppingProxy(dropFirst = 1) {
  const target = new URL(BASE_URL);
  const requests = [];
  let toDrop = dropFirst;
  const server = net.createServer((socket) => {
    let pending = Buffer.alloc(0);
    socket.on("data", async (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      const message = takeMessage(pending);
      if (!message) return;
      pending = pending.subarray(message.length);
      requests.push(message.toString("latin1"));
      const answer = await exchange(target, message);
      if (toDrop > 0) {
        toDrop -= 1;
        socket.destroy();
      } else {
        socket.write(answer);
      }
    });
    socket.on("error", () => {});
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

function takeMessage(buffer) {
  const end = buffer.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const head = buffer.subarray(0, end).toString("latin1");
  const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  const total = end + 4 + (match ? Number(match[1]) : 0);
  return buffer.length >= total ? buffer.subarray(0, total) : null;
}

function exchange(target, message) {
  return new Promise((resolve, reject) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    let answer = Buffer.alloc(0);
    upstream.on("data", (chunk) => {
      answer = Buffer.concat([answer, chunk]);
      const whole = takeMessage(answer);
      if (whole) {
        upstream.destroy();
        resolve(whole);
      }
    });
    upstream.on("error", reject);
    upstream.write(message);
  });
}

export function header(request, name) {
  const match = new RegExp(`\\r\\n${name}:\\s*([^\\r]*)`, "i").exec(request);
  return match ? match[1] : undefined;
}

/** A whole HTTP/1.1 answer, as a proxy or the API would write it. */
export function httpAnswer(status, body = "", contentType = "text/plain", headers = {}) {
  const bytes = Buffer.from(body);
  const lines = [`HTTP/1.1 ${status} X`, `Content-Type: ${contentType}`, `Content-Length: ${bytes.length}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n"), bytes]);
}

/** A stand-in for what sits between a client and the API (a load balancer, a proxy): its first
 * answers are the test's own (`answers`), given without reaching the API; later requests go
 * through to the API (`forward`). Each request is recorded with the time it arrived. */
export async function scriptedProxy(answers, { forward = false } = {}) {
  const target = new URL(BASE_URL);
  const requests = [];
  const arrivals = [];
  const script = [...answers];
  const server = net.createServer((socket) => {
    let pending = Buffer.alloc(0);
    socket.on("data", async (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      let message;
      while ((message = takeMessage(pending))) {
        pending = pending.subarray(message.length);
        requests.push(message.toString("latin1"));
        arrivals.push(performance.now());
        if (script.length) socket.write(script.shift());
        else if (forward) socket.write(await exchange(target, message));
        else socket.destroy(new Error("more requests than scripted answers"));
      }
    });
    socket.on("error", () => {});
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    arrivals,
    close: () => {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
