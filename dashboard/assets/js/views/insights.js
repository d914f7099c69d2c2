// Insights: how the numbers are doing over a date range (GET /v1/insights, /v1/insights/templates):
// sent, delivered, read, failed and replied per day or hour as charts (uPlot, vendored in
// assets/vendor/uplot with its licence), rates, latencies, uptime per account, failures and templates.
// Days are those of a time zone (default: the browser's), sent as `tz`: the API cuts them from its UTC rows.

import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { h, replace } from "../dom.js";
import { showError } from "../notices.js";

const DAY = 86_400;
const SERIES = [
  { key: "sent", label: "Sent", stroke: "#2563eb" },
  { key: "delivered", label: "Delivered", stroke: "#0d9488" },
  { key: "read", label: "Read", stroke: "#7c3aed" },
  { key: "replied", label: "Replied", stroke: "#d97706" },
  { key: "failed", label: "Failed", stroke: "#dc2626" },
];
const RATES = [
  { key: "delivery_rate", label: "Delivery rate", stroke: "#0d9488" },
  { key: "read_rate", label: "Read rate", stroke: "#7c3aed" },
  { key: "reply_rate", label: "Reply rate", stroke: "#d97706" },
];

/** The browser's IANA time zone (UTC when it cannot tell). */
export function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** Every zone the browser knows, UTC and `also` included, sorted. */
export function zoneNames(also) {
  const known = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return [...new Set([...known, "UTC", also])].sort();
}

/** 2026-12-07 for an epoch second, in `tz` (default UTC), as a date input wants it. */
export function isoDay(seconds, tz = "UTC") {
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(seconds * 1000));
}

/** Seconds `tz` is ahead of UTC at an instant (Madrid in winter: 3600). */
export function zoneOffset(seconds, tz) {
  const format = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" });
  const part = Object.fromEntries(format.formatToParts(new Date(seconds * 1000)).map((p) => [p.type, Number(p.value)]));
  return Date.UTC(part.year, part.month - 1, part.day, part.hour, part.minute, part.second) / 1000 - Math.floor(seconds);
}

/** Epoch seconds of a date input's day: its midnight in `tz` (default UTC); null when empty. */
export function dayStart(value, tz = "UTC") {
  if (!value) return null;
  const ms = Date.parse(`${value}T00:00:00Z`);
  if (!Number.isFinite(ms)) return null;
  const wall = ms / 1000;
  // The offset at the wall time read as UTC, then at the instant it gives (a DST change in between).
  return wall - zoneOffset(wall - zoneOffset(wall, tz), tz);
}

/** The date after a date input's day. */
export function nextDay(value) {
  return isoDay(dayStart(value) + DAY);
}

