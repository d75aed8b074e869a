// Bundles the browser libraries into server/voting/static/vendor/ (run by `make vendor-js`).
// The output and its licenses are committed: serving and testing need no npm.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

const out = new URL('../server/voting/static/vendor/', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('node_modules/@cloudflare/blindrsa-ts/package.json', import.meta.url)));
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [new URL('entry.mjs', import.meta.url).pathname],
  outfile: new URL('blindrsa.js', out).pathname,
  bundle: true,
  format: 'iife',
  globalName: 'pingyiBlindRSA',
  platform: 'browser',
  target: ['es2017'],
  minify: true,
  legalComments: 'none',
  banner: { js: `/* @cloudflare/blindrsa-ts ${pkg.version} (Apache-2.0, with SJCL: BSD), bundled by js/build.mjs; licenses in blindrsa.LICENSE.txt */` },
});

const license = (path) => readFileSync(new URL(path, import.meta.url), 'utf8');
writeFileSync(new URL('blindrsa.LICENSE.txt', out),
  `@cloudflare/blindrsa-ts ${pkg.version}\n\n` + license('node_modules/@cloudflare/blindrsa-ts/LICENSE.txt') +
  '\n\n---- SJCL (the copy inside @cloudflare/blindrsa-ts, lib/src/sjcl) ----\n\n' +
  license('node_modules/sjcl/LICENSE.txt'));
console.log('wrote server/voting/static/vendor/blindrsa.js and blindrsa.LICENSE.txt');
