import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DbusError,
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

// Issue 12 §9: generated signatures with values of their type survive encode → decode; and bytes off
// the socket, whatever they are, end in the codec's own error (never a RangeError or a TypeError of
// the Buffer underneath), within a bound.
describe('D-Bus codec properties', () => {
  type Typed = { signature: string; value: DbusValue };
  const text = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\0'));
  const objectPath = fc
    .array(fc.stringMatching(/^[A-Za-z0-9_]{1,8}$/), { maxLength: 3 })
    .map((parts) => `/${parts.join('/')}`);
  const basic: fc.Arbitrary<Typed>[] = [
    fc.integer({ min: 0, max: 255 }).map((value) => ({ signature: 'y', value })),
    fc.boolean().map((value) => ({ signature: 'b', value })),
    fc.integer({ min: -32768, max: 32767 }).map((value) => ({ signature: 'n', value })),
    fc.integer({ min: 0, max: 65535 }).map((value) => ({ signature: 'q', value })),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ signature: 'i', value })),
    fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((value) => ({ signature: 'u', value })),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((value) => ({ signature: 'x', value })),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((value) => ({ signature: 't', value })),
    fc.double({ noNaN: true }).map((value) => ({ signature: 'd', value })),
    text.map((value) => ({ signature: 's', value })),
    objectPath.map((value) => ({ signature: 'o', value })),
  ];
  /** A type and a generator of its values, nested up to `depth` containers. */
  const typeOf = (depth: number): fc.Arbitrary<{ signature: string; values: fc.Arbitrary<DbusValue> }> => {
    const basicType = fc.constantFrom(...basic.map((_, i) => i)).map((i) => ({
      signature: ['y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'o'][i]!,
      values: basic[i]!.map((typed) => typed.value),
    }));
    if (depth === 0) return basicType;
    const inner = typeOf(depth - 1);
    return fc.oneof(
      { weight: 3, arbitrary: basicType },
      inner.map((t) => ({
        signature: `a${t.signature}`,
        values:
          t.signature === 'y'
            ? fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes) as DbusValue)
            : fc.array(t.values, { maxLength: 3 }),
      })),
      fc.array(inner, { minLength: 1, maxLength: 3 }).map((members) => ({
        signature: `(${members.map((m) => m.signature).join('')})`,
        values: fc.tuple(...members.map((m) => m.values)) as fc.Arbitrary<DbusValue>,
      })),
      fc.tuple(basicType, inner).map(([k, v]) => ({
        signature: `a{${k.signature}${v.signature}}`,
        values: fc.array(fc.tuple(k.values, v.values), { maxLength: 3 }) as fc.Arbitrary<DbusValue>,
      })),
      inner.map((t) => ({
        signature: 'v',
        values: t.values.map((value) => ({ signature: t.signature, value }) as DbusValue),
      })),
    );
  };
  const typedBody = fc
    .array(typeOf(3), { minLength: 1, maxLength: 4 })
    .chain((types) =>
      fc
        .tuple(...types.map((t) => t.values))
        .map((body) => ({ signature: types.map((t) => t.signature).join(''), body: body as DbusValue[] })),
    )
    .filter(({ signature }) => signature.length <= 255);

  it('keeps generated signatures and values unchanged through encode and decode', () => {
    fc.assert(
      fc.property(typedBody, ({ signature, body }) => {
        expect(splitSignature(signature).join('')).toBe(signature);
        expect(roundTrip(signature, body)).toEqual(body);
        // A signature is a value too ('g').
        expect(roundTrip('g', [signature])).toEqual([signature]);
      }),
      { numRuns: 400 },
    );
  });

  /** Decodes `bytes` as the connection does; anything thrown must be the codec's own DbusError. */
  function decodeOrDbusError(bytes: Buffer): void {
    const started = performance.now();
    try {
      const length = messageLength(bytes);
      if (length !== undefined) decodeMessage(bytes);
    } catch (error) {
      expect(error, String(error)).toBeInstanceOf(DbusError);
    }
    expect(performance.now() - started).toBeLessThan(200);
  }

  it('meets arbitrary bytes with its own error only, in bounded time', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => decodeOrDbusError(Buffer.from(bytes))),
      { numRuns: 2000 },
    );
  });

  it('meets a valid message with bytes changed, cut or appended with its own error only, in bounded time', () => {
    fc.assert(
      fc.property(
        typedBody,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        ({ signature, body }, changes, cut) => {
          const bytes = encodeMessage(MessageType.MethodReturn, 3, [[5, 'u', 1]], signature, body);
          for (const [at, byte] of changes) bytes[at % bytes.length] = byte;
          decodeOrDbusError(bytes);
          decodeOrDbusError(bytes.subarray(0, cut % (bytes.length + 1)));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
