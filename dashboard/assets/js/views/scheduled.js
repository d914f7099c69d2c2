// Scheduled: messages waiting for their time (GET /v1/messages?status=scheduled) and reminder plans
// (GET /v1/reminders), each of which can be cancelled.

import { confirmDialog } from "../dialog.js";
import { announce, busy, focusElement, h, replace } from "../dom.js";
import { fullTime, messageText, shortTime } from "../format.js";
import { showError } from "../notices.js";

const PLAN_STATUS = { creating: "Being planned", active: "Active", incomplete: "Partly planned", cancelled: "Cancelled" };
const REMINDER_STATE = { pending: "Pending", scheduled: "Scheduled", skipped: "Skipped", cancelled: "Cancelled" };

export function mount(root, { api, sessions }) {
  const messages = h("ul", { class: "scheduled-list", "aria-label": "Scheduled messages" });
  const messagesEmpty = h("p", { class: "empty muted", hidden: true }, "No messages are waiting to be sent.");
  const moreMessages = h("button", { type: "button", class: "button ghost small", hidden: true }, "Load more");
  const plans = h("ul", { class: "plan-list", "aria-label": "Reminder plans" });
  const plansEmpty = h("p", { class: "empty muted", hidden: true }, "No reminder plans.");
  const morePlans = h("button", { type: "button", class: "button ghost small", hidden: true }, "Load more");
  root.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Scheduled")),
    h("p", { class: "muted lead" }, "Messages waiting for their time (soonest first) and reminder plans around events."),
    h("section", { class: "stack", "aria-labelledby": "scheduled-messages-title" }, h("h2", { id: "scheduled-messages-title" }, "Scheduled messages"), messagesEmpty, messages, moreMessages),
    h("section", { class: "stack", "aria-labelledby": "plans-title" }, h("h2", { id: "plans-title" }, "Reminder plans"), plansEmpty, plans, morePlans),
  );
  let messageCursor = null;
  let planCursor = null;

  const accountName = (id) => {
    const session = sessions.get(id);
    if (!session) return id;
    return session.provider === "sandbox" ? `${session.name} (sandbox)` : session.name;
  };

  const loadMessages = async (append = false) => {
    try {
      const page = await api.listMessages({ status: "scheduled", limit: 50, cursor: append ? messageCursor : null });
      // Soonest first: that is what happens next.
      const items = page.items.sort((a, b) => (a.scheduled_at ?? 0) - (b.scheduled_at ?? 0));
      if (!append) replace(messages);
      messages.append(...items.map(messageItem));
      messageCursor = page.cursor;
    } catch (error) {
      showError(error);
    }
    messagesEmpty.hidden = messages.children.length > 0;
    moreMessages.hidden = !messageCursor;
  };

  const messageItem = (m) => {
    const item = h(
      "li",
      { class: "card scheduled-item", dataset: { messageId: m.id } },
      h(
        "div",
        { class: "scheduled-main" },
        h("p", { class: "scheduled-when" }, h("time", { title: fullTime(m.scheduled_at) }, fullTime(m.scheduled_at))),
        h("p", {}, h("strong", {}, m.to ?? m.chat), h("span", { class: "muted" }, ` from ${accountName(m.session_id)}`)),
        h("p", { class: "scheduled-text" }, messageText(m)),
      ),
      h(
        "button",
        {
          type: "button",
          class: "button small",
          "aria-label": `Cancel the message to ${m.to ?? m.chat} at ${fullTime(m.scheduled_at)}`,
          onclick: (event) => cancelMessage(event.currentTarget, m, item),
        },
        "Cancel",
      ),
    );
    return item;
  };

  const cancelMessage = async (button, message, item) => {
    const ok = await confirmDialog({
      title: "Cancel this message?",
      message: `“${messageText(message)}” to ${message.to ?? message.chat} will not be sent.`,
      confirmLabel: "Cancel message",
      danger: true,
    });
    if (!ok) return;
    try {
      await busy(button, () => api.cancelMessage(message.id));
    } catch (error) {
      showError(error);
      return;
    }
    const next = item.nextElementSibling ?? item.previousElementSibling;
    item.remove();
    messagesEmpty.hidden = messages.children.length > 0;
    announce("Message cancelled");
    focusElement(next?.querySelector("button") ?? document.getElementById("scheduled-messages-title"));
  };

  const loadPlans = async (append = false) => {
    try {
      const page = await api.reminders(append ? planCursor : null);
      if (!append) replace(plans);
      plans.append(...page.items.map(planItem));
      planCursor = page.cursor;
    } catch (error) {
      showError(error);
    }
    plansEmpty.hidden = plans.children.length > 0;
    morePlans.hidden = !planCursor;
  };

  const planItem = (plan) => {
    const cancellable = plan.status === "active" || plan.status === "incomplete";
    const item = h(
      "li",
      { class: "card plan", dataset: { planId: plan.id, status: plan.status } },
      h(
        "div",
        { class: "plan-head" },
        h(
          "div",
          {},
          h("p", {}, h("strong", {}, plan.to), h("span", { class: "muted" }, ` from ${accountName(plan.session_id)}`)),
          h("p", { class: "muted" }, `Event ${plan.event_local.replace("T", " ").slice(0, 16)} (${plan.time_zone}) · template ${plan.template.name} (${plan.template.language})`),
        ),
        h("span", { class: `status-chip plan-${plan.status}` }, PLAN_STATUS[plan.status] ?? plan.status),
      ),
      h(
        "ol",
        { class: "reminders" },
        plan.reminders.map((r) =>
          h(
            "li",
            { class: `reminder reminder-${r.state}` },
            h("span", { class: "reminder-offset" }, r.offset),
            h("time", { title: r.local }, shortTime(r.at)),
            h("span", { class: "muted" }, REMINDER_STATE[r.state] ?? r.state, r.reason ? ` (${r.reason})` : ""),
          ),
        ),
      ),
      cancellable
        ? h(
            "div",
            { class: "actions" },
            h("button", { type: "button", class: "button small", onclick: (event) => cancelPlan(event.currentTarget, plan, item) }, "Cancel plan"),
          )
        : null,
    );
    return item;
  };

  const cancelPlan = async (button, plan, item) => {
    const ok = await confirmDialog({
      title: "Cancel these reminders?",
      message: `Reminders to ${plan.to} that have not been sent yet are cancelled.`,
      confirmLabel: "Cancel plan",
      danger: true,
    });
    if (!ok) return;
    let changed;
    try {
      changed = await busy(button, () => api.cancelReminders(plan.id));
    } catch (error) {
      showError(error);
      return;
    }
    const replacement = planItem(changed);
    item.replaceWith(replacement);
    announce("Reminder plan cancelled");
    focusElement(replacement.querySelector("strong"));
  };

  moreMessages.addEventListener("click", () => loadMessages(true));
  morePlans.addEventListener("click", () => loadPlans(true));
  sessions.ensureLoaded().catch(() => {}).finally(() => {
    loadMessages();
    loadPlans();
  });
  return { unmount() {} };
}
