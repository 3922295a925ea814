import assert from "node:assert/strict";
import { SessionStore } from "./_sessions.ts";

Deno.test("SessionStore replays held results in order on attach, once", () => {
  const store = new SessionStore({ maxResults: 10, maxAgeS: 60 });
  assert.deepEqual(store.attach("a", "alice", 0), []);
  store.detach("a", 1000);
  assert.equal(store.hold("a", "one", { now: 1000 }), true);
  assert.equal(store.hold("a", "two", { now: 1001 }), true);
  assert.equal(store.held, 2);
  assert.deepEqual(store.attach("a", "alice", 2000), ["one", "two"]);
  assert.deepEqual(store.attach("a", "alice", 2001), []);
});

Deno.test("SessionStore remembers which identity created a session", () => {
  const store = new SessionStore({ maxResults: 10, maxAgeS: 60 });
  assert.equal(store.ownerOf("a", 0), undefined);
  store.attach("a", "alice", 0);
  assert.equal(store.ownerOf("a", 1), "alice");
});

Deno.test("SessionStore refuses to hold for an unknown session", () => {
  const store = new SessionStore({ maxResults: 10, maxAgeS: 60 });
  assert.equal(store.hold("nobody", "x"), false);
});

Deno.test("SessionStore drops the oldest past the count limit and counts it", () => {
  const store = new SessionStore({ maxResults: 2, maxAgeS: 60 });
  store.attach("a", "alice", 0);
  store.detach("a", 0);
  for (const text of ["1", "2", "3"]) store.hold("a", text, { now: 10 });
  assert.equal(store.dropped, 1);
  assert.deepEqual(store.attach("a", "alice", 20), ["2", "3"]);
});

Deno.test("SessionStore keeps the outcome of results over its byte cap, oldest first", () => {
  const store = new SessionStore({ maxResults: 100, maxAgeS: 60, maxBytes: 2500 });
  store.attach("a", "alice", 0);
  store.detach("a", 0);
  const big = (n: number) => `{"id":${n},"result":"${"x".repeat(1000)}"}`;
  for (let n = 1; n <= 3; n++) store.hold("a", big(n), { summary: `{"id":${n}}`, now: 1 });
  assert.equal(store.summarized, 1);
  assert.deepEqual(store.attach("a", "alice", 2).map((t) => t.length < 100 ? t : "full"), [
    '{"id":1}',
    "full",
    "full",
  ]);
});

Deno.test("SessionStore forgets results and sessions older than the age limit", () => {
  const store = new SessionStore({ maxResults: 10, maxAgeS: 1 });
  store.attach("a", "alice", 0);
  store.detach("a", 0);
  store.hold("a", "old", { now: 0 });
  store.attach("b", "alice", 0);
  store.detach("b", 1500);
  store.hold("b", "stale", { now: 0 });
  store.hold("b", "fresh", { now: 1400 });
  // "a" has been away 2 s: gone with its result; "b" keeps only the fresh one.
  assert.deepEqual(store.attach("b", "alice", 2000), ["fresh"]);
  assert.equal(store.dropped, 2);
  assert.deepEqual(store.attach("a", "alice", 2000), []);
});