/** "42 s", "3.5 min", "2.1 h", "1.5 d"; "—" when unknown. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 2 * DAY) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / DAY).toFixed(1)} d`;
}

export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)} %`;
}

export function mount(root, { api, sessions }) {
  const zone = browserZone();
  const today = isoDay(Date.now() / 1000, zone);
  const fields = {
    from: h("input", { type: "date", id: "insights-from", name: "from", value: isoDay(dayStart(today) - 29 * DAY), required: true }),
    to: h("input", { type: "date", id: "insights-to", name: "to", value: today, required: true }),
    tz: h("select", { id: "insights-tz", name: "tz" }, ...zoneNames(zone).map((name) => h("option", { value: name }, name))),
    granularity: h(
      "select",
      { id: "insights-granularity", name: "granularity" },
      h("option", { value: "day" }, "Per day"),
      h("option", { value: "hour" }, "Per hour"),
    ),
    session: h("select", { id: "insights-session", name: "session" }, h("option", { value: "" }, "All accounts")),
    broadcast: h("select", { id: "insights-broadcast", name: "broadcast" }, h("option", { value: "" }, "All messages")),
  };
  fields.tz.value = zone; // the browser's, until another is chosen
  const label = (name, text) => h("div", { class: "field" }, h("label", { for: fields[name].id }, text), fields[name]);
  const form = h(
    "form",
    { class: "insights-filters", "aria-label": "Insights filters" },
    label("from", "From"),
    label("to", "To (inclusive)"),
    label("tz", "Time zone"),
    label("granularity", "Buckets"),
    label("session", "Account"),
    label("broadcast", "Broadcast"),
    h("button", { type: "submit", class: "button small" }, "Show"),
  );
  const cards = h("div", { class: "insights-cards", role: "list", "aria-label": "Totals" });
  const volumeChart = h("div", { class: "insights-chart", id: "insights-volume", role: "img", "aria-label": "Messages per bucket" });
  const rateChart = h("div", { class: "insights-chart", id: "insights-rates", role: "img", "aria-label": "Rates per bucket" });
  const uptime = h("tbody", {});
  const failures = h("ul", { class: "insights-list" });
  const templates = h("tbody", {});
  root.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Insights")),
    h("p", { class: "muted lead" }, "Counted as events happen (a few seconds behind; on AWS up to a minute), by the day or hour a message was sent (in the time zone chosen; a zone off the whole hour, such as India's, has hours but no days): its receipts and replies count there, whenever they arrive."),
    form,
    cards,
    h("section", { "aria-labelledby": "insights-volume-title" }, h("h2", { id: "insights-volume-title" }, "Messages"), volumeChart),
    h("section", { "aria-labelledby": "insights-rates-title" }, h("h2", { id: "insights-rates-title" }, "Rates"), rateChart),
    h(
      "section",
      { "aria-labelledby": "insights-uptime-title" },
      h("h2", { id: "insights-uptime-title" }, "Accounts"),
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "insights-uptime" },
          h("thead", {}, h("tr", {}, ["Account", "Status", "Uptime", "Connected", "Disconnects"].map((t) => h("th", { scope: "col" }, t)))),
          uptime,
        ),
      ),
    ),
    h("section", { "aria-labelledby": "insights-failures-title" }, h("h2", { id: "insights-failures-title" }, "Failures by reason"), failures),
    h(
      "section",
      { "aria-labelledby": "insights-templates-title" },
      h("h2", { id: "insights-templates-title" }, "Templates"),
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "insights-templates" },
          h("thead", {}, h("tr", {}, ["Template", "Sent", "Delivered", "Read", "Replied"].map((t) => h("th", { scope: "col" }, t)))),
          templates,
        ),
      ),
    ),
  );
  const charts = [];

  const fillSessions = () => {
    const chosen = fields.session.value;
    const options = [...sessions.byId.values()].map((s) => h("option", { value: s.id }, s.name || s.id));
    replace(fields.session, h("option", { value: "" }, "All accounts"), ...options);
    fields.session.value = [...sessions.byId.keys()].includes(chosen) ? chosen : "";
  };
  const fillBroadcasts = async () => {
    const page = await api.broadcasts().catch(() => ({ items: [] }));
    const options = page.items.map((b) => h("option", { value: b.id }, b.name || b.id));
    replace(fields.broadcast, h("option", { value: "" }, "All messages"), ...options);
  };
  fillBroadcasts();
  const unsubscribe = sessions.subscribe(fillSessions);
  if (sessions.loaded) fillSessions();
  else sessions.refresh().then(fillSessions).catch(() => {});

  const card = (title, value, detail = "") =>
    h("div", { class: "insights-card", role: "listitem", dataset: { metric: title } }, h("span", { class: "muted" }, title), h("strong", {}, value), h("small", { class: "muted" }, detail));

  const chart = (element, points, lines, { scale = null, tz = "UTC" } = {}) => {
    const width = Math.max(280, element.clientWidth || root.clientWidth - 32);
    const data = [points.map((p) => p.start), ...lines.map((line) => points.map((p) => (p[line.key] ?? null) === null ? null : scale ? p[line.key] * scale : p[line.key]))];
    const options = {
      width,
      height: 240,
      series: [{}, ...lines.map((line) => ({ label: line.label, stroke: line.stroke, width: 2, spanGaps: false }))],
      axes: [{}, { size: 56 }],
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz), // the axis in the report's zone
      scales: { x: { time: true }, y: scale ? { range: [0, 100] } : { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    };
    replace(element);
    charts.push(new uPlot(options, data, element));
  };

  const render = (report, templateList) => {
    const t = report.totals;
    replace(
      cards,
      card("Sent", String(t.sent)),
      card("Delivered", String(t.delivered), percent(t.delivery_rate)),
      card("Read", String(t.read), percent(t.read_rate)),
      card("Replied", String(t.replied), percent(t.reply_rate)),
      card("Failed", String(t.failed)),
      card("Received", String(t.inbound)),
      card("Time to delivered", duration(t.time_to_delivered.p50), `p90 ${duration(t.time_to_delivered.p90)}`),
      card("Time to read", duration(t.time_to_read.p50), `p90 ${duration(t.time_to_read.p90)}`),
      card("First reply", duration(t.first_reply_time.p50), `p90 ${duration(t.first_reply_time.p90)}`),
      card("Connection rate", percent(t.connection_rate), `${t.sessions_linked} of ${t.sessions_created} linked`),
    );
    for (const old of charts.splice(0)) old.destroy();
    chart(volumeChart, report.series, SERIES, { tz: report.tz });
    chart(rateChart, report.series, RATES, { scale: 100, tz: report.tz });
    replace(
      uptime,
      ...report.sessions.map((s) =>
        h(
          "tr",
          { class: "insights-account", dataset: { sessionId: s.session_id } },
          h("td", {}, s.name || s.session_id),
          h("td", {}, s.status ?? ""),
          h("td", {}, percent(s.uptime)),
          h("td", {}, duration(s.connected_seconds)),
          h("td", {}, String(s.disconnects)),
        ),
      ),
    );
    const reasons = Object.entries(t.failed_by_reason);
    replace(failures, ...(reasons.length ? reasons.map(([reason, count]) => h("li", {}, h("code", {}, reason), ` ${count}`)) : [h("li", { class: "muted" }, "No failures in this range.")]));
    const noTemplates = h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No template sends in this range."));
    replace(
      templates,
      ...(templateList?.length ? [] : [noTemplates]),
      ...(templateList ?? []).map((item) =>
        h(
          "tr",
          { class: "insights-template" },
          h("td", {}, item.key),
          ...["sent", "delivered", "read", "replied"].map((k) => h("td", {}, String(item.metrics[k]))),
        ),
      ),
    );
  };

  const load = async () => {
    const tz = fields.tz.value;
    const from = dayStart(fields.from.value, tz);
    if (from === null || dayStart(fields.to.value) === null) return;
    const to = dayStart(nextDay(fields.to.value), tz); // the end of the last day, 23 to 25 h after its start
    // One filter at a time (the API refuses two): a broadcast's own messages, else one account or all.
    const broadcast = fields.broadcast.value || null;
    const query = { from, to, tz, granularity: fields.granularity.value, session_id: broadcast ? null : fields.session.value || null, broadcast_id: broadcast };
    try {
      const report = await api.insights(query);
      // Templates are counted across accounts: only without an account filter (and not for a key
      // limited to some accounts, which the API refuses with a 403).
      const templateList = query.session_id || broadcast ? [] : await api.insightsTemplates({ from, to, tz }).then((r) => r.items, () => []);
      render(report, templateList);
      root.dataset.loaded = `${query.granularity}:${report.series.length}`;
      root.dataset.tz = report.tz;
    } catch (error) {
      showError(error);
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  load();
  return {
    unmount() {
      unsubscribe();
      for (const old of charts.splice(0)) old.destroy();
    },
  };
}
