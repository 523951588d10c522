// The partner app: one page, screens drawn by script. Nothing about what is on screen
// goes into the URL, the page title or the browser history (a shared phone shows them).

import { call, hasSession, ok, Offline } from "./api.js";
import { h, markdown } from "./dom.js";
import { missingAnswers, raisesFlag, readAnswers, renderItem, renderQuestion, showErrors } from "./form.js";
import * as outbox from "./outbox.js";
import { disablePush, enablePush, pushDevice, pushSettings, unsubscribe } from "./push.js";
import { cached, remember, wipe } from "./store.js";
import { STRINGS, t } from "./strings.js";

const main = document.getElementById("main");
const statusBar = document.getElementById("status");
const tabs = document.getElementById("tabs");
const HIDE_URL = "https://www.wikipedia.org/";
const TABS = [
  ["week", "tabWeek"],
  ["mine", "tabMine"],
  ["reminders", "tabReminders"],
  ["account", "tabAccount"],
];
const state = { me: null, view: null, params: {} };

// Draw a screen (leaving out the parts that are null: nothing to show).
function render(...parts) {
  main.replaceChildren(...parts.flat(Infinity).filter((part) => part !== null && part !== undefined && part !== false));
}

// --- navigation (history entries carry no content: the URL stays /app/) --------------

const SCREENS = {};

function go(view, params = {}, { replace = false } = {}) {
  const entry = { view, params };
  if (replace) history.replaceState(entry, "", "/app/");
  else history.pushState(entry, "", "/app/");
  return show(view, params);
}

async function show(view, params = {}) {
  state.view = view;
  state.params = params;
  const signedIn = view !== "signin" && view !== "join";
  tabs.hidden = !signedIn;
  if (signedIn) drawTabs(view);
  render(h("p", { class: "loading" }, t("loading")));
  try {
    await SCREENS[view](params);
  } catch (error) {
    if (error instanceof SignedOut) return go("signin", {}, { replace: true });
    render(h("p", { class: "notice" }, t("somethingWrong")));
    console.error(error);
  }
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

window.addEventListener("popstate", (event) => {
  const entry = event.state || { view: state.me ? "week" : "signin", params: {} };
  show(entry.view, entry.params);
});

function drawTabs(current) {
  const section = ["exercise", "checkin", "result", "measure", "measureResult"].includes(current) ? "week" : current;
  tabs.replaceChildren(
    ...TABS.map(([view, label]) =>
      h(
        "button",
        { type: "button", class: "tab", "aria-current": view === section ? "page" : false, onclick: () => go(view) },
        t(label),
      ),
    ),
  );
}

class SignedOut extends Error {}

// A GET that falls back to the phone's copy when offline.
async function load(path, cacheKey) {
  try {
    const response = await call("GET", path);
    if (response.status === 401) throw new SignedOut();
    if (!ok(response)) throw new Error(`GET ${path}: ${response.status}`);
    if (cacheKey) await remember(cacheKey, response.body);
    return { data: response.body, fresh: true, headers: response.headers };
  } catch (error) {
    if (!(error instanceof Offline) || !cacheKey) throw error;
    const data = await cached(cacheKey);
    if (data === undefined) throw error;
    return { data, fresh: false };
  }
}

function heading(text) {
  return h("h1", { class: "title" }, text);
}

function backButton(view, params) {
  return h("button", { type: "button", class: "back", onclick: () => (history.state ? history.back() : go(view, params)) }, `← ${t("back")}`);
}

function needsNetwork() {
  return h("p", { class: "notice" }, t("needsNetwork"));
}

function localDay(iso) {
  return new Date(iso).toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short" });
}

function localTime(iso) {
  return new Date(iso).toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

// --- sign in and join --------------------------------------------------------------

function input(name, label, attrs = {}, hint) {
  const id = `f-${name}`;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    h("input", { id, name, "aria-describedby": `${hint ? `${id}-hint ` : ""}err-${name}`, ...attrs }),
    h("p", { class: "error", id: `err-${name}`, hidden: true }),
  );
}

function formMessage() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

function say(node, text) {
  node.textContent = text || "";
  node.hidden = !text;
}

function problemText(body) {
  return (body && (body.detail || body.title)) || t("somethingWrong");
}

SCREENS.signin = async () => {
  const message = formMessage();
  const form = h(
    "form",
    { class: "card", novalidate: true },
    input("email", t("email"), { type: "email", autocomplete: "username", required: true, inputmode: "email" }),
    input("password", t("password"), { type: "password", autocomplete: "current-password", required: true }),
    message,
    h("button", { type: "submit", class: "primary" }, t("signIn")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = t("signingIn");
    try {
      const response = await call("POST", "auth/token", {
        email: form.email.value.trim(),
        password: form.password.value,
      });
      if (ok(response)) return signedIn();
      showErrors(form, response.body?.errors);
      say(message, problemText(response.body));
    } catch (error) {
      say(message, error instanceof Offline ? t("needsNetwork") : t("somethingWrong"));
    } finally {
      button.disabled = false;
      button.textContent = t("signIn");
    }
  });
  render(
    heading(t("signInTitle")),
    form,
    h("p", {}, h("button", { type: "button", class: "link", onclick: () => go("join") }, t("haveInvite"))),
    // A page of its own (outside the app's scope): it works without the app's session.
    h("p", {}, h("a", { href: "/account/forgot-password" }, t("forgotPassword"))),
  );
};

function timezoneField(current) {
  const zone = current || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [zone];
  const list = h("datalist", { id: "zones" }, zones.map((z) => h("option", { value: z })));
  const field = input("timezone", t("timezone"), { type: "text", list: "zones", value: zone, autocomplete: "off", required: true }, t("timezoneHint"));
  field.append(list);
  return field;
}

SCREENS.join = async () => {
  const message = formMessage();
  const form = h(
    "form",
    { class: "card", novalidate: true },
    h("p", {}, t("joinIntro")),
    input("code", t("inviteCode"), { type: "text", autocomplete: "off", autocapitalize: "characters", spellcheck: "false", required: true }, t("inviteHint")),
    input("name", t("yourName"), { type: "text", autocomplete: "given-name", required: true, maxlength: 100 }),
    input("email", t("email"), { type: "email", autocomplete: "email", required: true, inputmode: "email" }),
    input("password", t("newPassword"), { type: "password", autocomplete: "new-password", required: true, minlength: 10 }),
    timezoneField(),
    message,
    h("button", { type: "submit", class: "primary" }, t("join")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const code = form.code.value.trim();
      const response = await call("POST", `invites/${encodeURIComponent(code || "-")}/accept`, {
        name: form.name.value.trim(),
        email: form.email.value.trim(),
        password: form.password.value,
        timezone: form.timezone.value.trim(),
      });
      if (ok(response)) return signedIn();
      const { general } = showErrors(form, response.body?.errors);
      say(message, [problemText(response.body), ...general].join(" "));
    } catch (error) {
      say(message, error instanceof Offline ? t("needsNetwork") : t("somethingWrong"));
    } finally {
      button.disabled = false;
    }
  });
  render(
    heading(t("joinTitle")),
    form,
    h("p", {}, h("button", { type: "button", class: "link", onclick: () => go("signin") }, t("haveAccount"))),
  );
};

