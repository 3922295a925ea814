import assert from "node:assert/strict";
import { SessionStore } from "./_sessions.ts";

Deno.test("SessionStore replays held results in order on attach, once", () => {
  const store = new SessionStore({ maxResults: 10, maxAgeS: 60 });
  assert.deepEqual(store.attach("a", 0), []);
  store.detach("a", 1000);
  assert.equal(store.hold("a", "one", 1000), true);
  assert.equal(store.hold("a", "two", 1001), true);
  assert.equal(store.held, 2);
  assert.deepEqual(store.attach("a", 2000), ["one", "two"]);
  assert.deepEqual(store.attach("a", 2001), []);
});

Deno.test("SessionStore refuses to hold for an unknown session", () => {
  const store = new SessionStore({ maxResults: 10, maxAgeS: 60 });
  assert.equal(store.hold("nobody", "x"), false);
});

Deno.test("SessionStore drops the oldest past the count limit and counts it", () => {
  const store = new SessionStore({ maxResults: 2, maxAgeS: 60 });
  store.attach("a", 0);
  store.detach("a", 0);
  for (const text of ["1", "2", "3"]) store.hold("a", text, 10);
  assert.equal(store.dropped, 1);
  assert.deepEqual(store.attach("a", 20), ["2", "3"]);
});

Deno.test("SessionStore forgets results and sessions older than the age limit", () => {
  const store = new SessionStore({ maxResults: 10, maxAgeS: 1 });
  store.attach("a", 0);
  store.detach("a", 0);
  store.hold("a", "old", 0);
  store.attach("b", 0);
  store.detach("b", 1500);
  store.hold("b", "stale", 0);
  store.hold("b", "fresh", 1400);
  // "a" has been away 2 s: gone with its result; "b" keeps only the fresh one.
  assert.deepEqual(store.attach("b", 2000), ["fresh"]);
  assert.equal(store.dropped, 2);
  assert.deepEqual(store.attach("a", 2000), []);
});
