/**
 * The dashboard's stylesheet (served inline with a CSP nonce; no external assets).
 *
 * @module
 */

/** CSS of the dashboard page. */
export const DASHBOARD_CSS = `
:root {
  --bg: #f5f6f8; --panel: #fff; --ink: #1d2330; --muted: #6b7385; --line: #e2e5eb;
  --accent: #2f6fde; --accent-ink: #fff; --in: #2f6fde; --out: #17a673; --warn: #c77700; --bad: #c93636;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--ink); }
header { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: #1d2330; color: #fff; }
header h1 { font-size: 17px; margin: 0; font-weight: 600; }
header .version { color: #9aa3b5; font-size: 12px; }
header .spacer { flex: 1; }
header input { width: 180px; }
#status-dot { width: 10px; height: 10px; border-radius: 50%; background: #777; display: inline-block; }
#status-dot.ok { background: #2ecc71; }
#status-dot.bad { background: var(--bad); }
nav { display: flex; gap: 4px; padding: 8px 20px 0; }
nav a { padding: 6px 12px; border-radius: 6px 6px 0 0; color: var(--muted); text-decoration: none; }
nav a.active { background: var(--panel); color: var(--ink); font-weight: 600; }
main { padding: 0 20px 40px; }
section.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin: 12px 0; }
section.panel h2 { font-size: 15px; margin: 0 0 10px; display: flex; align-items: center; gap: 10px; }
section.panel h2 .hint { font-weight: normal; color: var(--muted); font-size: 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
td.num, th.num { text-align: right; }
tr.clickable { cursor: pointer; }
tr.clickable:hover td { background: #f0f4fc; }
tr.selected td { background: #e6eefc; }
.mono { font-family: var(--mono); font-size: 12px; }
.body-preview { max-width: 420px; white-space: pre-wrap; word-break: break-all; font-family: var(--mono); font-size: 12px; }
.tag { display: inline-block; padding: 0 6px; border-radius: 4px; background: #eef1f6; font-size: 11px; color: var(--muted); }
.tag.dlq { background: #fde8e8; color: var(--bad); }
.tag.retry { background: #fff3de; color: var(--warn); }
.lag-high { color: var(--bad); font-weight: 600; }
form.inline { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-end; margin: 8px 0; }
form.inline label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
input, select, textarea, button { font: inherit; }
input, select, textarea { padding: 5px 7px; border: 1px solid #c9ced8; border-radius: 5px; background: #fff; color: var(--ink); }
textarea { width: 100%; min-height: 60px; font-family: var(--mono); font-size: 12px; }
button { padding: 5px 12px; border: 1px solid var(--accent); background: var(--accent); color: var(--accent-ink); border-radius: 5px; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
button:disabled { opacity: .5; cursor: default; }
#notice { position: fixed; right: 16px; bottom: 16px; max-width: 480px; padding: 10px 14px; border-radius: 6px; background: #1d2330; color: #fff; display: none; z-index: 3; }
#notice.show { display: block; }
#notice.error { background: var(--bad); }
#tps-chart { width: 100%; height: 180px; display: block; }
.legend { display: flex; gap: 14px; font-size: 12px; color: var(--muted); }
.legend .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
.swatch.in { background: var(--in); }
.swatch.out { background: var(--out); }
.split { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; }
@media (max-width: 1000px) { .split { grid-template-columns: 1fr; } }
pre.detail { background: #f7f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow: auto; max-height: 420px; font-size: 12px; }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; padding: 6px 0; }
section.signin { max-width: 640px; margin: 40px auto; }
#who { color: #c9d1e0; font-size: 12px; }
[hidden] { display: none !important; }
`;
