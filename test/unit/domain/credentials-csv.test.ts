import { describe, expect, it } from 'vitest';
import { parseCredentialsCsv } from '../../../src/domain/credentials-csv.js';
import { UsageError } from '../../../src/errors.js';

const ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const FILE = 'datablast_accessKeys.csv';

const utf8 = (text: string) => new TextEncoder().encode(text);
const BOM = [0xef, 0xbb, 0xbf];

function failure(bytes: Uint8Array): UsageError {
  try {
    parseCredentialsCsv(bytes, FILE);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    const e = error as UsageError;
    expect(e.message).toContain(FILE);
    expect(`${e.message} ${e.hint}`).not.toContain(SECRET);
    return e;
  }
  throw new Error('expected a UsageError');
}

describe('parseCredentialsCsv', () => {
  it('reads the two-column layout the console downloads today', () => {
    expect(parseCredentialsCsv(utf8(`Access key ID,Secret access key\n${ID},${SECRET}\n`), FILE)).toEqual({
      accessKeyId: ID,
      secretAccessKey: SECRET,
    });
  });

  it('reads the older five-column layout with the user name', () => {
    const csv = `User name,Password,Access key ID,Secret access key,Console login link\ndatablast,,${ID},${SECRET},https://123456789012.signin.aws.amazon.com/console\n`;
    expect(parseCredentialsCsv(utf8(csv), FILE)).toEqual({
      accessKeyId: ID,
      secretAccessKey: SECRET,
      userName: 'datablast',
    });
  });

  it('accepts a UTF-8 BOM and CRLF line ends, as the console writes them', () => {
    const bytes = new Uint8Array([...BOM, ...utf8(`Access key ID,Secret access key\r\n${ID},${SECRET}\r\n`)]);
    expect(parseCredentialsCsv(bytes, FILE)).toEqual({ accessKeyId: ID, secretAccessKey: SECRET });
  });

  it('accepts a file without a trailing newline', () => {
    expect(parseCredentialsCsv(utf8(`Access key ID,Secret access key\n${ID},${SECRET}`), FILE).secretAccessKey).toBe(
      SECRET,
    );
  });

  it('accepts quoted fields, including an escaped quote and a comma in another field', () => {
    const csv = `"User name","Password","Access key ID","Secret access key","Console login link"\n"data ""blast"", ops","a,b","${ID}","${SECRET}",""\n`;
    expect(parseCredentialsCsv(utf8(csv), FILE)).toEqual({
      accessKeyId: ID,
      secretAccessKey: SECRET,
      userName: 'data "blast", ops',
    });
  });

  it('matches column names case-insensitively and in any order', () => {
    expect(parseCredentialsCsv(utf8(`SECRET ACCESS KEY , access key id\n${SECRET},${ID}\n`), FILE)).toEqual({
      accessKeyId: ID,
      secretAccessKey: SECRET,
    });
  });

  it('ignores blank lines', () => {
    expect(
      parseCredentialsCsv(utf8(`\nAccess key ID,Secret access key\n\n${ID},${SECRET}\n\n\n`), FILE).accessKeyId,
    ).toBe(ID);
  });

  it('returns values as they are, leaving trimming and validation to the caller', () => {
    expect(parseCredentialsCsv(utf8(`Access key ID,Secret access key\n ${ID} ,${SECRET}\n`), FILE).accessKeyId).toBe(
      ` ${ID} `,
    );
  });

  it.each<[string, Uint8Array, string]>([
    ['an empty file', new Uint8Array(), 'the file is empty'],
    ['only a BOM', new Uint8Array(BOM), 'no content'],
    ['only blank lines', utf8('\n\r\n\n'), 'no content'],
    ['UTF-16 little-endian', new Uint8Array([0xff, 0xfe, ...utf8('A\0c\0')]), 'UTF-16'],
    ['UTF-16 big-endian', new Uint8Array([0xfe, 0xff, 0, 0x41]), 'UTF-16'],
    ['a binary file', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]), 'not a text file'],
    ['an xlsx spreadsheet', new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]), 'spreadsheet'],
    ['invalid UTF-8', new Uint8Array([0x41, 0xc3, 0x28, 0x0a]), 'not UTF-8'],
    ['no secret column', utf8(`Access key ID,Password\n${ID},x\n`), 'no "Secret access key" column'],
    ['no key id column', utf8(`User name,Secret access key\nu,${SECRET}\n`), 'no "Access key ID" column'],
    ['neither column', utf8('a,b\n1,2\n'), 'no "Access key ID" or "Secret access key" column'],
    ['no header row', utf8(`${ID},${SECRET}\n`), 'the first line holds a key'],
    ['a header but no key', utf8('Access key ID,Secret access key\n'), 'no key'],
    [
      'two keys',
      utf8(`Access key ID,Secret access key\n${ID},${SECRET}\n${ID},${SECRET}\n`),
      'holds 2 keys; it must hold exactly one',
    ],
    [
      'three keys',
      utf8(`Access key ID,Secret access key\n${ID},${SECRET}\n${ID},${SECRET}\n${ID},${SECRET}`),
      'holds 3 keys',
    ],
    [
      'a short data line',
      utf8(`User name,Password,Access key ID,Secret access key\nu,p,${ID}\n`),
      'has 3 fields but the column names need 4',
    ],
    ['an empty key id field', utf8(`Access key ID,Secret access key\n ,${SECRET}\n`), '"Access key ID" field is empty'],
    [
      'an empty secret field',
      utf8(`Access key ID,Secret access key\n${ID},""\n`),
      '"Secret access key" field is empty',
    ],
    ['an unclosed quote', utf8(`Access key ID,Secret access key\n"${ID},${SECRET}\n`), 'never closed'],
    [
      'a quote inside a field',
      utf8(`Access key ID,Secret access key\nAK"IA,${SECRET}\n`),
      'a quote in the middle of a field on line 2',
    ],
  ])('rejects %s', (_label, bytes, fragment) => {
    expect(failure(bytes).message).toContain(fragment);
  });

  it('tells the user of a UTF-16 file to save it as UTF-8', () => {
    expect(failure(new Uint8Array([0xff, 0xfe, 0x41, 0])).hint).toContain('UTF-8');
  });

  it('tells the user of a several-key file what to keep', () => {
    expect(failure(utf8(`Access key ID,Secret access key\n${ID},${SECRET}\n${ID},${SECRET}\n`)).hint).toContain(
      'Keep only the line',
    );
  });
});
