// Accounts: the tenant's WhatsApp numbers with their live status and health (score, ban risk, the pacing
// slow-down), and what can be done to each (show the QR, simulate a scan, connect, reconnect, disconnect,
// log out, sync groups, delete).

import { confirmDialog } from "../dialog.js";
import { announce, busy, focusElement, h, replace } from "../dom.js";
import { PROVIDERS, fullTime, reasonLabel, riskLevel, sessionStatus, shortTime, waitsForScan } from "../format.js";
import { attempt, showError, showInfo } from "../notices.js";
import { openNewAccountDialog } from "./new_account.js";
import { openQrDialog } from "./qr_dialog.js";

export function mount(root, ctx) {
  const { api, live, sessions } = ctx;
  const cards = new Map(); // session id → card parts, updated in place so focus and <details> survive
  const list = h("ul", { class: "account-list", "aria-label": "Accounts" });
  const empty = h(
    "div",
    { class: "empty", hidden: true },
    h("p", {}, "No accounts yet."),
    h("p", { class: "muted" }, "Add a WhatsApp number, or a sandbox one to try wagate without a phone."),
  );
  const add = h("button", { type: "button", class: "button primary" }, "Add account");
  add.addEventListener("click", async () => {
    const created = await openNewAccountDialog(ctx);
    if (!created) return;
    announce(`${created.name} added`);
    if (waitsForScan(created)) openQrDialog(ctx, created.id);
    else focusElement(cards.get(created.id)?.heading);
  });
  root.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Accounts"), add),
    h("p", { class: "muted lead" }, "Your WhatsApp numbers. Status changes show up here as they happen."),
    empty,
    list,
  );

  const render = (store, changed) => {
    if (changed && cards.has(changed.id)) {
      const card = cards.get(changed.id);
      const before = card.session;
      updateCard(card, changed);
      if (before.status !== changed.status) announce(`${changed.name}: ${sessionStatus(changed.status).label}`);
      if (before.status !== changed.status || before.status_reason !== changed.status_reason) loadHealth(card);
      return;
    }
    const all = store.list();
    for (const [id, card] of cards) {
      if (!store.get(id)) {
        card.item.remove();
        cards.delete(id);
      }
    }
    for (const session of all) {
      let card = cards.get(session.id);
      if (!card) {
        card = createCard(session);
        cards.set(session.id, card);
      } else updateCard(card, session);
      list.append(card.item); // re-appending keeps the API's order (newest first)
    }
    empty.hidden = all.length > 0;
  };

  const createCard = (session) => {
    const heading = h("h2", { class: "account-name", tabindex: "-1" });
    const badges = h("div", { class: "badges" });
    const status = h("p", { class: "status" });
    const facts = h("dl", { class: "facts" });
    const actions = h("div", { class: "actions", role: "group", "aria-label": `Actions for ${session.name}` });
    const groups = groupsPanel(session);
    const health = h("section", { class: "health", "aria-label": `Health of ${session.name}` });
    const item = h(
      "li",
      { class: "card account", dataset: { sessionId: session.id } },
      h("div", { class: "account-head" }, heading, badges),
      status,
      facts,
      health,
      actions,
      groups.details,
    );
    const card = { item, heading, badges, status, facts, health, actions, groups, session };
    updateCard(card, session);
    loadHealth(card);
    return card;
  };

  // Each number's health, read when its card appears, when its status changes and every minute.
  const loadHealth = async (card) => {
    const id = card.session.id;
    try {
      showHealth(card, await api.sessionHealth(id));
    } catch (error) {
      if (cards.get(id) === card) replace(card.health, h("p", { class: "muted" }, `Health unavailable: ${error.message}`));
    }
  };

  const showHealth = (card, health) => {
    const { label, tone } = riskLevel(health.risk);
    card.health.dataset.risk = health.risk;
    const meter = h("meter", {
      class: "health-meter",
      min: "0",
      max: "100",
      low: "40",
      high: "70",
      optimum: "100",
      value: String(health.score),
      "aria-label": `Health score ${health.score} of 100`,
    });
    const s = health.signals;
    const slowed = health.slowdown < 1;
    replace(
      card.health,
      h(
        "div",
        { class: "health-head" },
        h("span", { class: `risk tone-${tone}` }, h("span", { class: "dot", "aria-hidden": "true" }), label),
        meter,
        h("span", { class: "health-score" }, `${Math.round(health.score)}/100`),
      ),
      h(
        "p",
        { class: "hint health-signals" },
        `Last ${health.window_days} days: ${s.sent} sent, ${s.failed} failed, ${s.replies} replies, ` +
          `${s.new_contacts} new contacts, ${s.restricted} refused with 463, ${s.refused} refused by recipients` +
          (health.judged ? "" : " (too few messages to judge rates yet)"),
      ),
      slowed
        ? h("p", { class: "health-slowdown tone-wait" }, `Sending slowed to ×${health.slowdown} of its pacing while the risk lasts.`)
        : null,
      health.reasons.length ? h("ul", { class: "health-reasons" }, health.reasons.map((reason) => h("li", {}, reason))) : null,
    );
  };

  const updateCard = (card, session) => {
    card.session = session;
    card.item.dataset.status = session.status;
    card.heading.textContent = session.name;
    const sandbox = session.provider === "sandbox" || session.sandbox;
    replace(
      card.badges,
      sandbox
        ? h("span", { class: "badge badge-sandbox", title: "Simulated: nothing reaches real WhatsApp" }, "sandbox")
        : h("span", { class: "badge" }, PROVIDERS[session.provider] ?? session.provider),
    );
    const { label, tone } = sessionStatus(session.status);
    card.status.className = `status tone-${tone}`;
    card.status.dataset.status = session.status;
    replace(card.status, h("span", { class: "dot", "aria-hidden": "true" }), label);
    replace(
      card.facts,
      h("div", {}, h("dt", {}, "Number"), h("dd", {}, session.phone || "not linked yet")),
      session.connected_at
        ? h("div", {}, h("dt", {}, "Connected"), h("dd", { title: fullTime(session.connected_at) }, shortTime(session.connected_at)))
        : null,
      session.status_reason
        ? h("div", {}, h("dt", {}, "Reason"), h("dd", { dataset: { reason: session.status_reason } }, reasonLabel(session.status_reason)))
        : null,
      session.status_detail ? h("div", {}, h("dt", {}, "Details"), h("dd", {}, session.status_detail)) : null,
    );
    const focused = card.actions.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    replace(card.actions, actionButtons(session));
    if (focused) {
      const again = card.actions.querySelector(`[data-action="${focused}"]`);
      focusElement(again ?? card.heading); // the action is gone (e.g. Disconnect after disconnecting)
    }
    card.groups.setAvailable(session.status === "connected");
  };

  const action = (name, label, run, className = "button small") =>
    h(
      "button",
      {
        type: "button",
        class: className,
        dataset: { action: name },
        onclick: async (event) => {
          const button = event.currentTarget;
          const id = button.closest("[data-session-id]")?.dataset.sessionId;
          await busy(button, () => attempt(run));
          if (!button.isConnected && (!document.activeElement || document.activeElement === document.body)) {
            // The card was redrawn under the user: the same action again, or its name if that is gone.
            const card = cards.get(id);
            if (card) focusElement(card.actions.querySelector(`[data-action="${name}"]`) ?? card.heading);
          }
        },
      },
      label,
    );

  const actionButtons = (session) => {
    const buttons = [];
    const id = session.id;
    const act = (verb) => () => sessions.act(id, () => api.sessionAction(id, verb));
    if (waitsForScan(session)) {
      buttons.push(action("qr", "Show QR code", () => openQrDialog(ctx, id), "button small primary"));
    }
    if (session.provider === "sandbox" && session.status === "qr") {
      buttons.push(action("scan", "Simulate scan", () => api.sandbox(id, "scan")));
    }
    if (["disconnected", "failed", "logged_out"].includes(session.status)) {
      buttons.push(
        action("connect", session.status === "logged_out" ? "Link again" : "Connect", async () => {
          await sessions.act(id, () => api.sessionAction(id, "connect"));
          if (session.provider !== "cloud" && session.status === "logged_out") openQrDialog(ctx, id);
        }),
      );
    }
    if (["connected", "connecting"].includes(session.status)) buttons.push(action("reconnect", "Reconnect", act("reconnect")));
    if (!["disconnected", "failed", "logged_out"].includes(session.status)) {
      buttons.push(action("disconnect", "Disconnect", act("disconnect")));
    }
    if (session.status === "connected") {
      buttons.push(
        action("sync-groups", "Sync groups", async () => {
          await api.syncGroups(id);
          showInfo(`Asked ${session.name} for its groups.`);
        }),
      );
    }
    if (session.status !== "logged_out") {
      buttons.push(
        action("logout", "Log out", async () => {
          const ok = await confirmDialog({
            title: `Log out ${session.name}?`,
            message: "The device is unlinked and its keys are wiped. Linking it again needs a new QR scan.",
            confirmLabel: "Log out",
            danger: true,
          });
          if (ok) await sessions.act(id, () => api.sessionAction(id, "logout"));
        }),
      );
    }
    buttons.push(
      action(
        "delete",
        "Delete",
        async () => {
          const ok = await confirmDialog({
            title: `Delete ${session.name}?`,
            message: "The account is logged out and removed with its keys. Its messages stay in the history.",
            confirmLabel: "Delete",
            danger: true,
          });
          if (!ok) return;
          await api.deleteSession(id);
          sessions.remove(id);
          announce(`${session.name} deleted`);
          focusElement(root.querySelector("h1"));
        },
        "button small ghost danger-text",
      ),
    );
    return buttons;
  };

  const groupsPanel = (session) => {
    const summaryCount = h("span", { class: "muted" });
    const body = h("div", { class: "groups-body" }, h("p", { class: "muted" }, "Loading…"));
    const details = h("details", { class: "groups" }, h("summary", {}, "Groups ", summaryCount), body);
    const load = async () => {
      try {
        const page = await api.groups(session.id);
        summaryCount.textContent = `(${page.items.length}${page.cursor ? "+" : ""})`;
        replace(
          body,
          page.synced_at === null
            ? h("p", { class: "muted" }, "Not synced yet. Use “Sync groups”.")
            : [
                h("p", { class: "hint" }, `Synced ${shortTime(page.synced_at)}`),
                page.items.length
                  ? h(
                      "ul",
                      { class: "group-list" },
                      page.items.map((group) =>
                        h("li", {}, h("strong", {}, group.subject), h("span", { class: "muted" }, ` · ${group.participants} members · ${group.jid}`)),
                      ),
                    )
                  : h("p", { class: "muted" }, "This number is in no groups."),
              ],
        );
      } catch (error) {
        replace(body, h("p", { class: "field-error" }, error.message));
      }
    };
    details.addEventListener("toggle", () => details.open && load());
    return {
      details,
      reload: () => details.open && load(),
      setCount: (count) => {
        summaryCount.textContent = `(${count})`;
      },
      setAvailable: (available) => {
        details.hidden = !available && !details.open;
      },
    };
  };

  const cleanups = [
    sessions.subscribe(render),
    live.on("groups_synced", (data) => {
      const card = cards.get(data.session_id);
      if (!card) return;
      if (typeof data.count === "number") card.groups.setCount(data.count);
      card.groups.reload();
      announce(`${card.session.name}: groups synced`);
    }),
    // a member added or removed, a new subject...: the open list is read again, so it never goes stale
    live.on("group_updated", (data) => {
      const card = cards.get(data.session_id);
      if (!card) return;
      card.groups.reload();
      announce(`${card.session.name}: ${data.group?.subject ?? data.group_jid} changed (${data.action})`);
    }),
  ];
  const healthTimer = setInterval(() => cards.forEach((card) => loadHealth(card)), 60_000);
  cleanups.push(() => clearInterval(healthTimer));
  if (sessions.loaded) render(sessions, null);
  sessions.refresh().catch(showError);
  return {
    unmount() {
      cleanups.forEach((cleanup) => cleanup());
    },
  };
}
