// The Broadcasts page's list parser (Node's test runner): one recipient per line, an optional name.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { parseRecipients } from "../../dashboard/assets/js/views/broadcasts.js";

describe("parseRecipients", () => {
  it("reads a phone and an optional name per line, skipping blank lines", () => {
    const text = "+34 600 123 456, Ana\n\n  +34600654321  \n+1 555 0100, Ortiz, Luis \n";
    assert.deepEqual(parseRecipients(text), [
      { to: "+34 600 123 456", variables: { name: "Ana" } },
      { to: "+34600654321" },
      { to: "+1 555 0100", variables: { name: "Ortiz, Luis" } },
    ]);
  });

  it("leaves a bad number as it is, for the API to name it", () => {
    assert.deepEqual(parseRecipients("not a number, Bea"), [{ to: "not a number", variables: { name: "Bea" } }]);
    assert.deepEqual(parseRecipients(""), []);
  });
});
