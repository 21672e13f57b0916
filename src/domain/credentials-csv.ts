import { UsageError } from '../errors.js';

/** What the AWS console's "Download .csv file" gives for one access key. */
export interface CsvCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Present in the older five-column layout. */
  userName?: string;
}

const KEY_ID_HEADER = 'access key id';
const SECRET_HEADER = 'secret access key';
const USER_HEADER = 'user name';
const LAYOUT_HINT =
  'Use the file from the IAM console ("Download .csv file" when the key is created): its first line is "Access key ID,Secret access key" or "User name,Password,Access key ID,Secret access key,Console login link".';

/**
 * Parses the credentials CSV the AWS console downloads, in either layout (two columns, or the
 * older five with user name and password). A UTF-8 BOM, CRLF, quoted fields and blank lines are
 * fine; headers match case-insensitively. Errors are UsageErrors naming `file` and never quote a
 * value from the file.
 */
export function parseCredentialsCsv(bytes: Uint8Array, file: string): CsvCredentials {
  const fail = (problem: string, hint = LAYOUT_HINT): never => {
    throw new UsageError(`--from-csv ${file}: ${problem}`, { hint });
  };
  if (bytes.length === 0) fail('the file is empty');
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    fail(
      'the file is UTF-16 text',
      'Save it as UTF-8 (in Excel: "CSV UTF-8"; in a text editor: encoding UTF-8) and try again.',
    );
  }
  if (bytes[0] === 0x50 && bytes[1] === 0x4b)
    fail(
      'this is a spreadsheet or zip file, not CSV',
      'Export it as CSV (UTF-8), or use the .csv file the console downloaded.',
    );
  if (bytes.includes(0)) fail('this is not a text file');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return fail('the file is not UTF-8 text', 'Save it as UTF-8 and try again.');
  }
  const rows = parseCsv(text, fail).filter((row) => row.some((cell) => cell.trim() !== ''));
  if (rows.length === 0) fail('the file has no content');
  const header = rows[0]!.map((cell) => cell.trim().toLowerCase());
  const keyColumn = header.indexOf(KEY_ID_HEADER);
  const secretColumn = header.indexOf(SECRET_HEADER);
  const userColumn = header.indexOf(USER_HEADER);
  if (keyColumn < 0 || secretColumn < 0) {
    // A file without its header row starts with the key itself: say so without quoting it.
    if (rows[0]!.some((cell) => /^(AKIA|ASIA)[A-Z2-7]{16}$/.test(cell.trim())))
      fail('the first line holds a key, not the column names');
    const missing = [
      keyColumn < 0 ? '"Access key ID"' : undefined,
      secretColumn < 0 ? '"Secret access key"' : undefined,
    ].filter(Boolean);
    fail(`no ${missing.join(' or ')} column in the first line`);
  }
  const data = rows.slice(1);
  if (data.length === 0) fail('the file has column names but no key');
  if (data.length > 1) {
    fail(
      `the file holds ${data.length} keys; it must hold exactly one`,
      'Keep only the line of the key you want to add (plus the first line of column names), or add the key with --access-key-id and --secret-stdin.',
    );
  }
  const row = data[0]!;
  const need = Math.max(keyColumn, secretColumn, userColumn) + 1;
  if (row.length < need) fail(`the key's line has ${row.length} fields but the column names need ${need}`);
  const accessKeyId = row[keyColumn]!;
  const secretAccessKey = row[secretColumn]!;
  if (accessKeyId.trim() === '') fail('the "Access key ID" field is empty');
  if (secretAccessKey.trim() === '') fail('the "Secret access key" field is empty');
  const userName = userColumn >= 0 ? row[userColumn]!.trim() : '';
  return userName ? { accessKeyId, secretAccessKey, userName } : { accessKeyId, secretAccessKey };
}

/**
 * A minimal RFC 4180 reader: comma-separated, fields optionally in double quotes with "" for a
 * quote, records ended by CRLF or LF. Hand-written because the console's files are one or two
 * lines and a library would be a dependency for twenty lines of code.
 */
function parseCsv(text: string, fail: (problem: string, hint?: string) => never): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let startedQuote = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
        }
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"') {
      if (field.trim() !== '')
        fail(
          `a quote in the middle of a field on line ${line}`,
          'The file is not valid CSV; download it again from the IAM console.',
        );
      field = '';
      quoted = true;
      startedQuote = line;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      line++;
    } else {
      field += c;
    }
  }
  if (quoted)
    fail(
      `a quoted field starting on line ${startedQuote} is never closed`,
      'The file is not valid CSV; download it again from the IAM console.',
    );
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
