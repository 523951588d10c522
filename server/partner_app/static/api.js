// The app's only way to the server: /app/api/<path>, authenticated by an HttpOnly cookie
// the page never sees, with the CSRF header the server asks for (see server/partner_app/bridge.py).

export class Offline extends Error {}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)tandem_app_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : "1";
}

export function hasSession() {
  return /(?:^|;\s*)tandem_app_csrf=[^;]+/.test(document.cookie);
}

// Resolves to {status, body, headers}; rejects with Offline when the server is unreachable.
export async function call(method, path, body) {
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { "X-Tandem-CSRF": csrfToken(), Accept: "application/json" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/app/api/${path}`, init);
  } catch (error) {
    throw new Offline(String(error));
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  // A gateway or proxy answering for a server that is down counts as offline.
  if ([502, 503, 504].includes(response.status) && !(data && data.status)) {
    throw new Offline(`status ${response.status}`);
  }
  return { status: response.status, body: data, headers: response.headers };
}

export const ok = (response) => response.status >= 200 && response.status < 300;
