/**
 * The dashboard's stylesheet (served inline with a CSP nonce; no external assets). Works from
 * 360 px wide up: the navigation scrolls sideways, tables scroll inside their panel and drop
 * their optional columns, forms stack.
 *
 * @module
 */

/** CSS of the dashboard page. */
export const DASHBOARD_CSS = `
:root {
  --bg: #f4f5f8; --panel: #fff; --ink: #1d2330; --muted: #5d6577; --line: #e1e4ea; --soft: #f7f8fa;
  --accent: #2458c6; --accent-ink: #fff; --in: #2f6fde; --out: #14976a; --warn: #a45f00; --bad: #c0392b;
  --focus: #ffb020; --head: #1d2330;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
html { scroll-padding-top: 110px; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--ink); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 1px; }
.skip { position: absolute; left: 8px; top: -48px; z-index: 10; padding: 8px 12px; background: var(--panel); color: var(--ink); border-radius: 6px; }
.skip:focus { top: 8px; }
header#top { position: sticky; top: 0; z-index: 5; background: var(--head); color: #fff; box-shadow: 0 1px 3px rgba(0,0,0,.25); }
header .bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; padding: 8px 16px; }
header .brand { color: #fff; font-size: 16px; font-weight: 600; text-decoration: none; }
header .version { color: #aab2c3; font-size: 12px; }
header .spacer { flex: 1; }
header input { width: 160px; }
header label { font-size: 12px; color: #c9d1e0; display: flex; gap: 6px; align-items: center; }
#status-dot { width: 10px; height: 10px; border-radius: 50%; background: #777; display: inline-block; flex: none; }
#status-dot.ok { background: #2ecc71; }
#status-dot.bad { background: #ff5a4e; }
#who { color: #c9d1e0; font-size: 12px; }
nav#nav { overflow-x: auto; scrollbar-width: thin; }
nav#nav ul { display: flex; gap: 2px; margin: 0; padding: 0 10px; list-style: none; white-space: nowrap; }
nav#nav a { display: block; padding: 7px 10px 8px; color: #c9d1e0; text-decoration: none; border-bottom: 3px solid transparent; }
nav#nav a:hover { color: #fff; }
nav#nav a[aria-current="page"] { color: #fff; border-bottom-color: #6fa0ff; font-weight: 600; }
#banner { background: var(--bad); color: #fff; padding: 8px 16px; font-weight: 500; }
main { padding: 4px 16px 48px; max-width: 1500px; margin: 0 auto; }
main:focus { outline: none; }
body.stale main .num, body.stale main .value, body.stale main .fresh { color: #9aa0ab !important; }
body.stale main .chart svg { opacity: .45; }
.crumbs { margin: 12px 0 0; font-size: 12px; color: var(--muted); }
.crumbs a { color: var(--muted); }
h1.view-title { font-size: 20px; margin: 6px 0 10px; display: flex; flex-wrap: wrap; align-items: center; gap: 8px; word-break: break-all; }
h1.view-title:focus { outline: none; }
section.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin: 12px 0; min-width: 0; }
section.panel > h2 { font-size: 15px; margin: 0 0 10px; display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 10px; }
section.panel h3 { font-size: 13px; margin: 0 0 8px; color: var(--muted); font-weight: 600; }
.below-cards { margin-top: 12px; }
.hint { font-weight: normal; color: var(--muted); font-size: 12px; }
.grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; margin: 12px 0; }
.grid2 > section.panel { margin: 0; }
@media (max-width: 1000px) { .grid2 { grid-template-columns: minmax(0, 1fr); } }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
.card { display: block; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; color: inherit; text-decoration: none; background: var(--panel); }
a.card:hover { border-color: var(--accent); }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; word-break: break-word; }
.card.bad .value { color: var(--bad); }
dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 4px 14px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-word; }
dl.facts dl.facts { font-size: 12px; gap: 0 10px; }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 500; font-size: 12px; white-space: nowrap; }
th button.sort { all: unset; cursor: pointer; color: inherit; }
th button.sort:focus-visible { outline: 3px solid var(--focus); }
th[aria-sort="ascending"] button.sort::after { content: " \\25B2"; font-size: 9px; }
th[aria-sort="descending"] button.sort::after { content: " \\25BC"; font-size: 9px; }
td.num, th.num { text-align: right; }
tr.row-link { cursor: pointer; }
tr.row-link:hover td { background: #f0f4fc; }
tr.row-link:focus-visible { outline: 3px solid var(--focus); outline-offset: -3px; }
tr.row-link td a.primary { font-weight: 500; }
.sub { display: block; color: var(--muted); font-size: 12px; }
.mono { font-family: var(--mono); font-size: 12px; overflow-wrap: anywhere; }
.preview { max-width: 380px; white-space: pre-wrap; word-break: break-all; font-family: var(--mono); font-size: 12px; }
.tag { display: inline-block; padding: 0 6px; border-radius: 4px; background: #eef1f6; font-size: 11px; color: var(--muted); font-weight: 500; white-space: nowrap; }
.tag.dlq, .tag.bad { background: #fde8e8; color: var(--bad); }
.tag.retry, .tag.warn { background: #fff1d6; color: var(--warn); }
.tag.system { background: #e9e5f7; color: #5a3fa8; }
.tag.ok { background: #e0f5ec; color: #0e7a55; }
.lag-high, .bad-text { color: var(--bad); font-weight: 600; }
.list-tools { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-end; margin: 0 0 8px; }
.list-tools input[type=search] { flex: 1 1 200px; max-width: 360px; }
.list-tools .count { color: var(--muted); font-size: 12px; margin-left: auto; }
.pager { display: flex; gap: 8px; align-items: center; justify-content: flex-end; margin-top: 8px; font-size: 12px; color: var(--muted); }
.inline { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-end; margin: 8px 0; }
form label, .field { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
form label.check { flex-direction: row; align-items: center; gap: 6px; font-size: 13px; color: var(--ink); }
input, select, textarea, button { font: inherit; }
input, select, textarea { padding: 5px 7px; border: 1px solid #b9bfcb; border-radius: 5px; background: #fff; color: var(--ink); min-width: 0; }
textarea { width: 100%; min-height: 60px; font-family: var(--mono); font-size: 12px; }
button, a.button { padding: 5px 12px; border: 1px solid var(--accent); background: var(--accent); color: var(--accent-ink); border-radius: 5px; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, a.button.secondary { background: #fff; color: var(--accent); }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
button.small, a.button.small { padding: 2px 8px; font-size: 12px; }
button:disabled { opacity: .5; cursor: default; }
button[aria-pressed="true"] { background: var(--accent); color: #fff; }
.segmented { display: inline-flex; }
.segmented button { border-radius: 0; background: #fff; color: var(--accent); padding: 2px 10px; font-size: 12px; }
.segmented button:first-child { border-radius: 5px 0 0 5px; }
.segmented button:last-child { border-radius: 0 5px 5px 0; }
.segmented button + button { border-left: 0; }
.segmented button[aria-pressed="true"] { background: var(--accent); color: #fff; }
details.more > summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
#notice { position: fixed; right: 16px; bottom: 16px; max-width: min(480px, calc(100vw - 32px)); padding: 10px 14px; border-radius: 6px; background: #1d2330; color: #fff; display: none; z-index: 6; word-break: break-word; }
#notice.show { display: block; }
#notice.error { background: var(--bad); }
.error-box { border: 1px solid #f0b4ad; background: #fdf0ee; color: #8d2419; border-radius: 6px; padding: 8px 12px; margin: 12px 0; }
.chart { margin: 0; }
.chart svg { display: block; width: 100%; height: 190px; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .axis { fill: var(--muted); font-size: 11px; }
.chart .in { stroke: var(--in); fill: none; stroke-width: 1.8; }
.chart .out { stroke: var(--out); fill: none; stroke-width: 1.8; }
.chart .in-area { fill: var(--in); opacity: .08; }
.chart .empty { fill: var(--muted); font-size: 13px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12px; color: var(--muted); align-items: center; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
.swatch.in { background: var(--in); }
.swatch.out { background: var(--out); }
pre.body { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow: auto; max-height: 480px; font-size: 12px; margin: 8px 0 0; white-space: pre-wrap; word-break: break-all; }
pre.body.hex { white-space: pre; word-break: normal; }
ol.timeline { list-style: none; margin: 0; padding: 0 0 0 14px; border-left: 2px solid var(--line); }
ol.timeline li { position: relative; padding: 0 0 10px 10px; }
ol.timeline li::before { content: ""; position: absolute; left: -21px; top: 4px; width: 10px; height: 10px; border-radius: 50%; background: var(--accent); }
ol.timeline li.ok::before { background: #0e7a55; }
ol.timeline li.warn::before { background: var(--warn); }
ol.timeline li.bad::before { background: var(--bad); }
.trace-head .tag { font-size: 12px; margin-right: 2px; }
.trace-meta { display: flex; flex-wrap: wrap; gap: 0 14px; margin: 2px 0 0; font-size: 12px; }
.trace-meta > span { min-width: 0; overflow-wrap: anywhere; }
.trace-detail { margin: 2px 0 0; font-size: 12px; color: var(--muted); overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; padding: 6px 0; }
ul.plain { margin: 0; padding-left: 18px; }
section.signin { max-width: 640px; margin: 40px auto; }
meter { width: 100%; min-width: 60px; }
[hidden] { display: none !important; }
@media (max-width: 640px) {
  header .bar { padding: 6px 10px; }
  header input { width: 120px; }
  main { padding: 2px 8px 40px; }
  section.panel { padding: 10px; }
  .opt { display: none; }
  .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .card .value { font-size: 17px; }
  dl.facts { grid-template-columns: minmax(0, 1fr); gap: 0; }
  dl.facts dd { margin-bottom: 6px; }
  .inline > * { flex: 1 1 100%; }
  .inline button, .inline a.button { flex: 0 0 auto; }
  .list-tools .count { margin-left: 0; }
  .preview { display: inline-block; min-width: 9em; }
  .chart svg { height: 160px; }
}
`;
