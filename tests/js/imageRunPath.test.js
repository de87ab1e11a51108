// A digits run's downloads name the run in the query, where nginx's hash looks for it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { imageRunPath } from "../../static/js/images/channel.js";

test("a digits run's route names the run in the path and in ?session=", () => {
  assert.equal(imageRunPath("abc_D-9", "runs/2/history.csv"), "/api/images/abc_D-9/runs/2/history.csv?session=abc_D-9");
});

test("an id is encoded in both places", () => {
  const url = new URL(imageRunPath("a b/c", "runs/1/history.json"), "http://x");
  assert.equal(url.pathname, "/api/images/a%20b%2Fc/runs/1/history.json");
  assert.equal(url.searchParams.get("session"), "a b/c");
});
