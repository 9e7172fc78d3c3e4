// Finishes the build after tsc: copies non-TypeScript files the service reads at run time (SQL
// migrations) from src/ to dist/, keeping their relative paths, and makes the `kitrelay` bin
// executable (tsc writes 0644, and `npx kitrelay` in this checkout runs the file directly).
import { chmodSync, cpSync, mkdirSync, readdirSync, statSync } from 'node:fs';
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
chmodSync(path.join(root, 'dist', 'cli', 'index.js'), 0o755);
