#!/usr/bin/env node
// Empties dist/ before a build, so that a file removed from src/ does not live on in a packed package.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
