/**
 * The official `centrifuge` SDK in each of its encodings, so one suite body runs once per encoding: the default
 * build speaks JSON, `centrifuge/build/protobuf` speaks Protobuf (binary frames, payloads as Uint8Array).
 *
 * Tests keep their payloads as application values (`{ text: 'hi' }`): `data()` turns one into what the
 * encoding's SDK publishes (the value itself for JSON; its JSON text as bytes for Protobuf) and `value()` turns
 * what the SDK handed the application back into the value. For JSON both are the identity, so a JSON run asserts
 * exactly what it asserted before; for Protobuf `value()` also checks that the SDK gave bytes.
 */
import assert from 'node:assert/strict';
import { Centrifuge as JsonCentrifuge, type Options } from 'centrifuge';
import { Centrifuge as ProtobufCentrifuge } from 'centrifuge/build/protobuf';
import WebSocket from 'ws';

export interface SdkEncoding {
  readonly name: 'json' | 'protobuf';
  /** The SDK's client class for this encoding. */
  readonly Centrifuge: typeof JsonCentrifuge;
  /** An application value as this encoding's SDK sends it (publish, rpc, send). */
  data(value: unknown): unknown;
  /** What the SDK handed the application (publication data, info, RPC result …) as the value it stands for. */
  value(data: unknown): unknown;
  /** Raw bytes as the SDK sends them (Protobuf only: JSON SDK payloads are values). */
  readonly binary: boolean;
}

export const JSON_SDK: SdkEncoding = {
  name: 'json',
  Centrifuge: JsonCentrifuge,
  binary: false,
  data: (value) => value,
  value: (data) => data,
};

export const PROTOBUF_SDK: SdkEncoding = {
  name: 'protobuf',
  Centrifuge: ProtobufCentrifuge as unknown as typeof JsonCentrifuge,
  binary: true,
  data: (value) => new TextEncoder().encode(JSON.stringify(value)),
  value: (data) => {
    if (data === undefined) return undefined;
    assert.ok(data instanceof Uint8Array, `the Protobuf SDK hands out bytes, got ${typeof data}`);
    // Protobuf cannot tell an empty bytes field from an absent one: the SDK gives an empty buffer for both.
    if (data.length === 0) return undefined;
    return JSON.parse(Buffer.from(data).toString('utf8'));
  },
};

export const SDK_ENCODINGS: readonly SdkEncoding[] = [JSON_SDK, PROTOBUF_SDK];

/** An SDK client of the given encoding, reconnecting fast (tests wait for reconnects). */
export function sdkClient(enc: SdkEncoding, url: string, opts: Partial<Options> = {}): JsonCentrifuge {
  return new enc.Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, ...opts });
}
