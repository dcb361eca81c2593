/**
 * Pretty-printed JSON payloads. The JSON protocol separates messages with newlines and every SDK splits frames on
 * them, so a payload that kept its line breaks broke the frame it was in: the SDK failed to parse the message
 * (and the rest of its frame). A payload from the server API, or a Protobuf client's JSON bytes, is put on one
 * line for JSON clients; Protobuf clients still get the publisher's bytes exactly.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Centrifuge, PublicationContext } from 'centrifuge';
import { JSON_SDK, PROTOBUF_SDK, sdkClient } from '../helpers/sdk-encodings.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
const clients: Centrifuge[] = [];
before(async () => {
  s = await startServer({
    client: { allow_anonymous_connect_without_token: true },
    channel: {
      without_namespace: openChannels({ history_size: 10, history_ttl: '60s', allow_publish_for_client: true }),
    },
    http_api: { key: 'k' },
  });
});
after(async () => {
  for (const c of clients) c.disconnect();
  await s?.close();
});

const VALUE = { text: 'line one\nline two', nested: { list: [1, 2, 3] } };
const PRETTY = JSON.stringify(VALUE, null, 2).replaceAll('\n', '\r\n');

async function subscriber(sdk: typeof JSON_SDK, channel: string): Promise<PublicationContext[]> {
  const c = sdkClient(sdk, s.wsUrl);
  clients.push(c);
  const got: PublicationContext[] = [];
  const sub = c.newSubscription(channel);
  sub.on('publication', (ctx) => got.push(ctx));
  c.connect();
  sub.subscribe();
  await sub.ready(5000);
  return got;
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a pretty-printed server API payload reaches JSON and Protobuf SDKs as its value, with the next message', async () => {
  const json = await subscriber(JSON_SDK, 'pretty');
  const proto = await subscriber(PROTOBUF_SDK, 'pretty');
  // The raw body keeps the payload's line breaks (CRLF) exactly as a pretty-printing backend would send them.
  const body = `{"channel":"pretty","data":${PRETTY}}`;
  for (const data of [body, '{"channel":"pretty","data":{"after":true}}']) {
    const res = await fetch(`${s.url}/api/publish`, { method: 'POST', headers: { 'x-api-key': 'k' }, body: data });
    assert.equal(res.status, 200);
  }
  await waitFor(() => json.length === 2 && proto.length === 2, 'both publications on both SDKs');
  assert.deepEqual(json[0]?.data, VALUE, 'the JSON SDK parsed the pretty-printed payload');
  assert.deepEqual(json[1]?.data, { after: true }, 'and the message after it');
  assert.deepEqual(PROTOBUF_SDK.value(proto[0]?.data), VALUE, 'the Protobuf SDK got the same value');

  const history = await fetch(`${s.url}/api/history`, {
    method: 'POST',
    headers: { 'x-api-key': 'k' },
    body: '{"channel":"pretty","limit":2}',
  });
  const text = await history.text();
  assert.ok(!text.trimEnd().includes('\n'), 'the API answer is one line');
  assert.deepEqual(JSON.parse(text).result.publications[0].data, VALUE);
});

test("a Protobuf client's pretty-printed JSON bytes: JSON clients get the value, Protobuf clients the exact bytes", async () => {
  const json = await subscriber(JSON_SDK, 'pretty-proto');
  const proto = await subscriber(PROTOBUF_SDK, 'pretty-proto');
  const publisher = sdkClient(PROTOBUF_SDK, s.wsUrl);
  clients.push(publisher);
  publisher.connect();
  await publisher.ready(5000);
  const bytes = new TextEncoder().encode(PRETTY);
  await publisher.publish('pretty-proto', bytes);
  await waitFor(() => json.length === 1 && proto.length === 1, 'the publication on both SDKs');
  assert.deepEqual(json[0]?.data, VALUE, 'the JSON SDK parsed it');
  assert.ok(proto[0]?.data instanceof Uint8Array);
  assert.equal(Buffer.from(proto[0].data).toString('utf8'), PRETTY, 'the Protobuf SDK got the bytes as published');
});
