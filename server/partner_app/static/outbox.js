// Check-ins recorded on the phone go to the outbox first and leave it only after the
// server answered 2xx. Sending happens on load, on `online`, when the app comes to the
// foreground and on "Send now", with capped exponential backoff; every retry carries
// the same client id, so the API's idempotency makes each check-in count exactly once.
// A 409 or 422 is kept and shown to the partner, never dropped silently.

import { call, Offline } from "./api.js";
import { all, put, remove } from "./store.js";

const BASE_DELAY = 5_000;
const MAX_DELAY = 5 * 60_000;
let running = null;
let timer = null;
let user = null; // only the signed-in person's check-ins are shown and sent

const listeners = new Set();

export const onChange = (listener) => listeners.add(listener);
const notify = (event) => listeners.forEach((listener) => listener(event));

// Whose check-ins these are: a check-in kept on a shared phone is never sent (or
// shown) under someone else's account.
export function setUser(id) {
  user = id;
}

export async function pending() {
  return (await all("outbox")).filter((i) => i.user === user).sort((a, b) => a.created - b.created);
}

export async function enqueue(body) {
  const item = { key: body.id, user, body, created: Date.now(), attempts: 0, nextAt: 0, state: "waiting" };
  await put("outbox", item);
  notify({ type: "queued", item });
  return item;
}

export async function discard(key) {
  await remove("outbox", key);
  notify({ type: "discarded", key });
}

function delay(attempts) {
  return Math.min(MAX_DELAY, BASE_DELAY * 2 ** Math.max(0, attempts - 1));
}

function schedule(items) {
  clearTimeout(timer);
  const waits = items.filter((i) => i.state === "waiting").map((i) => i.nextAt - Date.now());
  if (waits.length) timer = setTimeout(() => flush(), Math.max(1_000, Math.min(...waits)));
}

// Send what is due (everything waiting when `force`). Returns the outcomes by id.
// Asked while a round is under way (the network came back during it, say), it runs
// again right after: a request to send is never swallowed.
export function flush({ force = false } = {}) {
  if (running) return running.then(() => flush({ force }));
  running = (async () => {
    const outcomes = {};
    try {
      for (const item of await pending()) {
        if (item.state !== "waiting" || (!force && item.nextAt > Date.now())) continue;
        let response;
        try {
          response = await call("POST", "checkins", item.body);
        } catch (error) {
          if (!(error instanceof Offline)) throw error;
          await backOff(item);
          outcomes[item.key] = { state: "waiting" };
          break; // offline: the others would fail the same way
        }
        if (response.status >= 200 && response.status < 300) {
          await remove("outbox", item.key);
          outcomes[item.key] = { state: "sent", checkin: response.body };
          notify({ type: "sent", key: item.key, checkin: response.body });
        } else if (response.status === 409 || response.status === 422) {
          item.state = "rejected";
          item.problem = response.body;
          await put("outbox", item);
          outcomes[item.key] = { state: "rejected", problem: response.body };
        } else if (response.status === 401) {
          outcomes[item.key] = { state: "waiting" };
          notify({ type: "signed-out" });
          break;
        } else {
          await backOff(item); // 429, 5xx: the server will be back
          outcomes[item.key] = { state: "waiting" };
        }
      }
    } finally {
      running = null;
      const left = await pending();
      schedule(left);
      notify({ type: "flushed", left });
    }
    return outcomes;
  })();
  return running;
}

async function backOff(item) {
  item.attempts += 1;
  item.nextAt = Date.now() + delay(item.attempts);
  await put("outbox", item);
}

export function start() {
  if (!user) throw new Error("outbox.start() before setUser()");
  window.addEventListener("online", () => flush({ force: true }));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") flush();
  });
  flush({ force: true });
}
