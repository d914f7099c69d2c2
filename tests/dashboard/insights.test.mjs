// The Insights page's pure helpers (Node's test runner): date inputs ↔ UTC days, durations and rates.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { dayStart, duration, isoDay, percent } from "../../dashboard/assets/js/views/insights.js";

describe("insights helpers", () => {
  it("turns a date input's day into its UTC midnight and back", () => {
    assert.equal(dayStart("2026-12-07"), 1796601600);
    assert.equal(isoDay(1796601600 + 86399), "2026-12-07");
    assert.equal(dayStart(""), null);
    assert.equal(dayStart("not a day"), null);
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
