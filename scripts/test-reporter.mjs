// The test runner's spec output, with a summary that counts skipped suites: Node counts a skipped test but not a
// skipped describe (a suite skipped because nginx, Redis or Chromium is missing read "skipped 0"). The summary's
// "skipped" line counts both and each skipped suite is listed with its reason and file.
import { Readable } from 'node:stream';
import { spec } from 'node:test/reporters';

export default async function* report(source) {
  const skippedSuites = [];
  const skippedTests = [];
  async function* rewrite() {
    for await (const event of source) {
      const d = event.data;
      if ((event.type === 'test:pass' || event.type === 'test:fail') && d.skip !== undefined) {
        const what = { name: d.name, reason: typeof d.skip === 'string' ? d.skip : '', file: d.file ?? '' };
        if (d.details?.type === 'suite') skippedSuites.push(what);
        else skippedTests.push(what);
      }
      if (event.type === 'test:diagnostic' && /^skipped \d+$/.test(d.message)) {
        const total = skippedTests.length + skippedSuites.length;
        const message = `skipped ${total} (${skippedTests.length} tests, ${skippedSuites.length} suites)`;
        yield { ...event, data: { ...d, message } };
        continue;
      }
      yield event;
    }
  }
  for await (const chunk of Readable.from(rewrite()).pipe(new spec())) yield chunk;
  const cwd = `${process.cwd()}/`;
  for (const s of [...skippedSuites, ...skippedTests]) {
    const file = s.file.startsWith(cwd) ? s.file.slice(cwd.length) : s.file;
    yield `\u2139 skipped: ${s.name}${s.reason ? ` — ${s.reason}` : ''}${file ? ` (${file})` : ''}\n`;
  }
}
