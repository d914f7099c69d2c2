// The dashboard's modules without a browser (Node's test runner): backoff, token reuse, the socket's reconnect
// cycle (a fake WebSocket, mocked timers), URL resolution, the tick rules, the session store's merges.

import assert from "node:assert/strict";
import { beforeEach, afterEach, describe, it, mock } from "node:test";

import { resolveConfig, socketUrlFor } from "../../dashboard/assets/js/config.js";
import {
  duration,
  fileSize,
  laterStatus,
  messageText,
  reasonLabel,
  riskLevel,
  tick,
  waitsForScan,
} from "../../dashboard/assets/js/format.js";
import { SessionStore } from "../../dashboard/assets/js/sessions.js";
import { LiveSocket, backoff, tokenUsable } from "../../dashboard/assets/js/socket.js";

describe("backoff", () => {
  it("doubles from the base up to the cap, half of it random", () => {
    assert.equal(backoff(0, { random: () => 0 }), 250);
    assert.equal(backoff(0, { random: () => 1 }), 500);
    assert.equal(backoff(3, { random: () => 0 }), 2000);
    assert.equal(backoff(30, { random: () => 1 }), 30000);
    assert.equal(backoff(30, { random: () => 0 }), 15000);
  });
});

describe("tokenUsable", () => {
  it("keeps a token only while it has more than a margin left", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    assert.equal(tokenUsable({ expires_at: "2026-01-01T00:05:00Z" }, now), true);
    assert.equal(tokenUsable({ expires_at: "2026-01-01T00:00:10Z" }, now), false);
    assert.equal(tokenUsable(null, now), false);
    assert.equal(tokenUsable({ expires_at: "nonsense" }, now), false);
    assert.equal(tokenUsable({ expires_at: now / 1000 + 300 }, now), true);
    assert.equal(tokenUsable({ expires_at: now / 1000 + 10 }, now), false);
  });
});

describe("config", () => {
  const page = new URL("http://192.168.1.20:8000/");
  it("defaults to the page's origin and the token's socket", () => {
    const config = resolveConfig({}, page);
    assert.deepEqual(config, { apiBaseUrl: "http://192.168.1.20:8000", socketUrl: null });
    assert.equal(socketUrlFor(config, "wss://abc.execute-api.eu-west-1.amazonaws.com/live", page),
      "wss://abc.execute-api.eu-west-1.amazonaws.com/live");
  });
  it("reaches a loopback-only server's socket at the page's host", () => {
    const config = resolveConfig({ apiBaseUrl: "" }, page);
    assert.equal(socketUrlFor(config, "ws://127.0.0.1:8000/ws", page), "ws://192.168.1.20:8000/ws");
  });
  it("takes config.json's values as given", () => {
    const config = resolveConfig({ apiBaseUrl: "https://api.example.com/", socketUrl: "wss://ws.example.com/live" }, page);
    assert.equal(config.apiBaseUrl, "https://api.example.com");
    assert.equal(socketUrlFor(config, "ws://127.0.0.1:8000/ws", page), "wss://ws.example.com/live");
    assert.equal(socketUrlFor(resolveConfig({ apiBaseUrl: "https://api.example.com" }, page), null, page),
      "wss://api.example.com/ws");
  });
});

describe("ticks", () => {
  it("never move back", () => {
    assert.equal(laterStatus("read", "delivered"), "read");
    assert.equal(laterStatus("sent", "delivered"), "delivered");
    assert.equal(laterStatus("queued", "unknown"), "queued");
    assert.equal(laterStatus(undefined, "sent"), "sent");
  });
  it("look like WhatsApp's", () => {
    assert.deepEqual([tick("sent").icon, tick("delivered").icon, tick("read").icon], ["check", "checks", "checks"]);
    assert.equal(tick("read").tone, "read");
    assert.equal(tick("received"), null);
  });
  it("a QR is on offer only while linking, never for cloud numbers", () => {
    assert.equal(waitsForScan({ provider: "web", status: "qr" }), true);
    assert.equal(waitsForScan({ provider: "cloud", status: "connecting" }), false);
    assert.equal(waitsForScan({ provider: "sandbox", status: "connected" }), false);
  });
});

