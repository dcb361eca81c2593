/**
 * A publication that arrives already encoded (from a shared store or another node). Fan-out only needs its JSON
 * and offset, so nothing is parsed on the hot path; the fields are decoded on first access, payloads kept as raw
 * JSON text.
 */
import { rawValueAt } from './raw-json.js';
import type { ClientInfo, Publication } from './types.js';

export class EncodedPublication implements Publication {
  private parsed: Record<string, unknown> | undefined;

  constructor(
    readonly encoded: string,
    readonly offset: number,
  ) {}

  private get fields(): Record<string, unknown> {
    this.parsed ??= JSON.parse(this.encoded) as Record<string, unknown>;
    return this.parsed;
  }

  get data(): string {
    return rawValueAt(this.encoded, ['data']) ?? 'null';
  }

  get info(): ClientInfo | undefined {
    const info = this.fields.info as { user?: string; client?: string } | undefined;
    if (info === undefined) return undefined;
    return {
      user: info.user ?? '',
      client: info.client ?? '',
      connInfo: rawValueAt(this.encoded, ['info', 'conn_info']),
      chanInfo: rawValueAt(this.encoded, ['info', 'chan_info']),
    };
  }

  get tags(): Record<string, string> | undefined {
    return this.fields.tags as Record<string, string> | undefined;
  }

  get time(): number | undefined {
    return this.fields.time as number | undefined;
  }
}
