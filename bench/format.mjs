// Number formatting the phase reports share ('—' for a figure that is missing).

export const int = (x) => (x === undefined || x === null || Number.isNaN(x) ? '—' : Math.round(x).toLocaleString('en-US'));
export const num = (x, digits = 1) => (x === undefined || x === null || Number.isNaN(x) ? '—' : Number(x).toFixed(digits));
export const pct = (x, digits = 0) => (x === undefined || x === null || Number.isNaN(x) ? '—' : `${(x * 100).toFixed(digits)}%`);
export const yes = (b) => (b === undefined ? 'not run' : b ? '**met**' : '**missed**');
export const share = (cpu, who) => (cpu?.[who] === undefined ? '—' : `${((cpu[who] / cpu.wallSeconds) * 100).toFixed(0)}%`);
export const statusList = (counts) => Object.entries(counts ?? {}).sort().map(([k, n]) => `${k}: ${int(n)}`).join(', ') || '—';
