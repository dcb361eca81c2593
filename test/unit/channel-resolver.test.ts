import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { ChannelResolver, type ResolvedChannel } from '../../src/core/channel-resolver.js';

function resolver(channel: Record<string, unknown> = {}): ChannelResolver {
  const { config } = loadConfig({ base: { channel } });
  return new ChannelResolver(config.channel);
}

/** Resolves a channel that must resolve. */
function must(r: ChannelResolver, channel: string): ResolvedChannel {
  const res = r.resolve(channel);
  assert.ok(res !== undefined, `${channel} should resolve`);
  return res;
}

const standard = () =>
  resolver({
    without_namespace: { presence: true },
    namespaces: [
      { name: 'chat', history_size: 10, history_ttl: '60s' },
      { name: 'dialog', allow_user_limited_channels: true },
      { name: 'ns', join_leave: true },
    ],
  });

describe('ChannelResolver.resolve', () => {
  test('a channel without namespace gets the without_namespace options', () => {
    const r = standard();
    const res = must(r, 'news');
    assert.equal(res.namespace, '');
    assert.equal(res.rest, 'news');
    assert.equal(res.options.presence, true);
    assert.equal(res.options.history_size, 0);
    assert.equal(res.isPrivate, false);
    assert.equal(res.isUserLimited, false);
  });

  test('ns:rest resolves the namespace and its options', () => {
    const r = standard();
    const chat = must(r, 'chat:room1');
    assert.equal(chat.namespace, 'chat');
    assert.equal(chat.rest, 'room1');
    assert.equal(chat.options.history_size, 10);
    assert.equal(chat.options.history_ttl, 60_000);
    assert.equal(chat.options.presence, false, 'namespace options are not mixed with without_namespace');
    assert.equal(chat.isPrivate, false);
    const ns = must(r, 'ns:x');
    assert.equal(ns.namespace, 'ns');
    assert.equal(ns.options.join_leave, true);
    assert.equal(ns.options.history_size, 0);
  });

  test('only the first boundary separates the namespace', () => {
    const res = must(standard(), 'chat:a:b:c');
    assert.equal(res.namespace, 'chat');
    assert.equal(res.rest, 'a:b:c');
  });

  test('an empty rest after the namespace still resolves', () => {
    const res = must(standard(), 'chat:');
    assert.equal(res.namespace, 'chat');
    assert.equal(res.rest, '');
  });

  test('an unknown namespace resolves to undefined', () => {
    const r = standard();
    assert.equal(r.resolve('unknown:x'), undefined);
    assert.equal(r.resolve('$unknown:x'), undefined);
    assert.equal(r.resolve('Chat:x'), undefined, 'namespace names are case-sensitive');
  });

  test('an empty namespace name (":x") falls back to without_namespace, as in Centrifugo', {}, () => {
    const res = must(standard(), ':x');
    assert.equal(res.namespace, '');
    assert.equal(res.options.presence, true);
  });

  test('namespaces are resolved per configuration: none configured means every ns: is unknown', () => {
    const r = resolver();
    assert.equal(r.resolve('chat:room'), undefined);
    assert.ok(r.resolve('room') !== undefined, "r.resolve('room') !== undefined");
  });

  test('the private prefix $ marks a channel private without a namespace', () => {
    const res = must(standard(), '$secret');
    assert.equal(res.isPrivate, true);
    assert.equal(res.namespace, '');
    assert.equal(res.options.presence, true);
    // As in Centrifugo, the rest of a channel without namespace is the whole channel.
    assert.equal(res.rest, '$secret');
  });

  test('$ns:x resolves namespace ns and is private', () => {
    const res = must(standard(), '$chat:room');
    assert.equal(res.isPrivate, true);
    assert.equal(res.namespace, 'chat');
    assert.equal(res.rest, 'room');
    assert.equal(res.options.history_size, 10);
  });

  test('$ only counts as a prefix', () => {
    const r = standard();
    const res = must(r, 'chat:$room');
    assert.equal(res.isPrivate, false);
    assert.equal(res.namespace, 'chat');
    assert.equal(must(r, 'a$b').isPrivate, false);
  });

  test('a custom private prefix and namespace boundary', () => {
    const r = resolver({
      private_prefix: 'priv-',
      namespace_boundary: '/',
      namespaces: [{ name: 'chat' }],
    });
    const res = must(r, 'priv-chat/room');
    assert.equal(res.isPrivate, true);
    assert.equal(res.namespace, 'chat');
    assert.equal(res.rest, 'room');
    // With the default characters no longer special:
    const plain = must(r, '$chat:room');
    assert.equal(plain.isPrivate, false);
    assert.equal(plain.namespace, '');
  });

  test('an empty private prefix disables private channels; an empty boundary disables namespaces', () => {
    const r = resolver({ private_prefix: '', namespace_boundary: '', namespaces: [{ name: 'chat' }] });
    const res = must(r, '$chat:room');
    assert.equal(res.isPrivate, false);
    assert.equal(res.namespace, '');
    assert.equal(res.rest, '$chat:room');
  });

  test('user-limited channels (dialog#1,2) only where allow_user_limited_channels is set', () => {
    const r = standard();
    const dialog = must(r, 'dialog:room#1,2');
    assert.equal(dialog.isUserLimited, true);
    assert.equal(dialog.namespace, 'dialog');
    assert.equal(dialog.rest, 'room#1,2');
    assert.equal(must(r, 'chat:room#1,2').isUserLimited, false);
    assert.equal(must(r, 'dialog#1,2').isUserLimited, false, 'without_namespace does not allow them here');
    assert.equal(must(r, 'dialog:room').isUserLimited, false, 'no # means not user-limited');
  });

  test('user-limited channels without a namespace', () => {
    const r = resolver({ without_namespace: { allow_user_limited_channels: true } });
    const res = must(r, 'dialog#1,2');
    assert.equal(res.isUserLimited, true);
    assert.equal(res.isPrivate, false);
    assert.equal(must(r, 'dialog').isUserLimited, false);
  });

  test('an empty user boundary disables user-limited channels', () => {
    const r = resolver({ user_boundary: '', without_namespace: { allow_user_limited_channels: true } });
    assert.equal(must(r, 'dialog#1,2').isUserLimited, false);
  });
});

