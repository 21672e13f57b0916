import { connect, type Socket } from 'node:net';

// A small D-Bus client over the session bus's Unix socket: EXTERNAL authentication, method calls with
// a deadline each, and the marshalling of the types the Secret Service API uses. It replaces libdbus
// (through @napi-rs/keyring) on Linux: no native library to load, one connection a process instead of
// one an entry, and no synchronous connect that can block the event loop on a frozen bus.

/** A D-Bus value as this module passes it: see `marshal` for which JS type each D-Bus type takes. */
export type DbusValue =
  number | bigint | boolean | string | Buffer | Variant | DbusValue[] | Array<[DbusValue, DbusValue]>;

/** A variant: its signature and its value. */
export interface Variant {
  signature: string;
  value: DbusValue;
}

/** An error reply (`name` is the D-Bus error name), or a failure of the connection itself. */
export class DbusError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a call names. */
export interface MethodCall {
  destination: string;
  path: string;
  interface: string;
  member: string;
  /** The body's signature, '' for none. */
  signature?: string;
  body?: DbusValue[];
}

/** The message types of the D-Bus specification. */
export const MessageType = { MethodCall: 1, MethodReturn: 2, Error: 3, Signal: 4 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** The header fields this client writes or reads. */
const Field = { Path: 1, Interface: 2, Member: 3, ErrorName: 4, ReplySerial: 5, Destination: 6, Signature: 8 } as const;
type Field = (typeof Field)[keyof typeof Field];

// ---------------------------------------------------------------------------------------------
// Signatures

/** The end (exclusive) of the single complete type that starts at `start` in `signature`. */
function completeTypeEnd(signature: string, start: number): number {
  const code = signature[start];
  if (code === 'a') return completeTypeEnd(signature, start + 1);
  if (code === '(' || code === '{') {
    const close = code === '(' ? ')' : '}';
    let i = start + 1;
    while (signature[i] !== close) {
      if (i >= signature.length)
        throw new DbusError('datablast.BadSignature', `unterminated signature ${JSON.stringify(signature)}`);
      i = completeTypeEnd(signature, i);
    }
    return i + 1;
  }
  if (code === undefined || !'ybnqiuxtdsogvh'.includes(code))
    throw new DbusError('datablast.BadSignature', `unsupported signature ${JSON.stringify(signature)}`);
  return start + 1;
}

const splitCache = new Map<string, string[]>();

/** The complete types of a signature: "sa{sv}" → ["s", "a{sv}"]. */
export function splitSignature(signature: string): string[] {
  let types = splitCache.get(signature);
  if (types === undefined) {
    types = splitUncached(signature);
    splitCache.set(signature, types);
  }
  return types;
}

function splitUncached(signature: string): string[] {
  const types: string[] = [];
  for (let i = 0; i < signature.length;) {
    const end = completeTypeEnd(signature, i);
    types.push(signature.slice(i, end));
    i = end;
  }
  return types;
}

function alignmentOf(type: string): number {
  switch (type[0]) {
    case 'y':
    case 'g':
    case 'v':
      return 1;
    case 'n':
    case 'q':
      return 2;
    case 'x':
    case 't':
    case 'd':
    case '(':
    case '{':
      return 8;
    default:
      return 4;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing (always little-endian)

class Writer {
  // Unzeroed: every byte up to `length` is written (padding explicitly), and nothing past it is read.
  private buffer = Buffer.allocUnsafe(512);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + n));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  // The hot paths below store bytes by index: Node's checked writeUInt*/fill calls cost about ten
  // times as much in a short-lived process, where this code never leaves the interpreter.
  align(n: number): void {
    const padding = (n - (this.length % n)) % n;
    if (padding === 0) return;
    this.room(padding);
    for (let i = 0; i < padding; i++) this.buffer[this.length++] = 0;
  }

  byte(value: number): void {
    this.room(1);
    this.buffer[this.length++] = value;
  }

  uint32(value: number): void {
    this.align(4);
    this.room(4);
    const b = this.buffer;
    let at = this.length;
    b[at++] = value & 0xff;
    b[at++] = (value >>> 8) & 0xff;
    b[at++] = (value >>> 16) & 0xff;
    b[at++] = value >>> 24;
    this.length = at;
  }

  /** A string's UTF-8 bytes after a length of `lengthBytes` (4 for s and o, 1 for g), then a NUL. */
  text(value: string, lengthBytes: 1 | 4): void {
    if (lengthBytes === 4) this.uint32(0);
    else this.byte(0);
    // At most 3 bytes per UTF-16 unit, so one write fits, and it reports its own length.
    this.room(value.length * 3 + 1);
    const written = this.buffer.write(value, this.length, 'utf8');
    if (lengthBytes === 4) this.patchUint32(this.length - 4, written);
    else if (written > 255) throw new DbusError('datablast.BadValue', 'a D-Bus signature is longer than 255 bytes');
    else this.buffer[this.length - 1] = written;
    this.length += written;
    this.buffer[this.length++] = 0;
  }

  bytes(value: Buffer): void {
    this.room(value.length);
    value.copy(this.buffer, this.length);
    this.length += value.length;
  }

  /** Overwrites a uint32 written earlier (an array's length, once its elements are known). */
  patchUint32(offset: number, value: number): void {
    const b = this.buffer;
    b[offset] = value & 0xff;
    b[offset + 1] = (value >>> 8) & 0xff;
    b[offset + 2] = (value >>> 16) & 0xff;
    b[offset + 3] = value >>> 24;
  }

  result(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  value(type: string, value: DbusValue): void {
    const fail = (): never => badValue(type, value);
    switch (type[0]) {
      case 'y':
        if (!isInteger(value, 0, 0xff)) fail();
        this.byte(value as number);
        return;
      case 'b':
        if (typeof value !== 'boolean') fail();
        this.uint32(value ? 1 : 0);
        return;
      case 'n':
      case 'q':
        if (typeof value !== 'number') fail();
        this.align(2);
        this.room(2);
        if (type === 'n') this.buffer.writeInt16LE(value as number, this.length);
        else this.buffer.writeUInt16LE(value as number, this.length);
        this.length += 2;
        return;
      case 'i':
        if (typeof value !== 'number') fail();
        this.align(4);
        this.room(4);
        this.buffer.writeInt32LE(value as number, this.length);
        this.length += 4;
        return;
      case 'u':
      case 'h':
        if (!isInteger(value, 0, 0xffffffff)) fail();
        this.uint32(value as number);
        return;
      case 'x':
      case 't':
        this.align(8);
        this.room(8);
        if (type === 'x') this.buffer.writeBigInt64LE(BigInt(value as number | bigint), this.length);
        else this.buffer.writeBigUInt64LE(BigInt(value as number | bigint), this.length);
        this.length += 8;
        return;
      case 'd':
        if (typeof value !== 'number') fail();
        this.align(8);
        this.room(8);
        this.buffer.writeDoubleLE(value as number, this.length);
        this.length += 8;
        return;
      case 's':
      case 'o':
        if (typeof value !== 'string') fail();
        this.text(value as string, 4);
        return;
      case 'g':
        if (typeof value !== 'string') fail();
        this.text(value as string, 1);
        return;
      case 'v': {
        const variant = value as Variant;
        if (typeof variant !== 'object' || variant === null || typeof variant.signature !== 'string') fail();
        this.value('g', variant.signature);
        this.value(variant.signature, variant.value);
        return;
      }
      case 'a': {
        const element = type.slice(1);
        this.uint32(0);
        const lengthAt = this.length - 4;
        this.align(alignmentOf(element));
        const start = this.length;
        if (element === 'y') {
          if (!Buffer.isBuffer(value)) fail();
          this.bytes(value as Buffer);
        } else {
          if (!Array.isArray(value)) fail();
          for (const item of value as DbusValue[]) this.value(element, item);
        }
        this.patchUint32(lengthAt, this.length - start);
        return;
      }
      case '(':
      case '{': {
        if (!Array.isArray(value)) fail();
        this.align(8);
        const fields = splitSignature(type.slice(1, -1));
        if ((value as DbusValue[]).length !== fields.length) fail();
        fields.forEach((field, i) => this.value(field, (value as DbusValue[])[i]!));
        return;
      }
      default:
        fail();
    }
  }
}

function badValue(type: string, value: DbusValue): never {
  throw new DbusError('datablast.BadValue', `cannot write ${typeof value} as D-Bus type ${type}`);
}

function isInteger(value: DbusValue, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** A message's bytes: header, then body. */
export function encodeMessage(
  type: MessageType,
  serial: number,
  fields: Array<[number, string, DbusValue]>,
  signature: string,
  body: DbusValue[],
): Buffer {
  // One buffer: the header with the body's length left at 0, then the body, then that length.
  const writer = new Writer();
  writer.byte(0x6c); // 'l': little-endian
  writer.byte(type);
  writer.byte(0);
  writer.byte(1);
  writer.uint32(0);
  writer.uint32(serial);
  // The header fields, a(yv), written directly: the generic path costs a variant object per field.
  writer.uint32(0);
  const fieldsStart = writer.length;
  for (const [code, type, value] of fields) {
    writer.align(8);
    writer.byte(code);
    writer.text(type, 1);
    writer.value(type, value);
  }
  if (signature) {
    writer.align(8);
    writer.byte(Field.Signature);
    writer.text('g', 1);
    writer.text(signature, 1);
  }
  writer.patchUint32(fieldsStart - 4, writer.length - fieldsStart);
  writer.align(8);
  const bodyStart = writer.length;
  const types = splitSignature(signature);
  for (let i = 0; i < types.length; i++) writer.value(types[i]!, body[i]!);
  writer.patchUint32(4, writer.length - bodyStart);
  return writer.result();
}

// ---------------------------------------------------------------------------------------------
// Reading

class Reader {
  offset: number;
  constructor(
    private readonly buffer: Buffer,
    private readonly littleEndian: boolean,
    offset = 0,
    /** Where alignment counts from (the message's first byte). */
    private readonly origin = 0,
  ) {
    this.offset = offset;
  }

  align(n: number): void {
    const relative = this.offset - this.origin;
    this.offset += (n - (relative % n)) % n;
  }

  need(n: number): void {
    if (this.offset + n > this.buffer.length)
      throw new DbusError('datablast.BadMessage', 'a D-Bus message ended early');
  }

  uint32(): number {
    this.align(4);
    this.need(4);
    const b = this.buffer;
    const at = this.offset;
    this.offset = at + 4;
    // By index, as the writer: Node's checked readUInt32 costs several times as much here.
    return this.littleEndian
      ? b[at]! + b[at + 1]! * 0x100 + b[at + 2]! * 0x10000 + b[at + 3]! * 0x1000000
      : b[at]! * 0x1000000 + b[at + 1]! * 0x10000 + b[at + 2]! * 0x100 + b[at + 3]!;
  }

  /** A string of `length` UTF-8 bytes and its NUL. */
  text(length: number): string {
    this.need(length + 1);
    const start = this.offset;
    this.offset = start + length + 1;
    return this.buffer.toString('utf8', start, start + length);
  }

  value(type: string): DbusValue {
    const le = this.littleEndian;
    switch (type[0]) {
      case 'y':
        this.need(1);
        return this.buffer[this.offset++]!;
      case 'b':
        return this.uint32() !== 0;
      case 'n':
      case 'q': {
        this.align(2);
        this.need(2);
        const b = this.buffer;
        const value =
          type === 'n'
            ? le
              ? b.readInt16LE(this.offset)
              : b.readInt16BE(this.offset)
            : le
              ? b.readUInt16LE(this.offset)
              : b.readUInt16BE(this.offset);
        this.offset += 2;
        return value;
      }
      case 'i': {
        this.align(4);
        this.need(4);
        const value = le ? this.buffer.readInt32LE(this.offset) : this.buffer.readInt32BE(this.offset);
        this.offset += 4;
        return value;
      }
      case 'u':
      case 'h':
        return this.uint32();
      case 'x':
      case 't': {
        this.align(8);
        this.need(8);
        const b = this.buffer;
        const value =
          type === 'x'
            ? le
              ? b.readBigInt64LE(this.offset)
              : b.readBigInt64BE(this.offset)
            : le
              ? b.readBigUInt64LE(this.offset)
              : b.readBigUInt64BE(this.offset);
        this.offset += 8;
        return value;
      }
      case 'd': {
        this.align(8);
        this.need(8);
        const value = le ? this.buffer.readDoubleLE(this.offset) : this.buffer.readDoubleBE(this.offset);
        this.offset += 8;
        return value;
      }
      case 's':
      case 'o':
        return this.text(this.uint32());
      case 'g':
        this.need(1);
        return this.text(this.buffer[this.offset++]!);
      case 'v': {
        const signature = this.value('g') as string;
        return { signature, value: this.value(signature) };
      }
      case 'a': {
        const element = type.slice(1);
        const length = this.uint32();
        this.align(alignmentOf(element));
        const end = this.offset + length;
        this.need(length);
        if (element === 'y') {
          const bytes = Buffer.from(this.buffer.subarray(this.offset, end));
          this.offset = end;
          return bytes;
        }
        const items: DbusValue[] = [];
        while (this.offset < end) items.push(this.value(element));
        return items;
      }
      case '(':
      case '{': {
        this.align(8);
        return splitSignature(type.slice(1, -1)).map((field) => this.value(field));
      }
      default:
        throw new DbusError('datablast.BadSignature', `unsupported D-Bus type ${type}`);
    }
  }
}

/** One message read off the wire. */
export interface Message {
  type: MessageType;
  serial: number;
  /** What a call names (a reply names none of them). */
  path?: string;
  interface?: string;
  member?: string;
  replySerial?: number;
  errorName?: string;
  signature: string;
  body: DbusValue[];
}

/** The length of the message at the start of `buffer`, or undefined until its fixed header is there. */
export function messageLength(buffer: Buffer): number | undefined {
  if (buffer.length < 16) return undefined;
  const le = buffer[0] === 0x6c;
  const bodyLength = le ? buffer.readUInt32LE(4) : buffer.readUInt32BE(4);
  const fieldsLength = le ? buffer.readUInt32LE(12) : buffer.readUInt32BE(12);
  const headerLength = 16 + fieldsLength + ((8 - (fieldsLength % 8)) % 8);
  return headerLength + bodyLength;
}

/** Parses one whole message. */
export function decodeMessage(buffer: Buffer): Message {
  const endian = buffer[0];
  if (endian !== 0x6c && endian !== 0x42)
    throw new DbusError('datablast.BadMessage', 'a D-Bus message with an unknown byte order');
  const reader = new Reader(buffer, endian === 0x6c, 4);
  const type = buffer[1] as MessageType;
  const bodyLength = reader.uint32();
  const serial = reader.uint32();
  const message: Message = { type, serial, signature: '', body: [] };
  // The header fields, a(yv), read directly (as encodeMessage writes them).
  const fieldsLength = reader.uint32();
  reader.need(fieldsLength);
  const fieldsEnd = reader.offset + fieldsLength;
  while (reader.offset < fieldsEnd) {
    reader.align(8);
    const code = reader.value('y');
    const value = reader.value(reader.value('g') as string);
    if (code === Field.ReplySerial) message.replySerial = value as number;
    else if (code === Field.ErrorName) message.errorName = value as string;
    else if (code === Field.Signature) message.signature = value as string;
    else if (code === Field.Path) message.path = value as string;
    else if (code === Field.Interface) message.interface = value as string;
    else if (code === Field.Member) message.member = value as string;
  }
  reader.align(8);
  const bodyEnd = reader.offset + bodyLength;
  message.body = splitSignature(message.signature).map((t) => reader.value(t));
  if (reader.offset > bodyEnd) throw new DbusError('datablast.BadMessage', 'a D-Bus message body overran its length');
  return message;
}

// ---------------------------------------------------------------------------------------------
// The connection

/** The D-Bus specification's limit on a message's length (128 MiB): a longer header is garbage, not a message to wait for. */
const MAX_MESSAGE_BYTES = 2 ** 27;

interface Pending {
  resolve: (body: DbusValue[]) => void;
  reject: (error: Error) => void;
}

/**
 * One authenticated connection to a message bus. Its socket never keeps the process alive by itself:
 * a pending call's deadline timer does, so a CLI run ends as soon as its work is done.
 */
export class DbusConnection {
  private serial = 0;
  private readonly pending = new Map<number, Pending>();
  private closed: Error | undefined;
  private authenticated = false;
  private inbox: Buffer = Buffer.alloc(0);
  private outbox: Buffer[] = [];

  /**
   * Connects to the bus at `socketPath` without waiting: the login (EXTERNAL, then BEGIN), the Hello
   * and any call made next leave in one write and are answered in one round trip, as sd-bus does it.
   * A bus that refuses us or never answers fails every pending call (each has its deadline), so a
   * frozen daemon is a timeout, never a hang.
   */
  constructor(socketPath: string, timeoutMs: number) {
    this.socket = connect({ path: socketPath });
    this.socket.unref();
    const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
    this.send(`\0AUTH EXTERNAL ${Buffer.from(String(uid)).toString('hex')}\r\nBEGIN\r\n`);
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    const end = (error?: Error) =>
      this.fail(error ?? new DbusError('datablast.Disconnected', 'the message bus closed the connection'));
    this.socket.on('error', end);
    this.socket.on('close', () => end());
    // Its failure reaches every call made after it, so nobody needs to await it.
    this.call(
      {
        destination: 'org.freedesktop.DBus',
        path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus',
        member: 'Hello',
      },
      timeoutMs,
    ).catch(() => undefined);
  }

  private readonly socket: Socket;

  /** Calls a method and resolves with its reply's body; an error reply rejects with a DbusError. */
  call(method: MethodCall, timeoutMs: number): Promise<DbusValue[]> {
    if (this.closed) return Promise.reject(this.closed);
    const serial = ++this.serial;
    const fields: Array<[Field, string, DbusValue]> = [
      [Field.Path, 'o', method.path],
      [Field.Interface, 's', method.interface],
      [Field.Member, 's', method.member],
      [Field.Destination, 's', method.destination],
    ];
    const bytes = encodeMessage(MessageType.MethodCall, serial, fields, method.signature ?? '', method.body ?? []);
    return new Promise<DbusValue[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(serial);
        reject(
          new DbusError(
            'datablast.Timeout',
            `${method.interface}.${method.member} got no answer within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.pending.set(serial, {
        resolve: (body) => {
          clearTimeout(timer);
          resolve(body);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.send(bytes);
    });
  }

  /** Queues bytes, and writes all that is queued in this tick at once: a batch of calls is one write. */
  private send(bytes: Buffer | string): void {
    this.outbox.push(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    if (this.outbox.length > 1) return;
    queueMicrotask(() => {
      const batch = this.outbox.length === 1 ? this.outbox[0]! : Buffer.concat(this.outbox);
      this.outbox = [];
      if (!this.closed) this.socket.write(batch);
    });
  }

  close(): void {
    this.fail(new DbusError('datablast.Disconnected', 'the connection was closed'));
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    this.inbox = this.inbox.length === 0 ? chunk : Buffer.concat([this.inbox, chunk]);
    if (!this.authenticated) {
      const end = this.inbox.indexOf('\r\n');
      if (end < 0) return;
      const answer = this.inbox.toString('latin1', 0, end);
      if (!answer.startsWith('OK ')) {
        this.fail(new DbusError('datablast.AuthFailed', `the message bus refused us: ${answer.trim()}`));
        this.socket.destroy();
        return;
      }
      this.authenticated = true;
      this.inbox = this.inbox.subarray(end + 2);
    }
    for (;;) {
      const length = messageLength(this.inbox);
      if (length !== undefined && length > MAX_MESSAGE_BYTES) {
        this.fail(
          new DbusError(
            'datablast.BadMessage',
            `the message bus announced a message of ${length} bytes, over the protocol's limit`,
          ),
        );
        this.socket.destroy();
        return;
      }
      if (length === undefined || this.inbox.length < length) return;
      const frame = this.inbox.subarray(0, length);
      this.inbox = this.inbox.subarray(length);
      // Signals (the bus's NameAcquired after Hello) answer nothing we wait for: not even parsed.
      if (frame[1] !== MessageType.Signal) this.receive(frame);
    }
  }

  private receive(frame: Buffer): void {
    let message: Message;
    try {
      message = decodeMessage(frame);
    } catch (error) {
      this.fail(error as Error);
      this.socket.destroy();
      return;
    }
    if (message.replySerial === undefined) return;
    const waiting = this.pending.get(message.replySerial);
    if (!waiting) return;
    this.pending.delete(message.replySerial);
    if (message.type === MessageType.Error) {
      const text = typeof message.body[0] === 'string' ? message.body[0] : '';
      waiting.reject(new DbusError(message.errorName ?? 'org.freedesktop.DBus.Error.Failed', text));
    } else waiting.resolve(message.body);
  }

  private fail(error: Error): void {
    this.closed ??= error;
    for (const [serial, waiting] of this.pending) {
      this.pending.delete(serial);
      waiting.reject(error);
    }
  }
}