class FakeWebSocket {
  static opened = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.listeners = {};
    FakeWebSocket.opened.push(this);
  }
  addEventListener(type, fn) {
    (this.listeners[type] ??= []).push(fn);
  }
  fire(type, event = {}) {
    for (const fn of this.listeners[type] ?? []) fn(event);
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.serverClose();
  }
  open() {
    this.readyState = 1;
    this.fire("open");
  }
  receive(message) {
    this.fire("message", { data: JSON.stringify(message) });
  }
  serverClose() {
    this.readyState = 3;
    this.fire("close", { code: 1000 });
  }
}

describe("LiveSocket", () => {
  let tokens;
  let socket;
  const flush = () => new Promise((resolve) => setImmediate(resolve));

  beforeEach(() => {
    globalThis.window = new EventTarget();
    FakeWebSocket.opened = [];
    tokens = 0;
    mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
    socket = new LiveSocket({
      getToken: async () => {
        tokens += 1;
        return { token: `rt_${tokens}`, expires_at: Date.now() / 1000 + 300, url: "ws://127.0.0.1:8000/ws" };
      },
      socketUrl: (url) => url,
      WebSocketImpl: FakeWebSocket,
    });
  });
  afterEach(() => {
    socket.stop();
    mock.timers.reset();
  });

  it("subscribes to everything, goes live and hands events on", async () => {
    const states = [];
    const seen = [];
    socket.on("state", (state) => states.push(state));
    socket.on("message_status", (data) => seen.push(data.status));
    socket.start();
    await flush();
    const ws = FakeWebSocket.opened[0];
    assert.equal(ws.url, "ws://127.0.0.1:8000/ws?token=rt_1");
    ws.open();
    assert.deepEqual(ws.sent, [{ event: "subscribe", data: {} }]);
    ws.receive({ event: "subscribed", data: { session_id: null } });
    ws.receive({ event: "message_status", data: { session_id: "s", status: "read" } });
    assert.deepEqual(states, ["connecting", "live"]);
    assert.deepEqual(seen, ["read"]);
  });

  it("reconnects after a drop, reusing a token that is still good, and says it reconnected", async () => {
    const ready = [];
    socket.on("ready", (data) => ready.push(data.reconnected));
    socket.start();
    await flush();
    FakeWebSocket.opened[0].open();
    FakeWebSocket.opened[0].receive({ event: "subscribed", data: {} });
    FakeWebSocket.opened[0].serverClose();
    assert.equal(socket.state, "reconnecting");
    mock.timers.tick(500); // the first retry waits at most base (500 ms)
    await flush();
    assert.equal(FakeWebSocket.opened.length, 2);
    assert.equal(FakeWebSocket.opened[1].url.endsWith("token=rt_1"), true);
    FakeWebSocket.opened[1].open();
    FakeWebSocket.opened[1].receive({ event: "subscribed", data: {} });
    assert.deepEqual(ready, [false, true]);
    assert.equal(tokens, 1);
  });

  it("gets a new token when the socket is refused before opening", async () => {
    socket.start();
    await flush();
    FakeWebSocket.opened[0].serverClose(); // e.g. 401: the token expired or is unknown
    mock.timers.tick(500);
    await flush();
    assert.equal(tokens, 2);
    assert.equal(FakeWebSocket.opened[1].url.endsWith("token=rt_2"), true);
  });

  it("backs off further after each failure", async () => {
    socket.start();
    await flush();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      FakeWebSocket.opened.at(-1).serverClose();
      mock.timers.tick(backoff(attempt, { random: () => 1 })); // the longest this attempt can wait
      await flush();
    }
    assert.equal(FakeWebSocket.opened.length, 4);
    FakeWebSocket.opened.at(-1).serverClose();
    mock.timers.tick(1000); // attempt 3 waits at least 2 s
    await flush();
    assert.equal(FakeWebSocket.opened.length, 4);
  });

  it("stops for good when the API key itself is refused", async () => {
    const failures = [];
    const refused = new LiveSocket({
      getToken: async () => {
        throw Object.assign(new Error("this API key is unknown or was revoked"), { status: 401 });
      },
      socketUrl: (url) => url,
      WebSocketImpl: FakeWebSocket,
    });
    refused.on("auth_failed", (error) => failures.push(error.message));
    refused.start();
    await flush();
    mock.timers.tick(60_000);
    assert.deepEqual(failures, ["this API key is unknown or was revoked"]);
    assert.equal(FakeWebSocket.opened.length, 0);
    refused.stop();
  });
});

