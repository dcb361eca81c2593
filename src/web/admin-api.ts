/**
 * The admin page's API under /admin/api (login, live state, actions). Placeholder: the admin work fills it in.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Node } from '../core/node.js';

export interface AdminApi {
  /** Handles /admin/api/* requests; false when the path is not the admin API's. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

export function createAdminApi(_node: Node): AdminApi {
  return {
    async handle() {
      return false;
    },
  };
}
