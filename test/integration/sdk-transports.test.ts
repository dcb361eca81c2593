/**
 * The SDK suite (sdk-suite.ts) over each transport the `centrifuge` SDK offers: WebSocket, and the fallbacks
 * HTTP-streaming and SSE with bidirectional emulation. Each run uses that transport only.
 */
import { describe } from 'node:test';
import { TRANSPORTS } from '../helpers/transports.js';
import { sdkSuite } from './sdk-suite.js';

for (const transport of TRANSPORTS) {
  describe(`SDK over ${transport}`, () => sdkSuite(transport));
}
