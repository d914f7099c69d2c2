// The Insights page's pure helpers (Node's test runner): date inputs ↔ days of a time zone, durations
// and rates.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { dayStart, duration, isoDay, nextDay, percent, zoneNames, zoneOffset } from "../../dashboard/assets/js/views/insights.js";

describe("insights helpers", () => {
  it("turns a date input's day into its UTC midnight and back", () => {
    assert.equal(dayStart("2026-12-07"), 1796601600);
    assert.equal(isoDay(1796601600 + 86399), "2026-12-07");
    assert.equal(dayStart(""), null);
    assert.equal(dayStart("not a day"), null);
  });

  it("turns a date input's day into its midnight in a time zone, across DST", () => {
    assert.equal(dayStart("2026-12-07", "Europe/Madrid"), 1796601600 - 3600);
    assert.equal(dayStart("2026-12-07", "America/Mexico_City"), 1796601600 + 6 * 3600);
    assert.equal(dayStart("2026-12-07", "Asia/Kolkata"), 1796601600 - 5.5 * 3600);
    // Madrid's 29 March 2026 has 23 hours, 25 October 25; both start at local midnight.
    const march29 = dayStart("2026-03-29", "Europe/Madrid");
    assert.equal(march29, Date.UTC(2026, 2, 28, 23) / 1000);
    assert.equal(dayStart(nextDay("2026-03-29"), "Europe/Madrid") - march29, 23 * 3600);
    const october25 = dayStart("2026-10-25", "Europe/Madrid");
    assert.equal(october25, Date.UTC(2026, 9, 24, 22) / 1000);
    assert.equal(dayStart(nextDay("2026-10-25"), "Europe/Madrid") - october25, 25 * 3600);
    assert.equal(isoDay(march29, "Europe/Madrid"), "2026-03-29");
    assert.equal(isoDay(march29, "UTC"), "2026-03-28");
    assert.equal(nextDay("2026-12-31"), "2027-01-01");
  });

  it("knows a zone's offset at an instant, and lists the zones with UTC and the browser's", () => {
    assert.equal(zoneOffset(Date.UTC(2026, 6, 1) / 1000, "Europe/Madrid"), 7200);
    assert.equal(zoneOffset(Date.UTC(2026, 0, 1) / 1000, "Asia/Kathmandu"), 5.75 * 3600);
    const names = zoneNames("Europe/Madrid");
    assert.ok(names.includes("UTC") && names.includes("Europe/Madrid") && names.includes("America/Bogota"));
    assert.deepEqual(names, [...names].sort());
  });

  it("writes durations in the unit that reads best", () => {
    assert.equal(duration(null), "—");
    assert.equal(duration(42.4), "42 s");
    assert.equal(duration(210), "3.5 min");
    assert.equal(duration(7560), "2.1 h");
    assert.equal(duration(3 * 86400), "3.0 d");
  });

  it("writes rates as percentages, and unknown ones as a dash", () => {
    assert.equal(percent(0.6667), "66.7 %");
    assert.equal(percent(null), "—");
  });
});
