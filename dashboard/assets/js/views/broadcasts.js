// Broadcasts: one text to many people (POST /v1/broadcasts), each line of the list a recipient with an
// optional name for {name}; their progress, refreshed while any is running; pause, resume and cancel.

import { confirmDialog } from "../dialog.js";
import { announce, busy, clearFormError, field, formErrorSlot, h, replace, showFormError } from "../dom.js";
import { fullTime, shortTime } from "../format.js";
import { showError } from "../notices.js";

const REFRESH_MS = 3000; // while one is sending
const SETTLING_MS = 10_000; // for a while after: receipts keep moving delivered and read
const SETTLING_FOR_S = 15 * 60;
const STATUS_LABELS = { running: "Sending", paused: "Paused", cancelled: "Cancelled", completed: "Completed" };
const ACTIONS = {
  running: [["pause", "Pause"], ["cancel", "Cancel"]],
  paused: [["resume", "Resume"], ["cancel", "Cancel"]],
};

/** "+34 600 123 456, Ana" lines → [{to, variables: {name}}]; blank lines are skipped. */
export function parseRecipients(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [to, ...rest] = line.split(",");
      const name = rest.join(",").trim();
      return { to: to.trim(), ...(name ? { variables: { name } } : {}) };
    });
}

export function mount(root, { api, sessions }) {
  let timer = null;
  const list = h("tbody", {});
  const table = h(
    "table",
    { class: "audit-table broadcast-table" },
    h("caption", { class: "visually-hidden" }, "Broadcasts, newest first"),
    h("thead", {}, h("tr", {}, ["Broadcast", "Status", "Progress", "Delivered", "Read", "Failed", ""].map((t) => h("th", { scope: "col" }, t)))),
    list,
  );
  const empty = h("p", { class: "empty muted", hidden: true }, "No broadcasts yet.");
  const account = h("select", { name: "session_id", required: true });
  const text = h("textarea", { name: "text", rows: 3, maxlength: 4096, required: true, placeholder: "Hola {name}, el taller empieza el lunes." });
  const people = h("textarea", { name: "recipients", rows: 6, required: true, placeholder: "+34 600 123 456, Ana\n+34 600 654 321, Luis" });
  const send = h("button", { type: "submit", class: "button primary" }, "Start broadcast");
  const form = h(
    "form",
    { class: "card stack broadcast-form", novalidate: true, "aria-labelledby": "broadcast-new-title" },
    h("h2", { id: "broadcast-new-title" }, "New broadcast"),
    formErrorSlot(),
    h(
      "div",
      { class: "row" },
      field({ label: "Name", control: h("input", { name: "name", type: "text", maxlength: 200, autocomplete: "off" }) }),
      field({ label: "From account", control: account }),
    ),
    field({ label: "Text", control: text, hint: "{name} is each recipient's name from the list below" }),
    field({ label: "Recipients", control: people, hint: "One per line: the phone number with its country code, then a comma and a name (optional). Up to 10,000." }),
    h("div", { class: "form-actions" }, send),
  );
  root.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Broadcasts")),
    h("p", { class: "muted lead" }, "One message to many people, sent at your number's pace: pause or cancel it at any time."),
    form,
    h("div", { class: "table-scroll" }, table),
    empty,
  );

  const fillAccounts = () => {
    const chosen = account.value;
    replace(account, sessions.list().map((s) => h("option", { value: s.id, selected: s.id === chosen }, s.name)));
  };

  const row = (b) => {
    const c = b.counts;
    const done = c.sent + c.failed + c.cancelled;
    const meter = h("progress", { max: Math.max(1, c.recipients - c.rejected), value: done, "aria-label": `${done} of ${c.recipients} handled` });
    const actions = (ACTIONS[b.status] ?? []).map(([action, label]) =>
      h("button", { type: "button", class: `button small ${action === "cancel" ? "ghost danger-text" : ""}`, onclick: (e) => steer(b, action, e.currentTarget) }, label),
    );
    const from = sessions.get(b.session_id)?.name ?? b.pool ?? b.session_id;
    return h(
      "tr",
      { class: "broadcast", dataset: { broadcastId: b.id, status: b.status } },
      h("td", {}, h("strong", {}, b.name || "Untitled"), h("br"), h("span", { class: "muted" }, `${from} · `, h("time", { title: fullTime(b.created_at) }, shortTime(b.created_at)))),
      h("td", {}, h("span", { class: `status-chip broadcast-${b.status}` }, STATUS_LABELS[b.status] ?? b.status), b.status_reason && b.status_reason !== "requested" ? h("span", { class: "muted" }, ` ${b.status_reason}`) : null),
      h("td", { class: "broadcast-progress" }, meter, h("span", { class: "muted" }, ` ${c.sent} sent of ${c.recipients}${c.queued ? `, ${c.queued} queued` : ""}`)),
      h("td", { dataset: { count: "delivered" } }, String(c.delivered)),
      h("td", { dataset: { count: "read" } }, String(c.read)),
      h("td", { dataset: { count: "failed" } }, String(c.failed + c.rejected)),
      h("td", { class: "actions" }, ...actions),
    );
  };

  const load = async () => {
    clearTimeout(timer);
    let page;
    try {
      page = await api.broadcasts();
    } catch (error) {
      showError(error);
      return;
    }
    replace(list, page.items.map(row));
    table.hidden = page.items.length === 0;
    empty.hidden = page.items.length > 0;
    const now = Date.now() / 1000;
    if (page.items.some((b) => b.status === "running")) timer = setTimeout(load, REFRESH_MS);
    else if (page.items.some((b) => now - b.updated_at < SETTLING_FOR_S)) timer = setTimeout(load, SETTLING_MS);
  };

  const steer = async (b, action, button) => {
    if (action === "cancel") {
      const ok = await confirmDialog({
        title: `Cancel ${b.name || "this broadcast"}?`,
        message: "Messages already sent stay sent; the rest are not sent.",
        confirmLabel: "Cancel broadcast",
        danger: true,
      });
      if (!ok) return;
    }
    try {
      await busy(button, () => api.steerBroadcast(b.id, action));
    } catch (error) {
      showError(error);
    }
    announce(`Broadcast ${action === "resume" ? "resumed" : action === "pause" ? "paused" : "cancelled"}`);
    load();
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(form);
    const body = {
      name: form.elements.namedItem("name").value.trim(),
      session_id: account.value,
      text: text.value,
      recipients: parseRecipients(people.value),
    };
    try {
      const created = await busy(send, () => api.createBroadcast(body, crypto.randomUUID()));
      announce(`Broadcast to ${created.counts.recipients} people started`);
      people.value = "";
    } catch (error) {
      // invalid_recipients names them by line: say which lines, in the list's own words.
      const named = error.details?.recipients ?? [];
      if (named.length) error.fields = [{ field: "recipients", problem: named.map((p) => `line ${p.index + 1}: ${p.message}`).join("; ") }];
      showFormError(form, error);
      return;
    }
    load();
  });

  const unsubscribe = sessions.subscribe(fillAccounts);
  if (sessions.loaded) fillAccounts();
  else sessions.refresh().catch(showError);
  load();
  return {
    unmount() {
      clearTimeout(timer);
      unsubscribe();
    },
  };
}