describe('ChannelResolver.userAllowed', () => {
  test('users named after # are allowed, others are not', () => {
    const r = standard();
    assert.equal(r.userAllowed('dialog#1,2', '1'), true);
    assert.equal(r.userAllowed('dialog#1,2', '2'), true);
    assert.equal(r.userAllowed('dialog#1,2', '3'), false);
    assert.equal(r.userAllowed('dialog#1,2', ''), false);
    assert.equal(r.userAllowed('dialog#1,2', '1,2'), false, 'the list is split, not compared whole');
    assert.equal(r.userAllowed('dialog:room#42', '42'), true);
    assert.equal(r.userAllowed('dialog:room#42', '4'), false);
  });

  test('only the part after the last # lists users', () => {
    const r = standard();
    assert.equal(r.userAllowed('a#x#7,8', '8'), true);
    assert.equal(r.userAllowed('a#x#7,8', '7'), true);
    assert.equal(r.userAllowed('a#x#7,8', 'x'), false);
  });

  test('a channel without # allows everyone', () => {
    const r = standard();
    assert.equal(r.userAllowed('dialog:room', 'anyone'), true);
    assert.equal(r.userAllowed('news', ''), true);
  });

  test('custom user boundary and separator', () => {
    const r = resolver({ user_boundary: '@', user_separator: ';' });
    assert.equal(r.userAllowed('dialog@alice;bob', 'bob'), true);
    assert.equal(r.userAllowed('dialog@alice;bob', 'alice'), true);
    assert.equal(r.userAllowed('dialog@alice;bob', 'carol'), false);
    assert.equal(r.userAllowed('dialog@alice,bob', 'bob'), false, 'the default separator no longer splits');
    assert.equal(r.userAllowed('dialog#1,2', '3'), true, 'the default boundary is no longer special');
  });

  test('an empty separator means exactly one user', () => {
    const r = resolver({ user_separator: '' });
    assert.equal(r.userAllowed('dialog#1,2', '1,2'), true);
    assert.equal(r.userAllowed('dialog#1,2', '1'), false);
  });

  test('an empty user boundary allows everyone', () => {
    const r = resolver({ user_boundary: '' });
    assert.equal(r.userAllowed('dialog#1,2', '3'), true);
  });
});

describe('ChannelResolver.validName', () => {
  const valid = (r: ChannelResolver, ch: string) => r.validName(ch, must(r, ch));

  test('channel_regex is matched against the part after the namespace', () => {
    const r = resolver({ namespaces: [{ name: 'rooms', channel_regex: '^[a-z]+$' }] });
    assert.equal(valid(r, 'rooms:lobby'), true);
    assert.equal(valid(r, '$rooms:lobby'), true, 'neither the prefix nor the namespace are part of what is matched');
    assert.equal(valid(r, 'rooms:Lobby'), false);
    assert.equal(valid(r, 'rooms:lobby1'), false);
    assert.equal(valid(r, 'rooms:'), false);
  });

  test('a namespace regex does not apply to other namespaces or to channels without namespace', () => {
    const r = resolver({ namespaces: [{ name: 'rooms', channel_regex: '^[a-z]+$' }, { name: 'free' }] });
    assert.equal(valid(r, 'free:ANY_thing-1'), true);
    assert.equal(valid(r, 'UPPER'), true);
  });

  test('channel_regex on without_namespace', () => {
    const r = resolver({ without_namespace: { channel_regex: '^user_\\d+$' } });
    assert.equal(valid(r, 'user_42'), true);
    assert.equal(valid(r, 'user_x'), false);
  });

  test('a regex replaces the ASCII rule: it can allow non-ASCII names', () => {
    const r = resolver({ namespaces: [{ name: 'intl', channel_regex: '^[а-я]+$' }] });
    assert.equal(valid(r, 'intl:новости'), true);
    assert.equal(valid(r, 'intl:news'), false);
  });

  test('a Go (RE2) Unicode class in channel_regex works as in Centrifugo', {}, () => {
    const r = resolver({ namespaces: [{ name: 'intl', channel_regex: '^\\p{L}+$' }] });
    assert.equal(valid(r, 'intl:новости'), true);
    assert.equal(valid(r, 'intl:abc'), true);
  });

  test('without a regex only ASCII is allowed (non-ASCII rejected)', () => {
    const r = resolver({ namespaces: [{ name: 'chat' }] });
    assert.equal(valid(r, 'news'), true);
    assert.equal(valid(r, 'chat:room-1_2.3~!@%^&*()'), true);
    assert.equal(valid(r, 'chat:\u007f'), true, 'DEL is still ASCII');
    assert.equal(valid(r, 'chat:café'), false);
    assert.equal(valid(r, 'новости'), false);
    assert.equal(valid(r, 'emoji😀'), false);
    assert.equal(valid(r, '$chat:\u0080'), false);
  });
});
