/**
 * The console's one stylesheet, served as a file at CONSOLE_STYLESHEET_PATH (the page CSP allows
 * no inline style). Calm and dense: system fonts, one accent colour, tables that scroll inside
 * their own region at 360 px. Colours meet WCAG AA contrast on both light and dark schemes.
 */
export const CONSOLE_STYLESHEET_PATH = '/assets/anvil.css';

export const CONSOLE_STYLESHEET = `
:root {
  color-scheme: light;
  --bg: #f6f7f9; --panel: #ffffff; --text: #1b1f24; --muted: #57606a; --line: #d0d7de;
  --accent: #0a58ca; --accent-text: #ffffff; --ok: #1a7f37; --bad: #b42318; --warn: #8a5a00;
  --ok-bg: #dafbe1; --bad-bg: #ffebe9; --warn-bg: #fff8c5; --focus: #0a58ca;
}
* { box-sizing: border-box; }
html { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body { margin: 0; background: var(--bg); color: var(--text); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible, [tabindex]:focus-visible {
  outline: 3px solid var(--focus); outline-offset: 2px;
}
.skip { position: absolute; left: -999px; top: 0; background: var(--panel); padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: .5rem; }
header.top { background: #1b1f24; color: #fff; }
header.top .bar { display: flex; flex-wrap: wrap; align-items: center; gap: .25rem 1rem; padding: .5rem 1rem; max-width: 90rem; margin: 0 auto; }
header.top .brand { color: #fff; font-weight: 700; text-decoration: none; margin-right: .5rem; }
header.top nav ul { display: flex; flex-wrap: wrap; gap: .15rem .25rem; list-style: none; margin: 0; padding: 0; }
header.top nav a { color: #e6edf3; text-decoration: none; padding: .3rem .5rem; border-radius: .3rem; display: inline-block; }
header.top nav a[aria-current="page"] { background: #3d444d; color: #fff; }
header.top nav a:hover { background: #30363d; }
header.top .who { margin-left: auto; display: flex; gap: .5rem; align-items: center; font-size: .9rem; color: #e6edf3; }
header.top .who form { margin: 0; }
header.top .who a { color: #e6edf3; }
header.top .who button { background: transparent; color: #e6edf3; border: 1px solid #8b949e; }
main { max-width: 90rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.45rem; margin: .25rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: 1rem; margin-bottom: 1rem; }
.grid { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 22rem), 1fr)); }
.muted { color: var(--muted); }
.mono, code, pre, kbd { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em; }
.mono { overflow-wrap: anywhere; }
/* Commands and links shown inline (the enrolment page's curl line and link) break anywhere rather than widen the page. */
p code, p a { overflow-wrap: anywhere; }
pre { white-space: pre-wrap; word-break: break-all; background: #eef1f4; padding: .75rem; border-radius: .3rem; max-height: 24rem; overflow: auto; }
/* position: relative keeps the .sr-only labels inside a scrolled table from widening the page. */
.table-wrap { position: relative; overflow-x: auto; background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; margin-bottom: 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .4rem .6rem; border-bottom: 1px solid var(--line); }
thead th { background: #eef1f4; font-weight: 600; white-space: nowrap; }
tbody tr:last-child td, tbody tr:last-child th { border-bottom: 0; }
table.kv th { width: 14rem; font-weight: 600; color: var(--muted); }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: .82rem; font-weight: 600; border: 1px solid transparent; white-space: nowrap; }
.badge.ok { background: var(--ok-bg); color: var(--ok); border-color: #a6e3b4; }
.badge.bad { background: var(--bad-bg); color: var(--bad); border-color: #f5b5ae; }
.badge.warn { background: var(--warn-bg); color: var(--warn); border-color: #e8d48a; }
.badge.plain { background: #eef1f4; color: var(--text); border-color: var(--line); }
.notice { padding: .6rem .9rem; border-radius: .35rem; margin: 0 0 1rem; border: 1px solid; }
.notice.ok { background: var(--ok-bg); border-color: #a6e3b4; }
.notice.bad { background: var(--bad-bg); border-color: #f5b5ae; }
.notice.warn { background: var(--warn-bg); border-color: #e8d48a; }
form.stack { display: grid; gap: .85rem; max-width: 40rem; }
form.inline { display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-end; }
.field { display: grid; gap: .25rem; }
.field label, .field legend { font-weight: 600; }
.field .help { color: var(--muted); font-size: .88rem; }
.field .error { color: var(--bad); font-weight: 600; font-size: .9rem; }
fieldset { border: 1px solid var(--line); border-radius: .4rem; padding: .6rem .9rem; margin: 0; }
input[type=text], input[type=password], input[type=search], input[type=number], input[type=date], input[type=datetime-local], select, textarea {
  font: inherit; padding: .4rem .5rem; border: 1px solid #8c959f; border-radius: .3rem; background: #fff; color: var(--text); width: 100%; max-width: 100%;
}
textarea { min-height: 8rem; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; }
[aria-invalid="true"] { border-color: var(--bad) !important; }
button, .button { font: inherit; font-weight: 600; padding: .4rem .9rem; border-radius: .3rem; border: 1px solid var(--accent); background: var(--accent); color: var(--accent-text); cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); color: #fff; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .75rem 0; }
.filters { display: grid; gap: .6rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 11rem), 1fr)); align-items: end; }
.filters .wide { grid-column: 1 / -1; }
.pager { display: flex; gap: 1rem; align-items: center; margin: .5rem 0 1rem; }
.stat { font-size: 1.6rem; font-weight: 700; }
ul.plain { list-style: none; padding: 0; margin: 0; }
ul.plain li { padding: .25rem 0; border-bottom: 1px solid var(--line); }
ul.plain li:last-child { border-bottom: 0; }
.reasons label { display: block; padding: .35rem 0; }
.reasons .help { display: block; margin-left: 1.6rem; font-weight: normal; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0,0,0,0); white-space: nowrap; border: 0; }
.signin { max-width: 24rem; margin: 3rem auto; }
/* The judge's verdict, shown inside the console. */
.status { display: inline-block; padding: .15rem .6rem; border-radius: .3rem; color: #fff; font-weight: 600; }
.status.verified { background: var(--ok); } .status.failed { background: var(--bad); } .status.absent { background: var(--warn); }
.ok { color: var(--ok); } .bad { color: var(--bad); }
/* Wide screens: serials, fingerprints and names break only where they have a break point. */
@media (min-width: 64rem) { .table-wrap .mono { overflow-wrap: normal; } }
@media (max-width: 40rem) {
  main { padding: .6rem; }
  table.kv th { width: auto; }
  header.top .who { margin-left: 0; }
}
/* Admin pages: checkbox groups, the per-user forms, a one-time password, audit details. */
.checks { display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
.checks label, .field label.check { font-weight: 400; }
.user-actions { display: flex; flex-wrap: wrap; gap: .4rem; }
.user-actions form.inline { gap: .3rem; align-items: center; }
.user-actions select { width: auto; }
code.secret { font-size: 1.1rem; padding: .2rem .4rem; background: #eef1f4; border-radius: .3rem; user-select: all; }
table.audit details summary { cursor: pointer; }
/* Times on one line, details given room; at 360 px the table keeps readable columns and scrolls inside its region. */
table.audit { min-width: 56rem; }
table.audit td:first-child { white-space: nowrap; }
table.audit td:last-child { min-width: 16rem; max-width: 30rem; }
table.audit td:last-child .mono { overflow-wrap: anywhere; }
/* Issue, judge and issuer pages: radio choices, download buttons, the issuer chain, the verdict. */
.choices label { display: block; padding: .25rem 0; font-weight: normal; }
ul.downloads { list-style: none; padding: 0; margin: .5rem 0 1rem; display: flex; flex-wrap: wrap; gap: .5rem; }
ol.chain li { padding: .15rem 0; overflow-wrap: anywhere; }
.verdict { border-bottom: 1px solid var(--line); margin-bottom: 1rem; }
.verdict ol.hints li { margin-bottom: .4rem; }
textarea[readonly] { background: #eef1f4; }
`;
