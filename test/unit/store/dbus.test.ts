import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  messageLength,
  MessageType,
  splitSignature,
  type DbusValue,
} from '../../../src/store/dbus.js';

// The wire format against itself here; against a real dbus-daemon and gnome-keyring (which reject a
// malformed message by disconnecting) in test/integration/keychain.test.ts.

const PATH = 1;
const MEMBER = 3;

function roundTrip(signature: string, body: DbusValue[]): DbusValue[] {
  const bytes = encodeMessage(
    MessageType.MethodCall,
    7,
    [
      [PATH, 'o', '/org/freedesktop/secrets'],
      [MEMBER, 's', 'Call'],
    ],
    signature,
    body,
  );
  expect(messageLength(bytes)).toBe(bytes.length);
  const message = decodeMessage(bytes);
  expect(message).toMatchObject({
    type: MessageType.MethodCall,
    serial: 7,
    signature,
    path: '/org/freedesktop/secrets',
    member: 'Call',
  });
  expect(message.interface).toBeUndefined();
  return message.body;
}

describe('D-Bus signatures', () => {
  it.each([
    ['', []],
    ['s', ['s']],
    ['sa{sv}(oayays)b', ['s', 'a{sv}', '(oayays)', 'b']],
    ['aoao', ['ao', 'ao']],
    ['a{o(oayays)}', ['a{o(oayays)}']],
    ['a(yv)', ['a(yv)']],
  ])('splits %j into complete types', (signature, types) => {
    expect(splitSignature(signature)).toEqual(types);
  });

  it.each(['(s', 'a', 'z', 'a{s'])('refuses the malformed or unsupported %j', (signature) => {
    expect(() => splitSignature(signature)).toThrow(/signature/);
  });
});

describe('D-Bus messages', () => {
  it('carries every call the Secret Service client makes, unchanged', () => {
    const secret = ['/org/freedesktop/secrets/session/s1', Buffer.alloc(0), Buffer.from('päss ✓'), 'text/plain'];
    const properties = [
      ['org.freedesktop.Secret.Item.Label', { signature: 's', value: 'keyring:prod@datablast-aws' }],
      [
        'org.freedesktop.Secret.Item.Attributes',
        {
          signature: 'a{ss}',
          value: [
            ['service', 'datablast-aws'],
            ['username', 'prod'],
          ],
        },
      ],
    ];
    expect(roundTrip('a{sv}(oayays)b', [properties, secret, true])).toEqual([properties, secret, true]);
    expect(roundTrip('sv', ['plain', { signature: 's', value: '' }])).toEqual(['plain', { signature: 's', value: '' }]);
    expect(roundTrip('aoo', [['/a/1', '/a/2'], '/s'])).toEqual([['/a/1', '/a/2'], '/s']);
    expect(roundTrip('a{o(oayays)}', [[['/a/1', secret]]])).toEqual([[['/a/1', secret]]]);
    expect(roundTrip('aoao', [[], []])).toEqual([[], []]);
  });

  it('keeps every value of every basic type, at every alignment', () => {
    const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
    const text = fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(
        fc.tuple(
          fc.integer({ min: 0, max: 255 }),
          fc.boolean(),
          fc.integer({ min: -32768, max: 32767 }),
          u32,
          fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          fc.double({ noNaN: true }),
          text,
        ),
        fc.uint8Array({ maxLength: 40 }),
        fc.array(fc.tuple(text, text), { maxLength: 5 }),
        ([y, b, n, u, t, d, s], bytes, dict) => {
          const body: DbusValue[] = [y, b, n, u, t, d, s, Buffer.from(bytes), dict, { signature: 'at', value: [t, t] }];
          expect(roundTrip('ybnutdsaya{ss}v', body)).toEqual(body);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('says nothing about a message until its fixed header has arrived', () => {
    const bytes = encodeMessage(
      MessageType.MethodCall,
      1,
      [
        [PATH, 'o', '/'],
        [MEMBER, 's', 'Hello'],
      ],
      '',
      [],
    );
    expect(messageLength(bytes.subarray(0, 15))).toBeUndefined();
    expect(messageLength(bytes.subarray(0, 16))).toBe(bytes.length);
  });

  it('refuses a message cut short, or with an unknown byte order', () => {
    const bytes = encodeMessage(
      MessageType.MethodCall,
      1,
      [
        [PATH, 'o', '/'],
        [MEMBER, 's', 'Get'],
      ],
      's',
      ['x'.repeat(40)],
    );
    expect(() => decodeMessage(bytes.subarray(0, bytes.length - 10))).toThrow(/ended early/);
    const unknownOrder = Buffer.from(bytes);
    unknownOrder[0] = 0x3f;
    expect(() => decodeMessage(unknownOrder)).toThrow(/byte order/);
  });

  it('refuses to write a value of the wrong type, naming the D-Bus type', () => {
    expect(() => encodeMessage(MessageType.MethodCall, 1, [], 's', [42])).toThrow(/as D-Bus type s/);
    expect(() => encodeMessage(MessageType.MethodCall, 1, [], '(ss)', [['one']])).toThrow(/as D-Bus type \(ss\)/);
  });

  it('refuses a byte or uint32 out of its range, and a signature over 255 bytes, instead of writing it truncated', () => {
    for (const [type, value] of [
      ['y', 256],
      ['y', -1],
      ['y', 1.5],
      ['u', 2 ** 32],
      ['u', -1],
      ['h', 0.5],
    ] as const) {
      expect(() => encodeMessage(MessageType.MethodCall, 1, [], type, [value])).toThrow(
        new RegExp(`as D-Bus type ${type}`),
      );
    }
    expect(() => encodeMessage(MessageType.MethodCall, 1, [], 'g', ['s'.repeat(256)])).toThrow(/longer than 255 bytes/);
    expect(decodeMessage(encodeMessage(MessageType.MethodCall, 1, [], 'g', ['s'.repeat(255)])).body).toEqual([
      's'.repeat(255),
    ]);
  });
});