describe("SessionStore", () => {
  const fakeLive = () => {
    const handlers = new Map();
    return {
      on: (event, fn) => (handlers.set(event, fn), () => handlers.delete(event)),
      fire: (event, data) => handlers.get(event)?.(data),
    };
  };

  it("keeps an event's status over an action's older answer", async () => {
    const live = fakeLive();
    let answer;
    const api = {
      listSessions: async () => [{ id: "s1", name: "Desk", status: "disconnected", created_at: 1 }],
      sessionAction: () => new Promise((resolve) => (answer = resolve)),
    };
    const store = new SessionStore(api, live);
    await store.refresh();
    const acting = store.act("s1", () => api.sessionAction("s1", "connect"));
    live.fire("connection_success", { session_id: "s1", status: "connected", phone: "+15550001" });
    answer({ id: "s1", name: "Desk", status: "disconnected", created_at: 1 }); // sent before the event
    await acting;
    assert.equal(store.get("s1").status, "connected");
    assert.equal(store.get("s1").phone, "+15550001");
  });

  it("takes an action's answer when nothing happened meanwhile", async () => {
    const live = fakeLive();
    const api = {
      listSessions: async () => [{ id: "s1", name: "Desk", status: "connected", created_at: 1 }],
      sessionAction: async () => ({ id: "s1", name: "Desk", status: "logged_out", created_at: 1 }),
    };
    const store = new SessionStore(api, live);
    await store.refresh();
    await store.act("s1", () => api.sessionAction("s1", "logout"));
    assert.equal(store.get("s1").status, "logged_out");
  });
});

describe("account health words", () => {
  it("tells a ban from a temporary ban and a 463 restriction, and keeps unknown codes", () => {
    assert.equal(reasonLabel("banned"), "Banned by WhatsApp");
    assert.equal(reasonLabel("temporarily_banned"), "Temporarily banned by WhatsApp");
    assert.match(reasonLabel("restricted"), /463/);
    assert.equal(reasonLabel("graph_unreachable"), "graph_unreachable");
  });
  it("maps risk levels to a label and a tone", () => {
    assert.deepEqual(riskLevel("ok"), { label: "Healthy", tone: "ok" });
    assert.equal(riskLevel("high").tone, "bad");
    assert.deepEqual(riskLevel("later"), { label: "later", tone: "off" });
  });
});

describe("files in the chat", () => {
  it("says sizes and lengths as people read them", () => {
    assert.equal(fileSize(820), "820 B");
    assert.equal(fileSize(14_300), "14 KB");
    assert.equal(fileSize(2_400_000), "2.4 MB");
    assert.equal(fileSize(null), "");
    assert.equal(duration(7), "0:07");
    assert.equal(duration(750), "12:30");
    assert.equal(duration(3723), "1:02:03");
    assert.equal(duration(-1), "");
  });
  it("shows a file's caption as its text, never a [kind] placeholder", () => {
    const image = { text: "[image]", content: { type: "image", caption: "el taller", media: { id: "med_1" } } };
    assert.equal(messageText(image), "el taller");
    assert.equal(messageText({ text: "", content: { type: "document", media: { id: "med_2" } } }), "");
    assert.equal(messageText({ text: "📍 Taller geo:40.4,-3.7", content: { type: "location" } }), "📍 Taller geo:40.4,-3.7");
    assert.equal(messageText({ media: { kind: "image", caption: "old row" } }), "old row");
  });
});
