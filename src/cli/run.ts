import { main } from './main.js';

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`chorus: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
