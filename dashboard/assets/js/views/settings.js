// Settings (admin keys): API keys (create with scopes and accounts, revoke), CRM webhooks (create,
// delete, their deliveries and replay), number pools, the tenant's default pacing and the time zone of
// its reports — what the API offers, without curl. Secrets are shown once, right after they are made.

import { confirmDialog } from "../dialog.js";
import { announce, busy, clearFormError, field, formErrorSlot, h, replace, showFormError } from "../dom.js";
import { fullTime, shortTime } from "../format.js";
import { showError } from "../notices.js";
import { browserZone, zoneNames } from "./insights.js";

const SCOPES = ["read", "send", "admin"];
const PACING_FIELDS = [
  ["rate_per_minute", "Messages per minute", "0.1"],
  ["burst", "Burst", "1"],
  ["jitter_min_seconds", "Pause at least (s)", "0.1"],
  ["jitter_max_seconds", "Pause at most (s)", "0.1"],
  ["first_contacts_per_day", "New contacts per day", "1"],
];

/** A card with a heading, a table and a form to add to it. */
function section(id, title, lead, table, form) {
  return h(
    "section",
    { class: "card stack settings-section", id, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title),
    h("p", { class: "muted" }, lead),
    h("div", { class: "table-scroll" }, table),
    form,
  );
}