async function signedIn() {
  const response = await call("GET", "me");
  if (!ok(response)) throw new SignedOut();
  if (response.body.role !== "client") return sendToPortal();
  state.me = response.body;
  await remember("me", state.me);
  outbox.setUser(state.me.id);
  startOffline();
  return go("week", {}, { replace: true });
}

async function sendToPortal() {
  render(h("p", { class: "notice", role: "status" }, t("therapistGoesToPortal")));
  try {
    await call("POST", "auth/logout");
  } finally {
    location.replace("/portal/");
  }
}

// --- offline: service worker, persistent storage, the outbox -------------------------

let offlineStarted = false;
let sentSinceDraw = false;

function startOffline() {
  if (offlineStarted) return;
  offlineStarted = true;
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch((e) => console.warn(e));
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data?.type === "push") document.dispatchEvent(new CustomEvent("app-push", { detail: event.data }));
    });
  }
  if (navigator.storage?.persist) navigator.storage.persist().catch(() => false);
  outbox.start();
}

outbox.onChange(async (event) => {
  if (event.type === "signed-out") return go("signin", {}, { replace: true });
  drawStatus();
  if (state.view !== "week") return;
  if (event.type === "sent") sentSinceDraw = true;
  if (event.type === "flushed" && sentSinceDraw) {
    // Sent: this week's counts changed on the server; draw them again.
    sentSinceDraw = false;
    SCREENS.week().catch(() => refreshOutboxPanel());
  } else if (["flushed", "discarded"].includes(event.type)) {
    refreshOutboxPanel();
  }
});

function drawStatus() {
  statusBar.replaceChildren(navigator.onLine ? "" : h("p", { class: "offline" }, t("offlineBanner")));
}
window.addEventListener("online", drawStatus);
window.addEventListener("offline", drawStatus);

