import { describe, expect, it } from 'vitest';
import { blockingWriter } from '../../../src/ui/io.js';

const failure = (code: string) => Object.assign(new Error(code), { code });

describe('blockingWriter (stdout without building process.stdout)', () => {
  it('writes everything, however few bytes each write takes', () => {
    const written: Buffer[] = [];
    const write = blockingWriter(
      (bytes, offset) => {
        const n = Math.min(3, bytes.length - offset);
        written.push(Buffer.from(bytes.subarray(offset, offset + n)));
        return n;
      },
      () => expect.fail('no fallback needed'),
    );
    write('hello, wörld\n');
    expect(written.length).toBeGreaterThan(4);
    expect(Buffer.concat(written).toString()).toBe('hello, wörld\n');
  });

  it('hands the rest and every later write to the stream once the descriptor says EAGAIN, in order', () => {
    const direct: string[] = [];
    const queued: string[] = [];
    let calls = 0;
    const write = blockingWriter(
      (bytes, offset) => {
        calls += 1;
        if (calls === 2) throw failure('EAGAIN');
        direct.push(bytes.subarray(offset, offset + 4).toString());
        return 4;
      },
      (bytes) => void queued.push(bytes.toString()),
    );
    write('abcdefgh');
    write('ij');
    expect(direct).toEqual(['abcd']);
    expect(queued).toEqual(['efgh', 'ij']);
    expect(calls).toBe(2);
  });

  it('stops writing quietly once the reader has gone (EPIPE)', () => {
    let calls = 0;
    const write = blockingWriter(
      () => {
        calls += 1;
        throw failure('EPIPE');
      },
      () => expect.fail('no fallback'),
    );
    expect(() => write('a')).not.toThrow();
    write('b');
    expect(calls).toBe(1);
  });

  it('lets any other write error through', () => {
    const write = blockingWriter(
      () => {
        throw failure('EIO');
      },
      () => undefined,
    );
    expect(() => write('a')).toThrow('EIO');
  });

  it('uses the stream from the start when asked (Windows consoles)', () => {
    const queued: string[] = [];
    const write = blockingWriter(
      () => expect.fail('no direct write'),
      (bytes) => void queued.push(bytes.toString()),
      true,
    );
    write('x');
    expect(queued).toEqual(['x']);
  });
});
