// conf, loaded on a connection store's first write: it pulls in ajv (about 100 ms), which reads never
// need. conf is an ES module, so it takes import(), and that lives here, outside the bundle's core
// chunk: the binary compiles that chunk from V8's code cache with vm.Script, whose import() Node
// serves only behind an experimental flag or warning (src/code-cache.ts; scripts/bundle.mjs checks).

let confModule: Promise<typeof import('conf')> | undefined;

export function loadConf(): Promise<typeof import('conf')> {
  confModule ??= import('conf');
  return confModule;
}
