// The dashboard's entry point: sign-in, the live socket, the session store and a hash router
// (#/accounts, #/conversations/{session}/{conversation}, #/templates, #/scheduled, #/broadcasts, #/insights,
// #/settings, #/audit).

import { Api } from "./api.js";
import { loadConfig, socketUrlFor } from "./config.js";
import { focusElement } from "./dom.js";
import { clearNotices } from "./notices.js";
import { SessionStore } from "./sessions.js";
import { LiveSocket } from "./socket.js";
import * as accounts from "./views/accounts.js";
import * as audit from "./views/audit.js";
import * as broadcasts from "./views/broadcasts.js";
import * as conversations from "./views/conversations.js";
import * as insights from "./views/insights.js";
import * as scheduled from "./views/scheduled.js";
import * as settings from "./views/settings.js";
import * as signin from "./views/signin.js";
import * as templates from "./views/templates.js";

const KEY_STORAGE = "wagate.apiKey"; // sessionStorage: gone when the tab closes
const DEFAULT_ROUTE = "accounts";
const VIEWS = {
  accounts: { title: "Accounts", view: accounts },
  conversations: { title: "Conversations", view: conversations },
  templates: { title: "Templates", view: templates },
  scheduled: { title: "Scheduled", view: scheduled },
  broadcasts: { title: "Broadcasts", view: broadcasts },
  insights: { title: "Insights", view: insights },
  settings: { title: "Settings", view: settings },
  audit: { title: "Audit log", view: audit },
};
const LIVE_LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  stopped: "Offline",
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const bar = document.getElementById("session-bar");
const liveStatus = document.getElementById("live-status");

let app = null; // {api, live, sessions, config} while signed in
let current = null; // {name, instance}

async function boot() {
  const config = await loadConfig();
  document.getElementById("sign-out").addEventListener("click", () => signOut());
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) start(config, key);
  else showSignIn(config);
}

function showSignIn(config, reason = null) {
  nav.hidden = true;
  bar.hidden = true;
  document.title = "Sign in · wagate";
  unmountCurrent();
  current = {
    name: "signin",
    instance: signin.mount(main, {
      reason,
      async verify(key) {
        // Any read proves the key works; the list is needed next anyway.
        await new Api(config.apiBaseUrl, key).listSessions();
      },
      signedIn(key) {
        sessionStorage.setItem(KEY_STORAGE, key);
        start(config, key);
      },
    }),
  };
}

function start(config, key) {
  const api = new Api(config.apiBaseUrl, key, {
    onUnauthorized: (error) => signOut(`Signed out: ${error.message}`),
  });
  const live = new LiveSocket({
    getToken: () => api.realtimeToken(),
    socketUrl: (tokenUrl) => socketUrlFor(config, tokenUrl, window.location),
  });
  const sessions = new SessionStore(api, live);
  app = { api, live, sessions, config, navigate };
  live.on("state", renderLiveState);
  live.on("auth_failed", (error) => signOut(`Signed out: ${error.message}`));
  renderLiveState(live.state);
  live.start();
  nav.hidden = false;
  bar.hidden = false;
  if (current?.name === "signin") unmountCurrent();
  route({ focus: true });
}

function signOut(reason = null) {
  if (!app) return;
  app.live.stop();
  app = null;
  sessionStorage.removeItem(KEY_STORAGE);
  clearNotices();
  loadConfig().then((config) => showSignIn(config, reason));
}

function renderLiveState(state) {
  liveStatus.textContent = LIVE_LABELS[state] ?? state;
  liveStatus.dataset.state = state;
}

/** "#/conversations/ses_1/cnv_2" → {name: "conversations", params: ["ses_1", "cnv_2"]}. */
export function parseHash(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const name = parts[0] in VIEWS ? parts[0] : DEFAULT_ROUTE;
  return { name, params: parts[0] in VIEWS ? parts.slice(1) : [] };
}

export function navigate(hash) {
  if (window.location.hash === hash) route({ focus: true });
  else window.location.hash = hash;
}

function unmountCurrent() {
  current?.instance?.unmount?.();
  current = null;
  main.replaceChildren();
}

function route({ focus = true } = {}) {
  if (!app) return;
  const { name, params } = parseHash(window.location.hash);
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${VIEWS[name].title} · wagate`;
  if (current?.name === name && current.instance?.update) {
    current.instance.update(params); // same view, other item: keep its state and listeners
    return;
  }
  unmountCurrent();
  current = { name, instance: VIEWS[name].view.mount(main, { ...app, params }) };
  // A new page: its heading takes focus, so screen readers start there and Tab continues from it.
  if (focus) focusElement(main.querySelector("h1"));
}

window.addEventListener("hashchange", () => route({ focus: true }));
boot();
