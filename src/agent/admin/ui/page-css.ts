/** The page's style sheet (served as `/ui/style.css`: the CSP allows no inline style). */
export const PAGE_CSS = String.raw`
:root { --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #1f2328; background: #fff; }
header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1em; border-bottom: 1px solid var(--line); background: var(--bg); }
h1 { font-size: 1.2em; margin: 0; }
h2 { font-size: 1em; margin: 0 0 .4em; }
code { background: var(--bg); padding: 0 .2em; }
#login { padding: 1em; max-width: 50em; }
#login input { font: inherit; padding: .3em; }
main { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: .8em; padding: .8em; }
.panel { border: 1px solid var(--line); border-radius: 6px; padding: .6em .8em; overflow: auto; max-height: 28em; }
.wide { grid-column: 1 / -1; }
table { border-collapse: collapse; width: 100%; font-size: .92em; }
th, td { text-align: left; padding: .15em .5em; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: var(--bg); position: sticky; top: 0; }
.ok { color: var(--ok); }
.warn { color: var(--warn); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.muted { color: var(--muted); font-weight: normal; }
.badge { display: inline-block; padding: 0 .5em; border-radius: 1em; border: 1px solid currentColor; }
ul { margin: .2em 0; padding-left: 1.2em; }
svg.spark { vertical-align: middle; }
svg.spark .rate { fill: none; stroke: #0969da; stroke-width: 1.5; }
svg.spark .errors { fill: none; stroke: var(--bad); stroke-width: 1.5; }
pre { margin: .2em 0; font-size: .85em; white-space: pre-wrap; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
`;
