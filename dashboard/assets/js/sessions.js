// The tenant's sessions (accounts), loaded once and kept current by the socket's session events; every
// view reads them from here.

const SESSION_EVENTS = [
  "qr_code",
  "connection_success",
  "connection_lost",
  "logged_out",
  "session_failed",
  "session_status",
];

export class SessionStore {
  constructor(api, live) {
    this.api = api;
    this.byId = new Map();
    this.events = new Map(); // session id → how many socket events it had (see `act`)
    this.listeners = new Set();
    this.loaded = false;
    for (const event of SESSION_EVENTS) live.on(event, (data) => this.applyEvent(event, data));
    live.on("ready", ({ reconnected }) => {
      if (reconnected) this.refresh().catch(() => {});
    });
  }

  /** Calls fn(store, changedSession|null) on every change; returns the unsubscribe function. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  notify(session = null) {
    for (const fn of this.listeners) fn(this, session);
  }

  async refresh() {
    const before = new Map(this.events);
    const items = await this.api.listSessions();
    // A session the socket reported on during the request keeps the event's (newer) status.
    const fresher = (s) => (this.events.get(s.id) ?? 0) !== (before.get(s.id) ?? 0) && this.byId.get(s.id);
    this.byId = new Map(
      items.map((s) => {
        const known = fresher(s);
        const live = known && { status: known.status, status_reason: known.status_reason, status_detail: known.status_detail };
        return [s.id, live ? { ...s, ...live } : s];
      }),
    );
    this.loaded = true;
    this.notify();
    return this.list();
  }

  async ensureLoaded() {
    if (!this.loaded) await this.refresh();
    return this.list();
  }

  /** Newest first, as the API lists them. */
  list() {
    return [...this.byId.values()].sort((a, b) => b.created_at - a.created_at);
  }

  get(id) {
    return this.byId.get(id) ?? null;
  }

  /** A session the API just created: news only if the socket has not told us about it already. */
  added(session) {
    if (!this.byId.has(session.id)) this.put(session);
  }

  /** A session the API just returned (created, or changed by an action). */
  put(session) {
    if (!session?.id) return;
    this.byId.set(session.id, { ...this.byId.get(session.id), ...session });
    this.notify(this.byId.get(session.id));
  }

  /**
   * Runs an action's request (connect, disconnect...) and stores the session it answers with — unless
   * the socket reported on that session meanwhile: then the answer is older than what we know, and its
   * status must not overwrite the event's (e.g. a late "disconnected" after connection_success).
   */
  async act(id, request) {
    const before = this.events.get(id) ?? 0;
    const session = await request();
    const known = this.byId.get(id);
    if ((this.events.get(id) ?? 0) !== before && known) {
      this.put({
        ...session,
        status: known.status,
        status_reason: known.status_reason,
        status_detail: known.status_detail,
      });
    } else this.put(session);
    return session;
  }

  remove(id) {
    this.byId.delete(id);
    this.notify();
  }

  applyEvent(event, data) {
    this.events.set(data.session_id, (this.events.get(data.session_id) ?? 0) + 1);
    const session = this.byId.get(data.session_id);
    if (!session) {
      // A session created elsewhere (another dashboard, the CRM): fetch the list again.
      this.refresh().catch(() => {});
      return;
    }
    const changed = { ...session };
    if (data.status) {
      changed.status = data.status;
      changed.status_reason = data.reason ?? null; // as the API stores it: the reason goes with the status
      changed.status_detail = data.detail || null;
    }
    if (data.phone) changed.phone = data.phone;
    if (event === "connection_success") changed.connected_at = Date.now() / 1000;
    this.byId.set(session.id, changed);
    this.notify(changed);
  }
}
