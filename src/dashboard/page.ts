/** The dashboard's HTML and CSS, served by src/http/dashboard-route.ts; its script is app.ts, compiled. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>longrun</title>
<link rel="stylesheet" href="/dashboard/app.css">
<link rel="stylesheet" href="/dashboard/uplot.css">
<script src="/dashboard/uplot.js"></script>
<script type="module" src="/dashboard/app.js"></script>
</head>
<body>
<header>
  <h1>longrun</h1>
  <form id="signin" aria-label="Sign in">
    <label for="token">Bearer token</label>
    <input id="token" name="token" type="password" autocomplete="off" placeholder="paste a token (longrun token)">
    <button type="submit">Sign in</button>
  </form>
  <button id="signout" hidden>Sign out</button>
</header>
<nav id="nav" aria-label="Views" hidden>
  <a href="#/overview" data-view="overview">Overview</a>
  <a href="#/operations" data-view="operations">All operations</a>
  <a href="#/collection" data-view="collection">One collection</a>
</nav>
<main id="main" hidden>
<section id="view-overview" aria-labelledby="overview-title" hidden>
  <h2 id="overview-title">Overview</h2>
  <div class="grid">
    <div><h3>By family</h3><table id="family-counts" aria-label="Operations by family and status"></table></div>
    <div><h3>By handler</h3><table id="handler-counts" aria-label="Operations by handler and status"></table></div>
  </div>
  <p id="chart-window">Charts: <a href="#/overview" data-window="hour">last hour</a> · <a href="#/overview?window=day" data-window="day">last day</a></p>
  <div class="grid">
    <figure><figcaption>Created, finished and failed per bucket (a minute over the last hour, 15 minutes over the last day)</figcaption><div id="chart-throughput" class="chart"></div></figure>
    <figure><figcaption>Duration p50 / p95 (ms) per bucket</figcaption><div id="chart-duration" class="chart"></div></figure>
  </div>
  <p id="totals"></p>
  <h3>Latest failures</h3>
  <ul id="failures" aria-label="Latest failures"></ul>
</section>
<section id="view-operations" aria-labelledby="operations-title" hidden>
  <h2 id="operations-title">All operations</h2>
  <form id="all-filters" aria-label="Filters for all operations">
    <label>Family <select id="f-family"><option value="">any</option><option>authentication</option><option>roleManagementAlerts</option><option>industryData</option><option>attackSimulation</option><option>engagement</option><option>sites</option><option>app</option></select></label>
    <label>Status <select id="f-status"><option value="">any</option><option>notStarted</option><option>running</option><option>succeeded</option><option>failed</option><option>canceled</option></select></label>
    <label>Type <input id="f-type" placeholder="richLongRunningOperation"></label>
    <label>Handler <input id="f-handler"></label>
    <label>Collection <input id="f-collection" placeholder="sites/s1"></label>
    <label>Operation id <input id="f-id"></label>
    <label>Created after <input id="f-created" type="datetime-local"></label>
    <button type="submit">Apply</button>
    <button type="button" id="bulk-cancel">Cancel all that match…</button>
  </form>
  <table id="all-ops" aria-label="All operations">
    <thead><tr><th>ID</th><th>Family</th><th>Collection</th><th>Type</th><th>Status</th><th>Progress</th><th>Handler</th><th>Attempts</th><th>Created</th></tr></thead>
    <tbody></tbody>
  </table>
  <button id="all-next" hidden>Next page</button>
</section>
<section id="view-detail" aria-labelledby="op-title" hidden>
  <h2 id="op-title"></h2>
  <div class="actions"><button id="op-retry" hidden>Retry</button><button id="op-cancel" hidden>Cancel operation</button><button id="op-delete" hidden>Delete</button></div>
  <dl id="op-facts"></dl>
  <h3>Attempts</h3>
  <table id="op-attempts" aria-label="Attempts"><thead><tr><th>#</th><th>Worker</th><th>Started</th><th>Ended</th><th>Duration (ms)</th><th>Outcome</th><th>Error</th></tr></thead><tbody></tbody></table>
  <h3>History</h3><ol id="op-history"></ol>
  <h3>Graph JSON</h3><pre id="op-json" tabindex="0"></pre>
</section>
<dialog id="confirm" aria-labelledby="confirm-text">
  <p id="confirm-text"></p>
  <div class="actions"><button id="confirm-yes">Yes, cancel them</button><button id="confirm-no" autofocus>No</button></div>
</dialog>
<p id="console-message" role="status"></p>
<section id="view-collection" aria-label="One collection" hidden>
  <form id="filters" aria-label="Filters">
    <label>Collection
      <select id="collection">
        <option value="/v1.0/operations">/operations</option>
        <option value="/v1.0/security/attackSimulation/operations">attack simulation</option>
        <option value="/v1.0/employeeExperience/engagementAsyncOperations">Viva Engage</option>
        <option value="/beta/identityGovernance/roleManagementAlerts/operations">role-management alerts (beta)</option>
        <option value="/beta/external/industryData/operations">industry data (beta)</option>
        <option value="/v1.0/me/authentication/operations">my authentication operations</option>
      </select>
    </label>
    <label>or path <input id="custom" placeholder="/v1.0/sites/{siteId}/operations"></label>
    <label>Status
      <select id="status">
        <option value="">any</option><option>notStarted</option><option>running</option>
        <option>succeeded</option><option>failed</option><option>canceled</option>
      </select>
    </label>
    <label>Type <input id="type" placeholder="e.g. richLongRunningOperation"></label>
    <label>Created after <input id="after" type="datetime-local"></label>
    <button type="submit">Apply</button>
  </form>
  <p id="message" role="status"></p>
  <table id="ops" aria-label="Operations">
    <thead><tr><th>ID</th><th>Type</th><th>Status</th><th>Progress</th><th>Created</th><th>Last action</th><th>Resource</th></tr></thead>
    <tbody></tbody>
  </table>
  <button id="next" hidden>Next page</button>
</section>
</main>
<dialog id="detail" aria-label="Operation">
  <h2 id="detail-title"></h2>
  <div class="actions"><button id="cancel">Cancel operation</button><button id="delete">Delete</button><button id="close">Close</button></div>
  <h3>JSON</h3><pre id="json"></pre>
  <h3>Timeline</h3><ol id="timeline"></ol>
</dialog>
</body>
</html>`;

export const DASHBOARD_CSS = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1b1f; --muted: #666; --line: #ddd; --accent: #2857d8;
  --ok: #1a7f37; --bad: #c62828; --run: #8a5300; --idle: #666; --cancel: #8e24aa; }
@media (prefers-color-scheme: dark) { :root { --bg: #17181c; --fg: #e8e8ec; --muted: #a0a0a8; --line: #33343a;
  --accent: #8fb0ff; --ok: #56d364; --bad: #ff7b72; --run: #e3b341; --idle: #9a9aa2; --cancel: #d2a8ff; } }
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; gap: 1rem; align-items: center; padding: .5rem 1rem; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.1rem; margin: 0 1rem 0 0; }
main { padding: 1rem; }
form { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; }
label { display: flex; flex-direction: column; gap: .2rem; color: var(--muted); font-size: 12px; }
input, select, button { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 4px; padding: .3rem .5rem; }
button { cursor: pointer; } button:hover { border-color: var(--accent); }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
table { width: 100%; border-collapse: collapse; margin-top: 1rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.resource { max-width: 28rem; overflow: hidden; text-overflow: ellipsis; }
tbody tr { cursor: pointer; } tbody tr:hover, tbody tr:focus { background: color-mix(in srgb, var(--accent) 12%, transparent); }
.status { display: inline-block; padding: 0 .45rem; border-radius: 999px; border: 1px solid currentColor; font-size: 12px; }
.succeeded { color: var(--ok); } .failed { color: var(--bad); } .running { color: var(--run); }
.notStarted { color: var(--idle); } .canceled, .unknownFutureValue { color: var(--cancel); }
progress { width: 8rem; }
dialog { background: var(--bg); color: var(--fg); border: 1px solid var(--line); border-radius: 8px; width: min(60rem, 90vw); }
pre { background: color-mix(in srgb, var(--fg) 6%, transparent); padding: .75rem; overflow: auto; max-height: 40vh; }
.actions { display: flex; gap: .5rem; }
#message, #console-message { color: var(--muted); }
nav { display: flex; gap: 1rem; padding: .5rem 1rem; border-bottom: 1px solid var(--line); }
nav a { color: var(--accent); } nav a[aria-current=page] { font-weight: 600; text-decoration: none; }
a { color: var(--accent); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(26rem, 1fr)); gap: 1rem; }
figure { margin: 0; } figcaption { color: var(--muted); font-size: 12px; }
.chart { min-height: 220px; }
.u-legend, .u-legend th, .u-legend td { color: var(--fg); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; } dt { color: var(--muted); } dd { margin: 0; }
.error { color: var(--bad); }
#failures li { margin: .25rem 0; }
`;