function grid(caption, headings, body) {
  return h(
    "table",
    { class: "audit-table" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
    body,
  );
}

/** The one-time secret, with the words that say it will not be shown again. */
function secretBox(label, secret) {
  const box = h("input", { type: "text", readonly: true, value: secret, class: "secret", "aria-label": label });
  return h("div", { class: "secret-once", role: "status" }, h("p", {}, `${label} — copy it now, it is not shown again:`), box);
}

export function mount(root, { api, sessions }) {
  const keysBody = h("tbody", {});
  const hooksBody = h("tbody", {});
  const poolsBody = h("tbody", {});
  const accountName = (id) => sessions.get(id)?.name ?? id;
  const accountChoices = (name) =>
    h("fieldset", { class: "choices" }, h("legend", {}, "Accounts"), ...sessions.list().map((s) => h("label", {}, h("input", { type: "checkbox", name, value: s.id }), ` ${s.name}`)));
  const checked = (form, name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);

  // ---- API keys ----
  const keyOut = h("div", {});
  const keyForm = h(
    "form",
    { class: "stack", novalidate: true },
    formErrorSlot(),
    field({ label: "Key name", control: h("input", { name: "name", type: "text", required: true, maxlength: 100, autocomplete: "off" }) }),
    h("fieldset", { class: "choices" }, h("legend", {}, "Scopes"), ...SCOPES.map((s) => h("label", {}, h("input", { type: "checkbox", name: "scopes", value: s, checked: s !== "admin" }), ` ${s}`))),
    h("div", { class: "key-accounts" }),
    h("p", { class: "hint" }, "Tick accounts to limit the key to them (an advisor's own number); none: every account. A limited key cannot be admin."),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "button primary" }, "Create key")),
    keyOut,
  );
  const loadKeys = async () => {
    const keys = await api.keys();
    replace(
      keysBody,
      keys.map((k) =>
        h(
          "tr",
          { class: "api-key", dataset: { keyId: k.id } },
          h("td", {}, h("strong", {}, k.name), h("br"), h("code", {}, `${k.prefix}…`)),
          h("td", {}, k.scopes.join(", ")),
          h("td", {}, k.sessions ? k.sessions.map(accountName).join(", ") : "all"),
          h("td", {}, h("time", { title: fullTime(k.created_at) }, shortTime(k.created_at))),
          h("td", {}, h("button", { type: "button", class: "button small ghost danger-text", onclick: (e) => revokeKey(k, e.currentTarget) }, "Revoke")),
        ),
      ),
    );
  };
  const revokeKey = async (k, button) => {
    const ok = await confirmDialog({ title: `Revoke ${k.name}?`, message: "Anything using it is refused within a minute.", confirmLabel: "Revoke", danger: true });
    if (!ok) return;
    try {
      await busy(button, () => api.revokeKey(k.id));
      announce(`Key ${k.name} revoked`);
      await loadKeys();
    } catch (error) {
      showError(error);
    }
  };
  keyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(keyForm);
    const limited = checked(keyForm, "sessions");
    const body = { name: keyForm.elements.namedItem("name").value.trim(), scopes: checked(keyForm, "scopes"), ...(limited.length ? { sessions: limited } : {}) };
    try {
      const created = await busy(event.submitter, () => api.createKey(body));
      replace(keyOut, secretBox(`API key ${created.key.name}`, created.secret));
      keyForm.elements.namedItem("name").value = "";
      await loadKeys();
    } catch (error) {
      showFormError(keyForm, error);
    }
  });

  // ---- CRM webhooks ----
  const hookOut = h("div", {});
  const deliveries = h("div", { class: "deliveries" });
  const hookForm = h(
    "form",
    { class: "stack", novalidate: true },
    formErrorSlot(),
    h(
      "div",
      { class: "row" },
      field({ label: "URL", control: h("input", { name: "url", type: "url", required: true, placeholder: "https://crm.example.com/wagate", autocomplete: "off" }) }),
      field({ label: "Events", control: h("input", { name: "events", type: "text", placeholder: "all, or e.g. message_status, incoming_message", autocomplete: "off" }) }),
    ),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "button primary" }, "Add webhook")),
    hookOut,
  );
  const loadHooks = async () => {
    const hooks = await api.webhooks();
    replace(
      hooksBody,
      hooks.map((w) =>
        h(
          "tr",
          { class: "webhook", dataset: { webhookId: w.id } },
          h("td", {}, h("code", {}, w.url)),
          h("td", {}, w.events.length ? w.events.join(", ") : "all"),
          h("td", {}, w.enabled ? "on" : `off${w.disabled_reason ? ` (${w.disabled_reason})` : ""}`),
          h(
            "td",
            { class: "actions" },
            h("button", { type: "button", class: "button small", onclick: () => showDeliveries(w) }, "Deliveries"),
            h("button", { type: "button", class: "button small ghost danger-text", onclick: (e) => deleteHook(w, e.currentTarget) }, "Delete"),
          ),
        ),
      ),
    );
  };
  const showDeliveries = async (w) => {
    let page;
    try {
      page = await api.deliveries(w.id);
    } catch (error) {
      showError(error);
      return;
    }
    const body = h("tbody", {});
    replace(
      body,
      page.items.map((d) =>
        h(
          "tr",
          { class: "delivery", dataset: { deliveryId: d.id, status: d.status } },
          h("td", {}, h("time", { title: fullTime(d.created_at) }, shortTime(d.created_at))),
          h("td", {}, d.event_type),
          h("td", {}, d.status),
          h("td", {}, String(d.attempt_count)),
          h("td", {}, d.status === "pending" ? "" : h("button", { type: "button", class: "button small", onclick: (e) => replay(w, d, e.currentTarget) }, "Replay")),
        ),
      ),
    );
    replace(deliveries, h("h3", {}, `Deliveries to ${w.url}`), page.items.length ? grid("Recent deliveries", ["When", "Event", "Status", "Attempts", ""], body) : h("p", { class: "muted" }, "Nothing delivered yet."));
  };
  const replay = async (w, d, button) => {
    try {
      await busy(button, () => api.replayDelivery(w.id, d.id));
      announce("Delivery queued again");
      await showDeliveries(w);
    } catch (error) {
      showError(error);
    }
  };
  const deleteHook = async (w, button) => {
    const ok = await confirmDialog({ title: "Delete this webhook?", message: w.url, confirmLabel: "Delete", danger: true });
    if (!ok) return;
    try {
      await busy(button, () => api.deleteWebhook(w.id));
      replace(deliveries);
      await loadHooks();
    } catch (error) {
      showError(error);
    }
  };
  hookForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(hookForm);
    const events = hookForm.elements.namedItem("events").value.split(",").map((e) => e.trim()).filter((e) => e && e !== "all");
    try {
      const created = await busy(event.submitter, () => api.createWebhook({ url: hookForm.elements.namedItem("url").value.trim(), events }));
      replace(hookOut, secretBox("Signing secret", created.secret));
      await loadHooks();
    } catch (error) {
      showFormError(hookForm, error);
    }
  });

  // ---- number pools ----
  const poolForm = h(
    "form",
    { class: "stack", novalidate: true },
    formErrorSlot(),
    field({ label: "Pool name", control: h("input", { name: "name", type: "text", required: true, maxlength: 64, autocomplete: "off" }) }),
    h("div", { class: "pool-accounts" }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "button primary" }, "Create pool")),
  );
  const loadPools = async () => {
    const pools = await api.pools();
    replace(
      poolsBody,
      pools.map((p) =>
        h(
          "tr",
          { class: "pool", dataset: { pool: p.name } },
          h("td", {}, h("strong", {}, p.name)),
          h("td", {}, p.members.map((m) => accountName(m.session_id)).join(", ")),
          h("td", {}, h("button", { type: "button", class: "button small ghost danger-text", onclick: (e) => deletePool(p, e.currentTarget) }, "Delete")),
        ),
      ),
    );
  };
  const deletePool = async (p, button) => {
    const ok = await confirmDialog({ title: `Delete pool ${p.name}?`, message: "Sends that name it will be refused.", confirmLabel: "Delete", danger: true });
    if (!ok) return;
    try {
      await busy(button, () => api.deletePool(p.name));
      await loadPools();
    } catch (error) {
      showError(error);
    }
  };
  poolForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(poolForm);
    const members = checked(poolForm, "members").map((id) => ({ session_id: id }));
    try {
      await busy(event.submitter, () => api.createPool({ name: poolForm.elements.namedItem("name").value.trim(), members }));
      announce("Pool created");
      poolForm.reset();
      await loadPools();
    } catch (error) {
      showFormError(poolForm, error);
    }
  });

  // ---- pacing ----
  const pacingForm = h(
    "form",
    { class: "stack", novalidate: true, "aria-labelledby": "settings-pacing-title" },
    formErrorSlot(),
    h("div", { class: "row wrap" }, ...PACING_FIELDS.map(([name, label, step]) => field({ label, control: h("input", { name, type: "number", min: 0, step }), className: "field narrow" }))),
    h("label", {}, h("input", { type: "checkbox", name: "typing" }), " Show “typing…” before each message"),
    h("p", { class: "hint" }, "Empty fields inherit the server's defaults (shown as placeholders)."),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "button primary" }, "Save pacing")),
  );
  const loadPacing = async () => {
    const view = await api.tenantPacing();
    for (const [name] of PACING_FIELDS) {
      const input = pacingForm.elements.namedItem(name);
      input.value = view.pacing[name] ?? "";
      input.placeholder = String(view.effective[name]);
    }
    pacingForm.elements.namedItem("typing").checked = Boolean(view.effective.typing);
  };
  pacingForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(pacingForm);
    const overrides = { typing: pacingForm.elements.namedItem("typing").checked };
    for (const [name] of PACING_FIELDS) {
      const value = pacingForm.elements.namedItem(name).value;
      if (value !== "") overrides[name] = Number(value);
    }
    try {
      await busy(event.submitter, () => api.setTenantPacing(overrides));
      announce("Pacing saved");
      await loadPacing();
    } catch (error) {
      showFormError(pacingForm, error);
    }
  });

  // ---- the time zone of reports (for API calls that name none; the Insights page uses its own) ----
  const zoneForm = h(
    "form",
    { class: "stack", novalidate: true, "aria-labelledby": "settings-reports-title" },
    formErrorSlot(),
    field({ label: "Time zone", control: h("select", { name: "time_zone" }, ...zoneNames(browserZone()).map((z) => h("option", { value: z }, z))), className: "field" }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "button primary" }, "Save time zone")),
  );
  const loadZone = async () => {
    const settings = await api.insightsSettings();
    const select = zoneForm.elements.namedItem("time_zone");
    if (![...select.options].some((o) => o.value === settings.time_zone)) select.append(h("option", { value: settings.time_zone }, settings.time_zone));
    select.value = settings.time_zone;
  };
  zoneForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(zoneForm);
    try {
      await busy(event.submitter, () => api.setInsightsSettings({ time_zone: zoneForm.elements.namedItem("time_zone").value }));
      announce("Time zone saved");
    } catch (error) {
      showFormError(zoneForm, error);
    }
  });

  root.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Settings")),
    h("p", { class: "muted lead" }, "Keys, webhooks, pools and pacing. Changing them needs an admin key."),
    section("settings-keys", "API keys", "Who may use the API, with what scopes and on which accounts.", grid("API keys", ["Key", "Scopes", "Accounts", "Created", ""], keysBody), keyForm),
    section("settings-webhooks", "CRM webhooks", "Where wagate posts events, signed (Standard Webhooks).", grid("Webhooks", ["URL", "Events", "State", ""], hooksBody), h("div", {}, hookForm, deliveries)),
    section("settings-pools", "Number pools", "Send with a pool's name and wagate picks a connected number from it.", grid("Pools", ["Pool", "Accounts", ""], poolsBody), poolForm),
    h("section", { class: "card stack settings-section", id: "settings-pacing", "aria-labelledby": "settings-pacing-title" }, h("h2", { id: "settings-pacing-title" }, "Pacing"), h("p", { class: "muted" }, "How fast every number sends, unless the number sets its own."), pacingForm),
    h("section", { class: "card stack settings-section", id: "settings-reports", "aria-labelledby": "settings-reports-title" }, h("h2", { id: "settings-reports-title" }, "Reports"), h("p", { class: "muted" }, "The days of insights the API gives when a request names no time zone (tz)."), zoneForm),
  );

  let shownAccounts = null;
  const fillAccounts = () => {
    // Only when the accounts themselves change: a status update must not untick what is being chosen.
    const now = sessions.list().map((s) => `${s.id}:${s.name}`).join(",");
    if (now === shownAccounts) return;
    shownAccounts = now;
    replace(keyForm.querySelector(".key-accounts"), accountChoices("sessions"));
    replace(poolForm.querySelector(".pool-accounts"), accountChoices("members"));
  };
  const unsubscribe = sessions.subscribe(fillAccounts);
  if (sessions.loaded) fillAccounts();
  else sessions.refresh().catch(showError);
  for (const load of [loadKeys, loadHooks, loadPools, loadPacing, loadZone]) load().catch(showError);
  return { unmount: unsubscribe };
}
