/**
 * The page's HTML: a login form and the panels, empty. Everything in it is static; the
 * scripts fill the panels from the admin API once the token is given. No inline script or
 * style (the CSP forbids both), no resource from another origin.
 */
export const PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>meshlet node</title>
<link rel="stylesheet" href="/ui/style.css">
<link rel="icon" href="data:,">
<script type="module" src="/ui/app.js"></script>
</head>
<body>
<header>
  <h1>meshlet <span id="node-name"></span></h1>
  <span id="status" class="muted">not signed in</span>
  <button id="logout" type="button" hidden>forget token</button>
</header>
<section id="login" hidden>
  <h2>Admin token</h2>
  <p>This page reads the agent's admin API, which needs the admin token. On the node:
  <code>cat /run/meshlet/admin-token</code> (root). The token stays in this tab only
  (sessionStorage) and is sent as an <code>Authorization</code> header; it changes at every agent start.</p>
  <form id="login-form" autocomplete="off">
    <input id="token" name="token" type="password" size="70" placeholder="64 hex characters" aria-label="admin token">
    <button type="submit">Open</button>
  </form>
  <p id="login-error" class="bad"></p>
</section>
<main id="panels" hidden>
  <section id="health" class="panel"><h2>Health</h2><div class="body"></div></section>
  <section id="controller" class="panel"><h2>Controller</h2><div class="body"></div></section>
  <section id="drift" class="panel"><h2>Capture rules</h2><div class="body"></div></section>
  <section id="workloads" class="panel wide"><h2>Workloads and certificates</h2><div class="body"></div></section>
  <section id="signals" class="panel wide"><h2>Golden signals <span class="muted">(from the live tap, since this page opened)</span></h2><div class="body"></div></section>
  <section id="connections" class="panel wide"><h2>Live connections</h2><div class="body"></div></section>
  <section id="denials" class="panel wide"><h2>Denials</h2><div class="body"></div></section>
  <section id="feed" class="panel wide"><h2>Live traffic <span id="tap-status" class="muted"></span></h2><div class="body"></div></section>
</main>
</body>
</html>
`;
