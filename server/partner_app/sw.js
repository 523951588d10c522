// The partner app's service worker (scope /app/): the app shell offline, and push.
// Served by Tandem with its release's version and file list filled in.
const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const CACHE = `app-shell-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("app-shell-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith("/app/") || url.pathname.startsWith("/app/api/")) return;
  if (event.request.mode === "navigate") {
    // The page: the network's when it answers, else the copy (the app works offline).
    event.respondWith(
      fetch(event.request).catch(() => caches.match("/app/", { cacheName: CACHE })),
    );
    return;
  }
  event.respondWith(
    caches.match(event.request, { cacheName: CACHE, ignoreSearch: true }).then((hit) => hit || fetch(event.request)),
  );
});

// A push shows a discreet notification: the server's wording, never check-in content.
self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : "" };
  }
  const title = data.title || (data.notification && data.notification.title) || "Reminder";
  const body = data.body || (data.notification && data.notification.body) || "";
  event.waitUntil(
    self.clients.matchAll({ includeUncontrolled: true, type: "window" }).then((clients) => {
      clients.forEach((client) => client.postMessage({ type: "push", title, body }));
      return self.registration.showNotification(title, { body, icon: "/app/static/icon.svg", tag: "reminder" }).catch(() => undefined);
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((clients) => {
      const open = clients.find((c) => new URL(c.url).pathname.startsWith("/app/"));
      return open ? open.focus() : self.clients.openWindow("/app/");
    }),
  );
});