async function outboxPanel() {
  const items = await outbox.pending();
  if (!items.length || !state.me) return h("div", { id: "outbox" });
  const waiting = items.filter((i) => i.state === "waiting");
  const rejected = items.filter((i) => i.state === "rejected");
  const exerciseTitle = (slug) => titles[slug] || slug;
  return h(
    "section",
    { id: "outbox", class: "card outbox", "aria-labelledby": "outbox-title" },
    h(
      "h2",
      { id: "outbox-title" },
      waiting.length === 0 ? t("rejectedTitle") : waiting.length === 1 ? t("waitingOne") : t("waitingMany", { n: waiting.length }),
    ),
    h(
      "ul",
      { class: "plain" },
      items.map((item) =>
        h(
          "li",
          { class: `queued ${item.state}` },
          h("span", { class: "q-title" }, exerciseTitle(item.body.exercise), " · ", localTime(item.body.occurred_at)),
          h("span", { class: "badge" }, item.state === "waiting" ? t("waitingToSend") : t("rejected")),
          item.state === "rejected"
            ? h(
                "div",
                { class: "rejected-detail" },
                h("p", {}, t("rejectedHelp")),
                h("p", { class: "error" }, problemText(item.problem)),
                Object.entries(item.problem?.errors || {}).map(([k, v]) => h("p", { class: "error" }, `${k}: ${[].concat(v).join(" ")}`)),
                h("button", { type: "button", class: "secondary", onclick: async () => { if (confirm(t("discardConfirm"))) await outbox.discard(item.key); } }, t("discard")),
              )
            : null,
        ),
      ),
    ),
    waiting.length
      ? h("button", { type: "button", class: "primary", id: "send-now", onclick: async (e) => { e.target.disabled = true; e.target.textContent = t("sending"); await outbox.flush({ force: true }); } }, t("sendNow"))
      : null,
  );
}

async function refreshOutboxPanel() {
  const old = document.getElementById("outbox");
  if (old) old.replaceWith(await outboxPanel());
}

// --- this week ----------------------------------------------------------------------

const titles = {};

SCREENS.week = async () => {
  const { data: hw, fresh } = await load("me/homework", "homework");
  for (const item of hw.items || []) titles[item.exercise] = item.title;
  const parts = [heading(t("weekTitle"))];
  if (hw.week) parts.push(h("p", { class: "sub" }, t("weekRange", { start: localDay(hw.week.start + "T12:00"), end: localDay(hw.week.end + "T12:00") })));
  if (!fresh) parts.push(h("p", { class: "notice" }, t("lastUpdated")));
  parts.push(await outboxPanel());
  if (hw.message) parts.push(h("p", { class: "notice status-message" }, hw.message));
  if (!hw.assignment_id) parts.push(h("p", { class: "notice" }, t("nothingAssigned")));
  if (hw.stage) {
    parts.push(
      h(
        "section",
        { class: "card stage", "aria-labelledby": "stage-title" },
        h("h2", { id: "stage-title" }, t("stage", { index: hw.stage.index, title: hw.stage.title })),
        markdown(hw.stage.guidance, 3),
        hw.stage.includes?.length ? [h("h3", {}, t("included")), h("ul", {}, hw.stage.includes.map((x) => h("li", {}, x)))] : null,
        hw.stage.off_limits?.length ? [h("h3", {}, t("offLimits")), h("ul", {}, hw.stage.off_limits.map((x) => h("li", {}, x)))] : null,
      ),
    );
  }
  if (hw.items?.length) {
    parts.push(
      h(
        "ul",
        { class: "plain items" },
        hw.items.map((item) =>
          h(
            "li",
            {},
            h(
              "button",
              { type: "button", class: "item card", onclick: () => go("exercise", { slug: item.exercise, version: item.version }) },
              h("span", { class: "item-title" }, item.title),
              h(
                "span",
                { class: "item-meta" },
                t("doneOf", { done: item.done_this_week, target: item.per_week }),
                item.declined_this_week ? ` · ${t("declined", { n: item.declined_this_week })}` : "",
                " · ",
                item.joint ? t("joint") : t("solo"),
              ),
              item.paused ? h("span", { class: "badge paused" }, t("paused")) : item.due_today ? h("span", { class: "badge due" }, t("dueToday")) : null,
            ),
          ),
        ),
      ),
    );
  }
  if (hw.measures_due?.length) parts.push(questionnairesCard(hw.measures_due));
  render(...parts);
  if (fresh) prefetchExercises(hw.items || []);
};

// --- questionnaires (measures): sent online only, never kept on the phone ----------------

