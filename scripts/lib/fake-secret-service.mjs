// @ts-check
// A Secret Service in this process, on a Unix socket: just enough of the bus (the login, Hello) and of
// the freedesktop Secret Service API for datablast-aws's own client (src/store/secret-service.ts) to
// store, search, read, list and delete entries, spoken with that client's codec (dist/store/dbus.js).
// The build's code-cache rehearsal (scripts/lib/rehearse-core.mjs) runs the commands against it, so
// that the cache holds the D-Bus code paths. The tests never take it for the real one: they run
// gnome-keyring (test/integration/keychain.test.ts).
import { createServer } from 'node:net';
import { decodeMessage, encodeMessage, messageLength, MessageType } from '../../dist/store/dbus.js';

const COLLECTION = '/org/freedesktop/secrets/collection/login';
const SESSION = '/org/freedesktop/secrets/session/s1';
/** Header field codes (D-Bus specification). */
const ERROR_NAME = 4;
const REPLY_SERIAL = 5;

/**
 * @typedef {object} FakeSecretService
 * @property {string} address the D-Bus address to give the client (DBUS_SESSION_BUS_ADDRESS)
 * @property {() => Promise<void>} stop
 */

/**
 * Listens on `socketPath`; every connection shares one collection of items.
 * @param {string} socketPath
 * @returns {Promise<FakeSecretService>}
 */
export async function startFakeSecretService(socketPath) {
  /** @type {Map<string, { attributes: Array<[string, string]>, secret: Buffer }>} */
  const items = new Map();
  let nextItem = 1;
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();

  /** @param {Array<[string, string]>} wanted @param {Array<[string, string]>} attributes */
  const matches = (wanted, attributes) =>
    wanted.every(([key, value]) => attributes.some(([k, v]) => k === key && v === value));

  /**
   * The reply to one call, as [signature, body], or an error name.
   * @param {import('../../dist/store/dbus.js').Message} call
   * @returns {[string, import('../../dist/store/dbus.js').DbusValue[]] | string}
   */
  function answer(call) {
    const body = /** @type {any[]} */ (call.body);
    switch (call.member) {
      case 'Hello':
        return ['s', [':1.1']];
      case 'OpenSession':
        return ['vo', [{ signature: 's', value: '' }, SESSION]];
      case 'ReadAlias':
        return ['o', [COLLECTION]];
      case 'CreateItem': {
        const [properties, [, , secret], replace] = body;
        const attributes = /** @type {Array<[string, string]>} */ (
          properties.find((/** @type {[string, any]} */ [name]) => name === 'org.freedesktop.Secret.Item.Attributes')[1]
            .value
        );
        const existing = [...items].find(
          ([, item]) => matches(attributes, item.attributes) && item.attributes.length === attributes.length,
        );
        const path = replace && existing ? existing[0] : `${COLLECTION}/${nextItem++}`;
        items.set(path, { attributes, secret: Buffer.from(secret) });
        return ['oo', [path, '/']];
      }
      case 'SearchItems':
        return ['aoao', [[...items].filter(([, item]) => matches(body[0], item.attributes)).map(([path]) => path), []]];
      case 'GetSecrets':
        return [
          'a{o(oayays)}',
          [
            body[0]
              .filter((/** @type {string} */ path) => items.has(path))
              .map((/** @type {string} */ path) => [
                path,
                [SESSION, Buffer.alloc(0), items.get(path)?.secret ?? Buffer.alloc(0), 'text/plain'],
              ]),
          ],
        ];
      case 'Get': {
        const item = call.path === undefined ? undefined : items.get(call.path);
        if (!item || body[1] !== 'Attributes') return 'org.freedesktop.DBus.Error.UnknownObject';
        return ['v', [{ signature: 'a{ss}', value: item.attributes }]];
      }
      case 'Delete':
        if (call.path !== undefined) items.delete(call.path);
        return ['o', ['/']];
      default:
        return 'org.freedesktop.DBus.Error.UnknownMethod';
    }
  }

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let inbox = Buffer.alloc(0);
    let loggedIn = false;
    let serial = 0;
    socket.on('data', (chunk) => {
      inbox = Buffer.concat([inbox, chunk]);
      // The login: a NUL, then lines; AUTH is accepted, BEGIN starts the binary protocol.
      while (!loggedIn) {
        const end = inbox.indexOf('\r\n');
        if (end < 0) return;
        const line = inbox.toString('latin1', 0, end).replace(/^\0/, '');
        inbox = inbox.subarray(end + 2);
        if (line.startsWith('AUTH ')) socket.write('OK 0123456789abcdef0123456789abcdef\r\n');
        else if (line === 'BEGIN') loggedIn = true;
      }
      for (;;) {
        const length = messageLength(inbox);
        if (length === undefined || inbox.length < length) return;
        const call = decodeMessage(inbox.subarray(0, length));
        inbox = inbox.subarray(length);
        if (call.type !== MessageType.MethodCall) continue;
        const reply = answer(call);
        socket.write(
          typeof reply === 'string'
            ? encodeMessage(
                MessageType.Error,
                ++serial,
                [
                  [REPLY_SERIAL, 'u', call.serial],
                  [ERROR_NAME, 's', reply],
                ],
                's',
                [`${call.member} is not served here`],
              )
            : encodeMessage(MessageType.MethodReturn, ++serial, [[REPLY_SERIAL, 'u', call.serial]], reply[0], reply[1]),
        );
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve(undefined));
  });
  return {
    address: `unix:path=${socketPath}`,
    stop: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
