// Copies non-TypeScript files the service reads at run time (SQL migrations) from src/ to dist/,
// keeping their relative paths. tsc only emits .js.
import { cpSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const copy = (dir) => {
  for (const name of readdirSync(dir)) {
    const from = path.join(dir, name);
    if (statSync(from).isDirectory()) copy(from);
    else if (name.endsWith('.sql')) {
      const to = path.join(root, 'dist', path.relative(path.join(root, 'src'), from));
      mkdirSync(path.dirname(to), { recursive: true });
      cpSync(from, to);
    }
  }
};
copy(path.join(root, 'src'));