function questionnairesCard(due) {
  return h(
    "section",
    { class: "card questionnaires", "aria-labelledby": "q-title" },
    h("h2", { id: "q-title" }, t("questionnaires")),
    h("p", { class: "sub" }, t("questionnairesIntro")),
    h(
      "ul",
      { class: "plain items" },
      due.map((m) =>
        h(
          "li",
          {},
          h(
            "button",
            { type: "button", class: "item card", onclick: () => go("measure", { slug: m.measure }) },
            h("span", { class: "item-title" }, m.title),
            h("span", { class: "item-meta" }, t("dueSince", { day: localDay(m.due_since) })),
          ),
        ),
      ),
    ),
  );
}

SCREENS.measure = async ({ slug }) => {
  let measures;
  try {
    ({ data: measures } = await load("measures", "measures"));
  } catch (error) {
    if (!(error instanceof Offline)) throw error;
    render(backButton("week"), h("p", { class: "notice" }, t("measureOnline")));
    return;
  }
  const measure = measures.find((m) => m.slug === slug);
  if (!measure) return go("week", {}, { replace: true });
  const message = formMessage();
  const form = h(
    "form",
    { class: "checkin measure-form", novalidate: true, autocomplete: "off" },
    h("p", { class: "sub" }, t("questionnairesIntro")),
    h("p", { class: "instructions" }, measure.instructions),
    measure.form.map(renderItem),
    message,
    h("button", { type: "submit", class: "primary" }, t("sendAnswers")),
  );
  form.addEventListener("change", (event) => {
    const question = event.target.closest("fieldset.question");
    const error = question?.querySelector(".error");
    if (error) error.hidden = true;
    question?.removeAttribute("aria-invalid");
    // Every marked answer given: the summary above the button goes too.
    if (!form.querySelector("[aria-invalid]")) say(message, "");
  });
  const responseId = crypto.randomUUID(); // the same id on every retry of this screen
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answers = readAnswers(form, measure.form);
    const missing = missingAnswers(measure.form, answers);
    if (missing.length) {
      const { first } = showErrors(form, Object.fromEntries(missing.map((k) => [k, [t("requiredQuestion")]])));
      say(message, t("fixErrors"));
      first?.closest("fieldset")?.querySelector("input")?.focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = t("saving");
    try {
      const response = await call("POST", "measure-responses", { id: responseId, measure: slug, answers });
      if (response.status === 401) throw new SignedOut();
      if (ok(response)) return go("measureResult", { guidance: response.body.guidance || null }, { replace: true });
      const { first, general } = showErrors(form, response.body?.errors);
      const notDue = response.body?.code === "measure_not_due";
      say(message, [notDue ? t("measureNotDue") : problemText(response.body), ...general].join(" "));
      (first || message).scrollIntoView({ block: "center" });
    } catch (error) {
      if (error instanceof SignedOut) throw error;
      say(message, error instanceof Offline ? t("measureOnline") : t("somethingWrong"));
    } finally {
      button.disabled = false;
      button.textContent = t("sendAnswers");
    }
  });
  render(
    backButton("week"),
    heading(measure.title),
    measure.recall ? h("p", { class: "sub" }, t("recall", { period: measure.recall })) : null,
    form,
  );
};

SCREENS.measureResult = async ({ guidance: words }) => {
  render(
    heading(t("questionnaires")),
    h("p", { class: "notice ok", role: "status" }, t("measureSent")),
    words ? guidance(words) : null,
    h("button", { type: "button", class: "primary", onclick: () => go("week", {}, { replace: true }) }, t("done")),
  );
};

// The exercise as frozen with the assignment (its version), else the catalog's.
function exercisePath(slug, version) {
  return `exercises/${encodeURIComponent(slug)}${version ? `?version=${encodeURIComponent(version)}` : ""}`;
}

// Keep every exercise of this week on the phone, for the exercise pages offline.
async function prefetchExercises(items) {
  for (const item of items) {
    try {
      await load(exercisePath(item.exercise, item.version), `exercise:${item.exercise}`);
    } catch {
      return;
    }
  }
}

// --- an exercise --------------------------------------------------------------------

