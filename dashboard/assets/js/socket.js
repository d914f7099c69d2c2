// The dashboard socket: gets a realtime token, opens the socket, subscribes to every session, and keeps
// it open (reconnects with exponential backoff and jitter, a fresh token when the old one is refused or
// about to expire). Events arrive as {"event": "...", "data": {"sessionId", ...}}.

const PING_MS = 5 * 60 * 1000; // API Gateway closes sockets idle for 10 minutes
const TOKEN_MARGIN_MS = 30 * 1000;

/** The delay before reconnect attempt `attempt` (0-based): doubling from `base` up to `cap`, with
 * "equal jitter" (half fixed, half random) so many dashboards do not all come back in the same second. */
export function backoff(attempt, { base = 500, cap = 30000, random = Math.random } = {}) {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Whether a token obtained earlier can still open a socket now. */
export function tokenUsable(token, now = Date.now()) {
  if (!token) return false;
  // Epoch seconds, as every time the API returns (an ISO string from older servers still reads).
  const expires = typeof token.expires_at === "number" ? token.expires_at * 1000 : Date.parse(token.expires_at);
  return Number.isFinite(expires) && expires - now > TOKEN_MARGIN_MS;
}

export class LiveSocket {
  /**
   * getToken(): resolves to {token, expires_at, url}; socketUrl(tokenUrl): the URL to open.
   * States: "connecting", "live", "reconnecting", "stopped".
   */
  constructor({ getToken, socketUrl, WebSocketImpl = WebSocket }) {
    this.getToken = getToken;
    this.socketUrl = socketUrl;
    this.WebSocketImpl = WebSocketImpl;
    this.listeners = new Map();
    this.state = "stopped";
    this.attempt = 0;
    this.token = null;
    this.socket = null;
    this.timer = null;
    this.pinger = null;
    this.everLive = false;
    this.onOnline = () => this.reconnectNow();
  }

  /** Calls fn(data) for each `event` ("*" for all: fn(data, event)); returns the unsubscribe function. */
  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return () => this.listeners.get(event)?.delete(fn);
  }

  emit(event, data) {
    for (const fn of this.listeners.get(event) ?? []) fn(data, event);
    for (const fn of this.listeners.get("*") ?? []) fn(data, event);
  }

  start() {
    if (this.state !== "stopped") return;
    window.addEventListener("online", this.onOnline);
    this.connect();
  }

  stop() {
    this.setState("stopped");
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "signed out");
  }

  /** Skips the wait (the browser came back online, or the user asked). */
  reconnectNow() {
    if (this.state !== "reconnecting") return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state);
  }

  async connect() {
    this.setState(this.everLive ? "reconnecting" : "connecting");
    let url;
    try {
      if (!tokenUsable(this.token)) this.token = await this.getToken();
      url = new URL(this.socketUrl(this.token.url));
      url.searchParams.set("token", this.token.token);
    } catch (error) {
      if (this.state === "stopped") return;
      if (error?.status === 401 || error?.status === 403) {
        this.emit("auth_failed", error); // the key itself is refused: retrying cannot help
        return;
      }
      this.scheduleRetry();
      return;
    }
    if (this.state === "stopped") return;
    const socket = new this.WebSocketImpl(url.toString());
    this.socket = socket;
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      socket.send(JSON.stringify({ event: "subscribe", data: {} }));
    });
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return; // an old socket, already replaced or stopped
      this.socket = null;
      clearInterval(this.pinger);
      // Refused before opening: most likely the token expired or was used up; get a new one.
      if (!opened) this.token = null;
      if (this.state !== "stopped") this.scheduleRetry();
    });
  }

  receive(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    if (!message || typeof message.event !== "string") return;
    if (message.event === "subscribed") {
      const reconnected = this.everLive;
      this.everLive = true;
      this.attempt = 0;
      this.setState("live");
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ event: "ping", data: {} }), PING_MS);
      // After a gap, views reload what they show: events sent while away are not replayed.
      this.emit("ready", { reconnected });
      return;
    }
    if (message.event === "pong") return;
    this.emit(message.event, message.data ?? {});
  }

  send(message) {
    if (this.socket?.readyState === 1) this.socket.send(JSON.stringify(message));
  }

  scheduleRetry() {
    this.setState(this.everLive ? "reconnecting" : "connecting");
    const delay = backoff(this.attempt);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
