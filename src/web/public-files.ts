/**
 * The built pages (dist/public): files next to the code in a package or a checkout, or assets inside the single
 * executable (`npm run build:binary` embeds them under "public/").
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getAsset, isSea } from 'node:sea';

/** A file of dist/public by its relative path ("index.html", "assets/chat.js"); rejects when there is none. */
export async function readPublicFile(file: string): Promise<Buffer> {
  if (isSea()) return Buffer.from(getAsset(`public/${file}`));
  // From src/web (tsx) and dist/web (compiled) alike: both sit two levels below the package root.
  return readFile(join(new URL('../../dist/public/', import.meta.url).pathname, file));
}