SCREENS.exercise = async ({ slug, version }) => {
  let exercise;
  try {
    ({ data: exercise } = await load(exercisePath(slug, version), `exercise:${slug}`));
  } catch (error) {
    if (!(error instanceof Offline)) throw error;
    render(backButton("week"), h("p", { class: "notice" }, t("exerciseOffline")));
    return;
  }
  titles[slug] = exercise.title;
  render(
    backButton("week"),
    heading(exercise.title),
    h("p", { class: "sub" }, t("duration", { n: exercise.duration_minutes }), " · ", exercise.joint ? t("joint") : t("solo")),
    exercise.summary ? h("p", { class: "summary" }, exercise.summary) : null,
    h("section", { class: "card", "aria-labelledby": "how" }, h("h2", { id: "how" }, t("instructions")), markdown(exercise.instructions, 3)),
    exercise.includes?.length ? h("section", { class: "card" }, h("h2", {}, t("included")), h("ul", {}, exercise.includes.map((x) => h("li", {}, x)))) : null,
    exercise.off_limits?.length ? h("section", { class: "card" }, h("h2", {}, t("offLimits")), h("ul", {}, exercise.off_limits.map((x) => h("li", {}, x)))) : null,
    h("section", { class: "card safety", "aria-labelledby": "safety" }, h("h2", { id: "safety" }, t("safety")), markdown(exercise.safety, 3)),
    h("button", { type: "button", class: "primary sticky", onclick: () => go("checkin", { slug, version }) }, t("record")),
  );
};

// --- a check-in ---------------------------------------------------------------------

const VISIBILITIES = [
  ["private", "visPrivate", "visPrivateHint"],
  ["therapist", "visTherapist", "visTherapistHint"],
  ["couple", "visCouple", "visCoupleHint"],
];

SCREENS.checkin = async ({ slug, version }) => {
  const exercise = await cached(`exercise:${slug}`);
  const homework = await cached("homework");
  if (!exercise || !homework?.assignment_id) {
    render(backButton("exercise", { slug, version }), h("p", { class: "notice" }, t("exerciseOffline")));
    return;
  }
  const message = formMessage();
  const visibility = h(
    "fieldset",
    { class: "question visibility", "data-key": "visibility" },
    h("legend", {}, t("visibility")),
    h(
      "div",
      { class: "options" },
      VISIBILITIES.map(([value, label, hint]) =>
        h(
          "label",
          { class: "option", for: `vis-${value}` },
          h("input", { type: "radio", id: `vis-${value}`, name: "visibility", value, checked: value === "therapist", "aria-describedby": `vis-${value}-hint` }),
          h("span", {}, h("strong", {}, t(label)), h("span", { class: "hint", id: `vis-${value}-hint` }, t(hint))),
        ),
      ),
    ),
    h("p", { class: "error", id: "err-visibility", hidden: true }),
  );
  const form = h(
    "form",
    // autocomplete off: the browser keeps no copy of what is written here.
    { class: "checkin", novalidate: true, autocomplete: "off" },
    h("p", { class: "sub" }, t("checkinIntro")),
    exercise.form.map(renderQuestion),
    // The optional reflection, unless the form asks for it as one of its questions.
    exercise.form.some((q) => q.key === "reflection")
      ? null
      : h(
          "div",
          { class: "field" },
          h("label", { for: "reflection" }, t("reflection")),
          h("textarea", { id: "reflection", name: "reflection", rows: 4, maxlength: 5000, autocomplete: "off", "aria-describedby": "err-reflection" }),
          h("p", { class: "error", id: "err-reflection", hidden: true }),
        ),
    visibility,
    message,
    h("button", { type: "submit", class: "primary" }, t("save")),
  );
  // An answer given clears that question's error.
  form.addEventListener("change", (event) => {
    const question = event.target.closest("fieldset.question");
    const error = question?.querySelector(".error");
    if (error && !error.hidden) {
      error.hidden = true;
      question.removeAttribute("aria-invalid");
    }
    if (!form.querySelector("[aria-invalid]")) say(message, "");
  });
  let checkinId = crypto.randomUUID();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answers = readAnswers(form, exercise.form);
    const missing = missingAnswers(exercise.form, answers);
    if (missing.length) {
      const { first } = showErrors(form, Object.fromEntries(missing.map((k) => [k, [t("requiredQuestion")]])));
      say(message, t("fixErrors"));
      first?.closest("fieldset")?.querySelector("input, textarea")?.focus();
      return;
    }
    const body = {
      id: checkinId,
      assignment_id: homework.assignment_id,
      exercise: slug,
      occurred_at: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      answers,
      visibility: form.querySelector("input[name=visibility]:checked")?.value || "therapist",
    };
    const reflection = form.querySelector("#reflection")?.value.trim();
    if (reflection) body.reflection = reflection;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = t("saving");
    await outbox.enqueue(body);
    const outcome = (await outbox.flush({ force: true }))[body.id] || { state: "waiting" };
    button.disabled = false;
    button.textContent = t("save");
    if (outcome.state === "rejected") {
      // Not stored by the server: fix it here and send it again (a new attempt, a new id).
      await outbox.discard(body.id);
      checkinId = crypto.randomUUID();
      const { first, general } = showErrors(form, outcome.problem?.errors);
      say(message, [problemText(outcome.problem), ...general].join(" "));
      (first || message).scrollIntoView({ block: "center" });
      return;
    }
    const flagged = outcome.state === "sent" ? Boolean(outcome.checkin?.safety) : raisesFlag(exercise.form, answers);
    go("result", { sent: outcome.state === "sent", safety: outcome.checkin?.safety || null, flagged }, { replace: true });
  });
  render(backButton("exercise", { slug, version }), heading(`${t("checkinTitle")}: ${exercise.title}`), form);
};

