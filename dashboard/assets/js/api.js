// The wagate HTTP API client: one request() that turns every failure into an ApiError, and one method
// per endpoint the dashboard uses.

// What POST /v1/media takes in one request (WAGATE_MEDIA_BODY_BYTES' default, what a Lambda body carries).
export const MULTIPART_LIMIT = 4 * 1024 * 1024 - 64 * 1024; // room for the multipart envelope

export class ApiError extends Error {
  /**
   * status: HTTP status (0 when the API could not be reached); code and message: the API's
   * `error.code` / `error.message`; fields: `details.fields` ([{field, problem}]) when it names any.
   */
  constructor(status, code, message, details = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    // 422s name each field ({fields: [...]}); domain errors may name one ({field: "scheduled_at"}).
    if (Array.isArray(details?.fields)) this.fields = details.fields;
    else if (typeof details?.field === "string") this.fields = [{ field: details.field, problem: message }];
    else this.fields = [];
  }
}

export class Api {
  /** baseUrl: where the API is ("" = this page's origin); key: the tenant API key. */
  constructor(baseUrl, key, { onUnauthorized = () => {} } = {}) {
    this.baseUrl = baseUrl || window.location.origin;
    this.key = key;
    this.onUnauthorized = onUnauthorized;
  }

  /** Raises ApiError. Returns the parsed JSON body (null for an empty one). */
  async request(method, path, { query = null, body = undefined, headers = {} } = {}) {
    const url = new URL(path, this.baseUrl);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, String(value));
    }
    const init = {
      method,
      headers: { Accept: "application/json", Authorization: `Bearer ${this.key}`, ...headers },
      cache: "no-store",
    };
    if (body instanceof FormData) {
      init.body = body; // the browser sets multipart/form-data with its boundary
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch {
      throw new ApiError(0, "network_error", "Cannot reach the wagate API. Check the connection and try again.");
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (response.ok) return data;
    const error = data?.error;
    const failure = error
      ? new ApiError(response.status, error.code, error.message, error.details)
      : // API Gateway's own answers are {"message": "..."} (e.g. 403 Forbidden, 503).
        new ApiError(response.status, `http_${response.status}`, data?.message || `HTTP ${response.status}`);
    if (response.status === 401) this.onUnauthorized(failure);
    throw failure;
  }

  // ---- sessions (accounts) ----
  async listSessions() {
    const items = [];
    let cursor = null;
    do {
      const page = await this.request("GET", "/v1/sessions", { query: { limit: 100, cursor } });
      items.push(...page.items);
      cursor = page.cursor;
    } while (cursor);
    return items;
  }
  createSession(body) {
    return this.request("POST", "/v1/sessions", { body });
  }
  /** action: connect, reconnect, disconnect or logout. */
  sessionAction(id, action) {
    return this.request("POST", `/v1/sessions/${encodeURIComponent(id)}/${action}`);
  }
  deleteSession(id) {
    return this.request("DELETE", `/v1/sessions/${encodeURIComponent(id)}`);
  }
  qrCode(id) {
    return this.request("GET", `/v1/sessions/${encodeURIComponent(id)}/qr`, { query: { format: "data_url" } });
  }
  /** action: scan, drop, logout, ban or reply (sandbox sessions only). */
  sandbox(id, action, body = undefined) {
    return this.request("POST", `/v1/sandbox/sessions/${encodeURIComponent(id)}/${action}`, { body });
  }
  syncGroups(id) {
    return this.request("POST", `/v1/sessions/${encodeURIComponent(id)}/groups/sync`);
  }
  /** A number's health: score, risk, signals, the pacing slow-down (GET /v1/sessions/{id}/health). */
  sessionHealth(id) {
    return this.request("GET", `/v1/sessions/${encodeURIComponent(id)}/health`);
  }
  groups(id, cursor = null) {
    return this.request("GET", `/v1/sessions/${encodeURIComponent(id)}/groups`, { query: { limit: 100, cursor } });
  }

  // ---- the dashboard socket ----
  realtimeToken() {
    return this.request("POST", "/v1/realtime/token");
  }

  // ---- messages and conversations ----
  /** A send is retried safely: the same Idempotency-Key returns the first answer. */
  sendMessage(body, idempotencyKey = crypto.randomUUID()) {
    return this.request("POST", "/v1/messages", { body, headers: { "Idempotency-Key": idempotencyKey } });
  }
  message(id) {
    return this.request("GET", `/v1/messages/${encodeURIComponent(id)}`);
  }
  listMessages(query) {
    return this.request("GET", "/v1/messages", { query });
  }
  cancelMessage(id) {
    return this.request("DELETE", `/v1/messages/${encodeURIComponent(id)}`);
  }
  conversations(sessionId, cursor = null) {
    return this.request("GET", "/v1/conversations", { query: { session_id: sessionId, limit: 50, cursor } });
  }
  conversation(id) {
    return this.request("GET", `/v1/conversations/${encodeURIComponent(id)}`);
  }
  conversationMessages(id, cursor = null, limit = 30) {
    return this.request("GET", `/v1/conversations/${encodeURIComponent(id)}/messages`, { query: { limit, cursor } });
  }
  markRead(id) {
    return this.request("POST", `/v1/conversations/${encodeURIComponent(id)}/read`);
  }

  // ---- media ----
  /**
   * Stores a file and returns its `media` object (its `id` goes in a send's `media.upload_id`). Files up
   * to `MULTIPART_LIMIT` go in one multipart request; larger ones are PUT to a signed link (S3 on AWS)
   * and then checked by the API, so they never pass through the API's body limit.
   */
  async uploadMedia(file, { filename = file.name, onStage = () => {} } = {}) {
    if (file.size <= MULTIPART_LIMIT) {
      const form = new FormData();
      form.append("file", file, filename);
      if (filename) form.append("filename", filename);
      onStage("uploading");
      return this.request("POST", "/v1/media", { body: form });
    }
    const started = await this.request("POST", "/v1/uploads", {
      body: { size: file.size, filename: filename || undefined, content_type: file.type || undefined },
    });
    onStage("uploading");
    let put;
    try {
      put = await fetch(started.upload.url, {
        method: started.upload.method ?? "PUT",
        headers: started.upload.headers ?? {},
        body: file,
      });
    } catch {
      throw new ApiError(0, "network_error", "The file could not be uploaded. Check the connection and try again.");
    }
    if (!put.ok) throw new ApiError(put.status, "upload_failed", `The file could not be uploaded (HTTP ${put.status}).`);
    onStage("checking");
    return this.request("POST", `/v1/media/${encodeURIComponent(started.id)}/complete`);
  }
  /** A stored file's `media` object with a fresh short-lived `url`. */
  media(id) {
    return this.request("GET", `/v1/media/${encodeURIComponent(id)}`);
  }

  // ---- templates ----
  /** A page of the audit log (newest first); `filters`: actor, action, target, since, until. */
  audit(filters = {}, cursor = null) {
    const query = { limit: 50, cursor };
    for (const [name, value] of Object.entries(filters)) if (value) query[name] = value;
    return this.request("GET", "/v1/audit", { query });
  }

  /** GET /v1/insights: totals, series and uptime; `query`: from, to, granularity, session_id or broadcast_id. */
  insights(query) {
    return this.request("GET", "/v1/insights", { query });
  }
  insightsTemplates(query) {
    return this.request("GET", "/v1/insights/templates", { query });
  }

  async templates() {
    return (await this.request("GET", "/v1/templates")).items;
  }
  createTemplate(body) {
    return this.request("POST", "/v1/templates", { body });
  }
  updateTemplate(name, language, changes) {
    return this.request("PATCH", `/v1/templates/${encodeURIComponent(name)}`, { query: { language }, body: changes });
  }
  deleteTemplate(name, language) {
    return this.request("DELETE", `/v1/templates/${encodeURIComponent(name)}`, { query: { language } });
  }
  previewTemplate(name, language, variables) {
    return this.request("POST", `/v1/templates/${encodeURIComponent(name)}/preview`, {
      body: { language, variables },
    });
  }

  // ---- reminder plans ----
  reminders(cursor = null) {
    return this.request("GET", "/v1/reminders", { query: { limit: 50, cursor } });
  }
  cancelReminders(id) {
    return this.request("DELETE", `/v1/reminders/${encodeURIComponent(id)}`);
  }

  // ---- broadcasts ----
  broadcasts(cursor = null) {
    return this.request("GET", "/v1/broadcasts", { query: { limit: 50, cursor } });
  }
  createBroadcast(body, idempotencyKey) {
    return this.request("POST", "/v1/broadcasts", { body, headers: { "Idempotency-Key": idempotencyKey } });
  }
  steerBroadcast(id, action) {
    return this.request("POST", `/v1/broadcasts/${encodeURIComponent(id)}/${action}`);
  }

  // ---- settings: keys, webhooks, pools, pacing ----
  async keys() {
    return (await this.request("GET", "/v1/keys")).items;
  }
  createKey(body) {
    return this.request("POST", "/v1/keys", { body });
  }
  revokeKey(id) {
    return this.request("DELETE", `/v1/keys/${encodeURIComponent(id)}`);
  }
  async webhooks() {
    return (await this.request("GET", "/v1/webhooks")).items;
  }
  createWebhook(body) {
    return this.request("POST", "/v1/webhooks", { body });
  }
  deleteWebhook(id) {
    return this.request("DELETE", `/v1/webhooks/${encodeURIComponent(id)}`);
  }
  deliveries(webhookId) {
    return this.request("GET", `/v1/webhooks/${encodeURIComponent(webhookId)}/deliveries`, { query: { limit: 20 } });
  }
  replayDelivery(webhookId, deliveryId) {
    const path = `/v1/webhooks/${encodeURIComponent(webhookId)}/deliveries/${encodeURIComponent(deliveryId)}/replay`;
    return this.request("POST", path);
  }
  async pools() {
    const items = [];
    let cursor = null;
    do {
      const page = await this.request("GET", "/v1/pools", { query: { limit: 100, cursor } });
      items.push(...page.items);
      cursor = page.cursor;
    } while (cursor);
    return items;
  }
  createPool(body) {
    return this.request("POST", "/v1/pools", { body });
  }
  deletePool(name) {
    return this.request("DELETE", `/v1/pools/${encodeURIComponent(name)}`);
  }
  tenantPacing() {
    return this.request("GET", "/v1/settings/pacing");
  }
  setTenantPacing(overrides) {
    return this.request("PUT", "/v1/settings/pacing", { body: overrides });
  }
  /** The tenant's default time zone for reports that name none (GET/PUT /v1/settings/insights). */
  insightsSettings() {
    return this.request("GET", "/v1/settings/insights");
  }
  setInsightsSettings(body) {
    return this.request("PUT", "/v1/settings/insights", { body });
  }
}
