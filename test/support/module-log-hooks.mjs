// The loader hook of module-log.mjs: records each resolved module URL.
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.DBAWS_MODULE_LOG, `${resolved.url}\n`);
  return resolved;
}