function guidance(safety) {
  const texts = safety ? Object.values(safety).filter((v) => typeof v === "string") : STRINGS.guidanceOffline;
  return h(
    "section",
    { class: "card guidance", role: "note", "aria-labelledby": "guidance-title" },
    h("h2", { id: "guidance-title" }, t("guidanceTitle")),
    texts.map((text) => h("p", {}, text)),
  );
}

SCREENS.result = async ({ sent, safety, flagged }) => {
  render(
    heading(t("checkinTitle")),
    h("p", { class: `notice ${sent ? "ok" : "waiting"}`, role: "status" }, sent ? t("sent") : t("savedOffline")),
    flagged ? guidance(safety) : null,
    h("button", { type: "button", class: "primary", onclick: () => go("week", {}, { replace: true }) }, t("done")),
  );
};

// --- mine: my check-ins and what my partner shared ----------------------------------

async function exerciseForm(slug) {
  const exercise = await cached(`exercise:${slug}`);
  return exercise?.form || [];
}

function answerText(question, value) {
  if (value === true) return t("yes");
  if (value === false) return t("no");
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

async function checkinCard(checkin, { showVisibility }) {
  const form = await exerciseForm(checkin.exercise);
  const labels = Object.fromEntries(form.map((q) => [q.key, q]));
  const answers = Object.entries(checkin.answers || {}).filter(([, v]) => v !== null && v !== undefined);
  const who = { private: t("visPrivate"), therapist: t("visTherapist"), couple: t("visCouple") }[checkin.visibility];
  const title = titles[checkin.exercise] || (await cached(`exercise:${checkin.exercise}`))?.title || checkin.exercise;
  // Folded by default: a list of dates and titles, each opened with one tap.
  return h(
    "li",
    { class: "card checkin-card" },
    h(
      "details",
      {},
      h(
        "summary",
        {},
        h("span", { class: "item-title" }, title),
        h("span", { class: "sub" }, localTime(checkin.occurred_at), showVisibility ? ` · ${t("visibleTo", { who })}` : ""),
      ),
      answers.length
        ? h("dl", {}, answers.map(([k, v]) => [h("dt", {}, labels[k]?.label || k), h("dd", {}, answerText(labels[k], v))]))
        : h("p", { class: "sub" }, t("noAnswers")),
      checkin.reflection ? [h("h4", {}, t("reflectionLabel")), h("p", { class: "reflection" }, checkin.reflection)] : null,
    ),
  );
}

async function checkinList(path, empty, options) {
  const list = h("ul", { class: "plain" });
  const section = h("div", {}, list);
  let page = 1;
  const more = async () => {
    const response = await call("GET", `${path}?page=${page}&page_size=20`);
    if (response.status === 401) throw new SignedOut();
    if (!ok(response)) throw new Error(String(response.status));
    for (const checkin of response.body) list.append(await checkinCard(checkin, options));
    if (!list.children.length) list.replaceWith(h("p", { class: "sub" }, empty));
    const meta = JSON.parse(response.headers.get("X-Pagination") || "{}");
    section.querySelector(".more")?.remove();
    if (meta.next_page) {
      page = meta.next_page;
      section.append(h("button", { type: "button", class: "secondary more", onclick: more }, t("more")));
    }
  };
  await more();
  return section;
}

SCREENS.mine = async () => {
  try {
    const [mine, shared] = await Promise.all([
      checkinList("me/checkins", t("noCheckins"), { showVisibility: true }),
      checkinList("me/shared-checkins", t("noShared"), { showVisibility: false }),
    ]);
    render(
      heading(t("mineTitle")),
      h("section", { "aria-labelledby": "mine-own" }, h("h2", { id: "mine-own" }, t("myCheckins")), mine),
      h("section", { "aria-labelledby": "mine-shared" }, h("h2", { id: "mine-shared" }, t("sharedWithMe")), shared),
    );
  } catch (error) {
    if (!(error instanceof Offline)) throw error;
    render(heading(t("mineTitle")), needsNetwork());
  }
};

// --- reminders ----------------------------------------------------------------------

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

function timeRow(value) {
  const id = `time-${Math.random().toString(36).slice(2, 8)}`;
  const row = h(
    "div",
    { class: "time-row" },
    h("label", { for: id, class: "visually-hidden" }, t("times")),
    h("input", { type: "time", id, name: "time", value, required: true }),
  );
  row.append(h("button", { type: "button", class: "secondary", "aria-label": t("removeTime", { time: value || "" }), onclick: () => row.remove() }, "✕"));
  return row;
}

SCREENS.reminders = async () => {
  let settings;
  try {
    const response = await call("GET", "me/reminder-settings");
    if (response.status === 401) throw new SignedOut();
    settings = response.body;
  } catch (error) {
    if (!(error instanceof Offline)) throw error;
    render(heading(t("remindersTitle")), needsNetwork());
    return;
  }
  const times = h("div", { class: "times" }, settings.times.map(timeRow));
  const message = formMessage();
  const saved = h("p", { class: "notice ok", role: "status", hidden: true });
  const checkbox = (name, label, checked) =>
    h("label", { class: "option", for: `f-${name}` }, h("input", { type: "checkbox", id: `f-${name}`, name, checked }), h("span", {}, label));
  const form = h(
    "form",
    { class: "card", novalidate: true },
    h(
      "fieldset",
      { class: "question", "aria-describedby": "err-times" },
      h("legend", {}, t("times")),
      times,
      h("button", { type: "button", class: "secondary", onclick: () => times.append(timeRow("20:00")) }, t("addTime")),
      h("p", { class: "error", id: "err-times", hidden: true }),
    ),
    h(
      "fieldset",
      { class: "question", "aria-describedby": "err-days" },
      h("legend", {}, t("days")),
      h("div", { class: "options days" }, DAYS.map((d) => checkbox(`day-${d}`, STRINGS.dayNames[d], settings.days.includes(d)))),
      h("p", { class: "error", id: "err-days", hidden: true }),
    ),
    h(
      "fieldset",
      { class: "question", "aria-describedby": "err-quiet_hours" },
      h("legend", {}, t("quietHours")),
      h(
        "div",
        { class: "time-pair" },
        input("quiet_start", t("quietFrom"), { type: "time", value: settings.quiet_hours?.start || "" }),
        input("quiet_end", t("quietTo"), { type: "time", value: settings.quiet_hours?.end || "" }),
      ),
      h("p", { class: "error", id: "err-quiet_hours", hidden: true }),
    ),
    timezoneField(settings.timezone),
    checkbox("paused", t("remindersPaused"), settings.paused),
    checkbox("discreet", t("discreet"), settings.discreet),
    input("text", t("ownText"), { type: "text", maxlength: 120, value: settings.text || "" }),
    message,
    saved,
    h("button", { type: "submit", class: "primary" }, t("saveSettings")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(saved, "");
    say(message, "");
    const start = form.quiet_start.value;
    const end = form.quiet_end.value;
    const body = {
      times: [...form.querySelectorAll("input[name=time]")].map((i) => i.value).filter(Boolean),
      days: DAYS.filter((d) => form[`day-${d}`].checked),
      quiet_hours: start && end ? { start, end } : null,
      paused: form.paused.checked,
      discreet: form.discreet.checked,
      text: form.text.value.trim() || null,
      timezone: form.timezone.value.trim(),
    };
    try {
      const response = await call("PUT", "me/reminder-settings", body);
      if (ok(response)) {
        say(saved, t("settingsSaved"));
        return;
      }
      const { general } = showErrors(form, response.body?.errors);
      say(message, [problemText(response.body), ...general].join(" "));
    } catch (error) {
      say(message, error instanceof Offline ? t("needsNetwork") : t("somethingWrong"));
    }
  });
  let list = h("p", { class: "sub" }, t("noReminders"));
  const response = await call("GET", "me/reminders?page_size=50");
  if (ok(response) && response.body.length) {
    list = h(
      "ul",
      { class: "plain reminders" },
      response.body.map((r) =>
        h(
          "li",
          { class: `reminder ${r.status}` },
          h("span", {}, r.send_at ? localTime(r.send_at) : `${r.local_date || ""} ${r.local_time || ""}`),
          h("span", { class: "badge" }, STRINGS.statusNames[r.status] || r.status),
          r.reason ? h("span", { class: "sub" }, r.reason) : null,
        ),
      ),
    );
  }
  render(
    heading(t("remindersTitle")),
    await pushSection(),
    form,
    h("section", { "aria-labelledby": "upcoming" }, h("h2", { id: "upcoming" }, t("upcoming")), list),
  );
};

// Reminders on this phone: switched on and off here, when the operator set up push.
async function pushSection() {
  const settings = await pushSettings();
  if (!settings.enabled) return h("p", { class: "notice" }, t("pushUnavailable"));
  const status = h("p", { class: "sub", role: "status" });
  const section = h("section", { class: "card", id: "push", "aria-labelledby": "push-title" }, h("h2", { id: "push-title" }, t("pushTitle")));
  const draw = async () => {
    const on = Boolean(await pushDevice());
    status.textContent = on ? t("pushOn") : t("pushOff");
    const button = h(
      "button",
      {
        type: "button",
        class: on ? "secondary" : "primary",
        onclick: async () => {
          button.disabled = true;
          try {
            if (on) await disablePush();
            else await enablePush();
            await draw();
          } catch (error) {
            status.textContent = STRINGS[error.message] ? t(error.message) : t("pushFailed");
            button.disabled = false;
          }
        },
      },
      on ? t("pushDisable") : t("pushEnable"),
    );
    section.replaceChildren(section.firstChild, status, button);
  };
  await draw();
  return section;
}

// --- my data: export, sign out, delete ------------------------------------------------

SCREENS.account = async () => {
  const me = state.me || (await cached("me"));
  const message = formMessage();
  const exportButton = h("button", { type: "button", class: "secondary", onclick: downloadExport }, t("export"));
  const deleteForm = h(
    "form",
    { class: "card danger", novalidate: true, "aria-labelledby": "delete-title" },
    h("h2", { id: "delete-title" }, t("deleteTitle")),
    h("p", {}, t("deleteHelp")),
    input("password", t("deletePassword"), { type: "password", autocomplete: "current-password", required: true }),
    message,
    h("button", { type: "submit", class: "danger" }, t("deleteButton")),
  );
  deleteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!confirm(t("deleteConfirm"))) return;
    try {
      const response = await call("DELETE", "me", { password: deleteForm.password.value });
      if (ok(response)) return forget();
      showErrors(deleteForm, response.body?.errors);
      say(message, problemText(response.body));
    } catch (error) {
      say(message, error instanceof Offline ? t("needsNetwork") : t("somethingWrong"));
    }
  });
  render(
    heading(t("accountTitle")),
    me ? h("p", {}, t("signedInAs", { name: me.name, email: me.email })) : null,
    h("section", { class: "card" }, h("p", {}, t("exportHelp")), exportButton),
    h("section", { class: "card" }, h("button", { type: "button", class: "primary", id: "sign-out", onclick: signOut }, t("signOut"))),
    deleteForm,
  );
};

