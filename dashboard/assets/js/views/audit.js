// Audit log: who changed what, when and from where (GET /v1/audit, admin keys), newest first, with
// filters for actor, action and target. Read-only: nothing here (or anywhere) edits the log.

import { h, replace } from "../dom.js";
import { fullTime, shortTime } from "../format.js";
import { showError } from "../notices.js";

const OUTCOME_CLASS = (status) => (status < 300 ? "ok" : status < 500 ? "refused" : "failed");

export function mount(root, { api }) {
  const fields = {
    actor: h("input", { type: "text", id: "audit-actor", name: "actor", placeholder: "key_… or whatsapp", autocomplete: "off" }),
    action: h("input", { type: "text", id: "audit-action", name: "action", placeholder: "key.created or POST /v1/sessions", autocomplete: "off" }),
    target: h("input", { type: "text", id: "audit-target", name: "target", placeholder: "ses_… key_… msg_…", autocomplete: "off" }),
  };
  const label = (name, text) => h("div", { class: "field" }, h("label", { for: fields[name].id }, text), fields[name]);
  const form = h(
    "form",
    { class: "audit-filters", role: "search", "aria-label": "Filter the audit log" },
    label("actor", "Actor"),
    label("action", "Action"),
    label("target", "Target"),
    h("button", { type: "submit", class: "button small" }, "Filter"),
  );
  const rows = h("tbody", {});
  const table = h(
    "table",
    { class: "audit-table" },
    h("caption", { class: "visually-hidden" }, "Audit log entries, newest first"),
    h("thead", {}, h("tr", {}, ["When", "Actor", "Action", "Target", "Outcome", "From"].map((t) => h("th", { scope: "col" }, t)))),
    rows,
  );
  const empty = h("p", { class: "empty muted", hidden: true }, "Nothing recorded matches.");
  const more = h("button", { type: "button", class: "button ghost small", hidden: true }, "Load more");
  root.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Audit log")),
    h("p", { class: "muted lead" }, "Every change made through the API or by an operator, and security events (keys, linking, failed sign-ins). Message content and secrets are never recorded."),
    form,
    h("div", { class: "table-scroll" }, table),
    empty,
    more,
  );
  let cursor = null;

  const filters = () => Object.fromEntries(Object.entries(fields).map(([name, input]) => [name, input.value.trim()]));

  const row = (entry) =>
    h(
      "tr",
      { class: "audit-entry", dataset: { entryId: entry.id, kind: entry.kind } },
      h("td", {}, h("time", { title: fullTime(entry.at) }, shortTime(entry.at))),
      h("td", {}, entry.actor),
      h("td", {}, h("code", {}, entry.action)),
      h("td", {}, entry.target ?? ""),
      h("td", {}, h("span", { class: `status-chip outcome-${OUTCOME_CLASS(entry.outcome)}` }, String(entry.outcome))),
      h("td", {}, entry.source_ip ?? ""),
    );

  const load = async (append = false) => {
    try {
      const page = await api.audit(filters(), append ? cursor : null);
      if (!append) replace(rows);
      rows.append(...page.items.map(row));
      cursor = page.cursor;
    } catch (error) {
      showError(error);
    }
    empty.hidden = rows.children.length > 0;
    table.hidden = rows.children.length === 0;
    more.hidden = !cursor;
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  more.addEventListener("click", () => load(true));
  load();
  return { unmount() {} };
}
