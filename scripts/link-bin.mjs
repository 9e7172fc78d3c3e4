// Links this checkout's own `kitrelay` command into node_modules/.bin, so `npx kitrelay …` in the
// checkout runs the local build at once. npm never links a package's own bin into its own
// node_modules; without the link, npx installed the checkout into its cache on first use (~5 s),
// and an interrupted install there left an entry that broke every later call in the checkout
// (`ENOENT …/_npx/<hash>/package.json`). npx looks in node_modules/.bin before its cache.
// Runs from `prepare` (after `npm ci` / `npm install`); does nothing outside a checkout.
import { existsSync, lstatSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const modules = path.join(root, 'node_modules');
if (existsSync(modules)) {
  const bin = path.join(modules, '.bin');
  const link = path.join(bin, 'kitrelay');
  mkdirSync(bin, { recursive: true });
  // lstat: a dangling link still counts as present and is replaced.
  if (existsSync(link) || isLink(link)) rmSync(link, { force: true });
  symlinkSync(path.relative(bin, path.join(root, 'dist', 'cli', 'index.js')), link);
}

function isLink(file) {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}
