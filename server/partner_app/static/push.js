// Reminders on this phone (web push through Firebase Cloud Messaging). The Firebase SDK
// is loaded only here, when the partner switches push on, never with the app itself.

import { call, ok } from "./api.js";
import { cached, remember } from "./store.js";

const SDK = "/app/static/vendor/firebase";
const TIMEOUT = 20_000;
let settings;

// The operator's settings: {enabled: false} when push is not set up.
export async function pushSettings() {
  if (!settings) {
    try {
      const response = await fetch("/app/push-config.json", { cache: "no-store" });
      settings = response.ok ? await response.json() : { enabled: false };
    } catch {
      return { enabled: false }; // offline: ask again next time
    }
  }
  return settings;
}

export async function pushDevice() {
  return cached("push-device");
}

function withTimeout(promise) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), TIMEOUT)),
  ]);
}

async function messaging(config) {
  const { initializeApp, getApps } = await import(`${SDK}/firebase-app.js`);
  const sdk = await import(`${SDK}/firebase-messaging.js`);
  const app = getApps()[0] || initializeApp(config.firebase);
  return { sdk, messaging: sdk.getMessaging(app) };
}

// Switch push on: permission, a token for this phone's service worker, a device on the
// server. Resolves to the device, rejects with an Error whose message is a string key.
export async function enablePush() {
  const config = await pushSettings();
  if (!config.enabled) throw new Error("pushUnavailable");
  if (!("Notification" in self) || !("PushManager" in self)) throw new Error("pushUnsupported");
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error("pushDenied");
  const registration = await navigator.serviceWorker.ready;
  let token;
  try {
    const { sdk, messaging: m } = await messaging(config);
    token = await withTimeout(sdk.getToken(m, { vapidKey: config.vapidKey, serviceWorkerRegistration: registration }));
  } catch (error) {
    console.warn("push registration failed", error);
    throw new Error("pushFailed");
  }
  const response = await call("POST", "me/devices", { token, platform: "web" });
  if (!ok(response)) throw new Error("pushFailed");
  await remember("push-device", { id: response.body.id });
  return response.body;
}

// Switch push off on this phone: the server forgets the device, the browser the subscription.
export async function disablePush() {
  const device = await pushDevice();
  if (device) await call("DELETE", `me/devices/${encodeURIComponent(device.id)}`);
  await remember("push-device", null);
  await unsubscribe();
}

// Sign-out: whatever else happens, this browser stops receiving pushes.
export async function unsubscribe() {
  if (!("serviceWorker" in navigator)) return;
  for (const registration of await navigator.serviceWorker.getRegistrations()) {
    const subscription = await registration.pushManager?.getSubscription();
    if (subscription) await subscription.unsubscribe().catch(() => false);
  }
}
