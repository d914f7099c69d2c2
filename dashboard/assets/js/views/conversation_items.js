// How the inbox and the chat draw their items (no state: everything comes in as arguments).

import { h } from "../dom.js";
import { fullTime, messageText, peerName, shortTime, tick } from "../format.js";
import { icon } from "../icons.js";

/** One row of the inbox: a link that opens the chat. */
export function conversationItem(c, sessionId, openId) {
  const outbound = c.last_direction === "outbound";
  return h(
    "li",
    {},
    h(
      "a",
      {
        class: "conversation",
        href: `#/conversations/${encodeURIComponent(sessionId)}/${encodeURIComponent(c.id)}`,
        "aria-current": c.id === openId ? "true" : null,
        dataset: { conversationId: c.id },
      },
      h("span", { class: "avatar", "aria-hidden": "true" }, c.name ? c.name[0].toUpperCase() : icon(c.is_group ? "group" : "person")),
      h(
        "span",
        { class: "conversation-main" },
        h("span", { class: "conversation-name" }, peerName(c)),
        h("span", { class: "conversation-preview" }, outbound ? "You: " : "", c.last_message_preview ?? ""),
      ),
      h(
        "span",
        { class: "conversation-meta" },
        h("time", { title: fullTime(c.last_message_at) }, shortTime(c.last_message_at)),
        c.unread > 0
          ? h("span", { class: "unread", "aria-label": `${c.unread} unread` }, String(c.unread))
          : null,
      ),
    ),
  );
}

/** One message of the chat: its text, time and, if ours, its delivery mark. */
export function messageItem(m) {
  const outbound = m.direction === "outbound";
  const mark = outbound ? tick(m.status) : null;
  const when = m.status === "scheduled" && m.scheduled_at ? m.scheduled_at : m.created_at;
  return h(
    "li",
    { class: `message ${outbound ? "out" : "in"}`, dataset: { messageId: m.id, status: m.status } },
    h(
      "div",
      { class: "bubble" },
      h("span", { class: "visually-hidden" }, outbound ? "You: " : `${m.metadata?.push_name ?? m.from ?? "They"}: `),
      h("p", { class: "message-text" }, messageText(m)),
      m.status === "failed" && m.error ? h("p", { class: "message-error" }, `Not sent: ${m.error.message}`) : null,
      h(
        "p",
        { class: "message-meta" },
        m.status === "scheduled" ? "Scheduled for " : "",
        h("time", { title: fullTime(when) }, shortTime(when)),
        mark
          ? h("span", { class: `tick tone-${mark.tone}`, role: "img", "aria-label": mark.label, title: mark.label, dataset: { status: m.status } }, icon(mark.icon))
          : null,
      ),
    ),
  );
}

export function sandboxBadge() {
  return h("span", { class: "badge badge-sandbox", title: "Simulated: nothing reaches real WhatsApp" }, "sandbox");
}