async function downloadExport() {
  try {
    const response = await call("GET", "me/export");
    if (!ok(response)) throw new Error(String(response.status));
    const blob = new Blob([JSON.stringify(response.body, null, 2)], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: "my-data.json", hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (error) {
    alert(error instanceof Offline ? t("needsNetwork") : t("somethingWrong"));
  }
}

async function signOut() {
  const unsent = (await outbox.pending()).length;
  if (unsent && !confirm(t("signOutUnsent", { n: unsent }))) return;
  try {
    await call("POST", "auth/logout");
  } catch (error) {
    if (error instanceof Offline) return alert(t("needsNetwork"));
    throw error;
  }
  return forget();
}

// Leave nothing behind: service worker, caches, IndexedDB, storage (the server also
// sends Clear-Site-Data and expires the cookie).
async function forget() {
  state.me = null;
  await unsubscribe().catch(() => undefined);
  if ("serviceWorker" in navigator) {
    for (const registration of await navigator.serviceWorker.getRegistrations()) await registration.unregister();
  }
  await wipe();
  offlineStarted = false;
  return go("signin", {}, { replace: true });
}

// --- hide ---------------------------------------------------------------------------

document.getElementById("hide").addEventListener("click", () => {
  document.body.replaceChildren();
  document.title = "";
  location.replace(HIDE_URL);
});

// --- start --------------------------------------------------------------------------

async function boot() {
  drawStatus();
  let me = null;
  try {
    const response = await call("GET", "me");
    if (ok(response)) me = response.body;
  } catch (error) {
    if (!(error instanceof Offline)) throw error;
    me = hasSession() ? await cached("me") : null;
  }
  if (me && me.role !== "client") return sendToPortal();
  if (!me) return go("signin", {}, { replace: true });
  state.me = me;
  await remember("me", me);
  outbox.setUser(me.id);
  startOffline();
  return go("week", {}, { replace: true });
}

boot();
