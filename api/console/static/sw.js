// The console's service worker: it keeps the app shell, so the console opens with no
// connection. The API (/api/) is never answered from here: what the ledger says is
// asked of the ledger, and the page keeps its own last reads in IndexedDB.

const CACHE = "trazo-console-1";
const SHELL = [
  "/console/",
  "/console/app.js",
  "/console/db.js",
  "/console/forms.js",
  "/console/i18n.js",
  "/console/keys.js",
  "/console/outbox.js",
  "/console/server.js",
  "/console/console.css",
  "/console/icon.svg",
  "/console/manifest.webmanifest",
  "/console/tables.json",
  "/console/messages/en.json",
  "/console/messages/es.json",
  "/console/messages/pt.json",
  "/console/messages/fr.json",
  "/static/js/dsse.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

// The shell: the copy kept here at once, refreshed from the server behind it.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin) return;
  const path = url.pathname === "/console/index.html" ? "/console/" : url.pathname;
  if (!SHELL.includes(path)) return;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const kept = await cache.match(path);
      const fresh = fetch(event.request)
        .then((response) => {
          if (response.ok) cache.put(path, response.clone());
          return response;
        })
        .catch(() => null);
      if (kept) {
        event.waitUntil(fresh);
        return kept;
      }
      return (await fresh) || Response.error();
    }),
  );
});
