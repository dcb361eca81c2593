/**
 * Guessing the admin password: failures are throttled per client address (5 per minute by default, then 429
 * with Retry-After, even for the right password), logged with the address, and a thousand guesses are refused
 * fast without the server slowing down. The throttle's window arithmetic is checked on a fake clock.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { addressKey, LoginThrottle } from '../../src/web/login-throttle.js';
import { rawRequest, type Served, serve } from './serve.js';

const PASSWORD = 'the-right-admin-password';
const ADMIN = { enabled: true, password: PASSWORD, secret: 'login-test-secret-long-enough-for-hs256' };

interface Answer {
  status: number;
  retryAfter?: string;
  body: string;
}

/** POST /admin/api/login over a keep-alive agent (a thousand requests without a thousand handshakes). */
function login(base: string, password: string, agent: Agent): Promise<Answer> {
  const u = new URL(base);
  const body = JSON.stringify({ password });
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: Number(u.port), path: '/admin/api/login', method: 'POST', agent },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string, body: text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('admin login throttle, on a real server', () => {
  let s: Served;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  before(async () => {
    s = await serve({ admin: ADMIN });
  });
  after(async () => {
    agent.destroy();
    await s.close();
  });

  test('1,000 wrong guesses: 5 are compared, 995 refused at once with 429 and Retry-After', async () => {
    const t0 = Date.now();
    const answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => login(s.url, `guess-${i}`, agent)));
    const elapsed = Date.now() - t0;
    const by = (status: number) => answers.filter((a) => a.status === status);
    assert.equal(by(401).length, 5, 'only admin.login_failure_limit guesses are ever compared');
    assert.equal(by(429).length, 995, `the rest are refused: ${JSON.stringify(answers.map((a) => a.status))}`);
    for (const a of by(429)) {
      const seconds = Number(a.retryAfter);
      assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= 60, `Retry-After in seconds: ${a.retryAfter}`);
      assert.match(JSON.parse(a.body).error.message, /too many failed logins from your address: try again in \d+ s/);
    }
    // Refusals cost nothing: the whole batch takes about one failure delay (400 ms), not 1,000 of them.
    assert.ok(elapsed < 5000, `1,000 guesses answered in ${elapsed} ms`);
  });

  test('while throttled, the right password is refused too', async () => {
    const r = await login(s.url, PASSWORD, agent);
    assert.equal(r.status, 429);
    assert.equal(JSON.parse(r.body).token, undefined);
  });

  test('failures and the start of the block are logged with the address, refusals are not (no log flood)', () => {
    const failed = s.log.lines.filter((l) => l.msg === 'admin login failed: wrong password');
    assert.equal(failed.length, 5);
    for (const l of failed) assert.equal(l.obj.address, '127.0.0.1');
    const blocked = s.log.lines.filter((l) => /failed attempts from this address/.test(l.msg));
    assert.equal(blocked.length, 1, 'one line when the block starts');
    assert.equal(blocked[0]?.obj.address, '127.0.0.1');
    assert.equal(blocked[0]?.level, 'warn');
    assert.ok(s.log.lines.length < 50, `log lines for 1,000 guesses: ${s.log.lines.length}`);
  });

  test('the server keeps serving other requests meanwhile', async () => {
    assert.equal((await rawRequest(s.url, '/health')).status, 200);
  });
});

describe('admin login throttle window', () => {
  test('after the window the right password is accepted again; a success clears the failures', async () => {
    const s = await serve({ admin: { ...ADMIN, login_failure_limit: 3, login_failure_window: '1s' } });
    const agent = new Agent({ keepAlive: true });
    try {
      const wrong = await Promise.all([1, 2, 3].map((i) => login(s.url, `wrong-${i}`, agent)));
      assert.deepEqual(
        wrong.map((a) => a.status),
        [401, 401, 401],
      );
      const refused = await login(s.url, PASSWORD, agent);
      assert.equal(refused.status, 429, 'the right password is refused while throttled');
      assert.equal(refused.retryAfter, '1');
      await new Promise((r) => setTimeout(r, Number(refused.retryAfter) * 1000 + 100));
      const ok = await login(s.url, PASSWORD, agent);
      assert.equal(ok.status, 200, `accepted after the window: ${ok.body}`);
      assert.ok(JSON.parse(ok.body).token, 'a token');
      // The success cleared the failures: three more wrong guesses are compared again.
      const again = await Promise.all([4, 5, 6].map((i) => login(s.url, `wrong-${i}`, agent)));
      assert.deepEqual(
        again.map((a) => a.status),
        [401, 401, 401],
      );
    } finally {
      agent.destroy();
      await s.close();
    }
  });

  test('admin.login_failure_limit 0 turns the throttle off (documented as not recommended)', async () => {
    const s = await serve({ admin: { ...ADMIN, login_failure_limit: 0 } });
    const agent = new Agent({ keepAlive: true });
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => login(s.url, `w${i}`, agent)));
      assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([401]));
    } finally {
      agent.destroy();
      await s.close();
    }
  });
});

describe('LoginThrottle on a fake clock', () => {
  test('a sliding window: the oldest failure leaving the window lets one more attempt through', () => {
    let t = 0;
    const th = new LoginThrottle(3, 60_000, () => t);
    assert.equal(th.retryAfter('1.2.3.4'), 0);
    assert.equal(th.fail('1.2.3.4'), false);
    t = 10_000;
    assert.equal(th.fail('1.2.3.4'), false);
    t = 20_000;
    assert.equal(th.fail('1.2.3.4'), true, 'the third failure starts the block');
    assert.equal(th.retryAfter('1.2.3.4'), 40_000, 'until the first failure is a minute old');
    assert.equal(th.retryAfter('5.6.7.8'), 0, 'another address is not affected');
    t = 60_000;
    assert.equal(th.retryAfter('1.2.3.4'), 0);
    assert.equal(th.fail('1.2.3.4'), true, 'blocked again at once');
    assert.equal(th.retryAfter('1.2.3.4'), 10_000);
    th.succeed('1.2.3.4');
    assert.equal(th.retryAfter('1.2.3.4'), 0);
  });

  test('IPv6 counts per /64, IPv4-mapped as IPv4', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('::ffff:10.0.0.7'), '10.0.0.7');
    assert.equal(addressKey('10.0.0.7'), '10.0.0.7');
    const th = new LoginThrottle(2, 60_000, () => 0);
    th.fail('2001:db8:1:2::1');
    th.fail('2001:db8:1:2::99');
    assert.ok(th.retryAfter('2001:db8:1:2:dead:beef::7') > 0, 'another address of the same /64 is throttled');
    assert.equal(th.retryAfter('2001:db8:1:3::1'), 0, 'the next /64 is not');
  });

  test('the table stays bounded: expired entries go first, then the oldest', () => {
    let t = 0;
    const th = new LoginThrottle(5, 1000, () => t, 100);
    for (let i = 0; i < 100; i++) th.fail(`10.0.${i >> 8}.${i & 255}`);
    assert.equal(th.size, 100);
    t = 5000;
    th.fail('192.0.2.1');
    assert.equal(th.size, 1, 'expired entries swept');
    for (let i = 0; i < 500; i++) th.fail(`10.1.${i >> 8}.${i & 255}`);
    assert.ok(th.size <= 100, `bounded: ${th.size}`);
  });
});
