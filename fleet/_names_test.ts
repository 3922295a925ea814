import assert from "node:assert/strict";
import { ConfigError, parseConfig, validateConfig } from "../config.ts";
import { chooseDesired } from "./_converge.ts";
import { robotIdOf } from "./_link.ts";
import {
  eventSubject,
  formatSelector,
  matches,
  parseSelector,
  robotIdFromHostname,
  selectorKey,
  selectorOfKey,
} from "./_names.ts";
import { DEFAULT_NAMES } from "./_operator.ts";

Deno.test("parseSelector reads all, id= and label pairs, and refuses what a key cannot hold", () => {
  assert.deepEqual(parseSelector("all"), { kind: "all" });
  assert.deepEqual(parseSelector("id=go2-7"), { kind: "robot", id: "go2-7" });
  assert.deepEqual(parseSelector("site=lab, model=go2"), {
    kind: "labels",
    labels: { site: "lab", model: "go2" },
  });
  for (const bad of ["", "model", "model=", "a.b=c", "model=go2,model=g1", "id=x,site=lab"]) {
    assert.throws(() => parseSelector(bad), SyntaxError, bad);
  }
});

Deno.test("selectorKey and selectorOfKey round-trip, labels sorted by name", () => {
  const selector = parseSelector("site=lab,model=go2");
  assert.equal(selectorKey(selector), "sel.model=go2.site=lab");
  assert.deepEqual(selectorOfKey("sel.model=go2.site=lab"), selector);
  assert.equal(formatSelector(selector), "model=go2,site=lab");
  assert.deepEqual(selectorOfKey(selectorKey({ kind: "all" })), { kind: "all" });
  assert.deepEqual(selectorOfKey("robot.go2-7"), { kind: "robot", id: "go2-7" });
  assert.equal(selectorOfKey("other.key"), undefined);
});

Deno.test("matches takes a robot when every label of the selector is its own", () => {
  const robot = { id: "a", labels: { model: "go2", site: "lab" } };
  assert.ok(matches(parseSelector("model=go2"), robot));
  assert.ok(matches(parseSelector("model=go2,site=lab"), robot));
  assert.ok(!matches(parseSelector("model=go2,site=home"), robot));
  assert.ok(matches(parseSelector("id=a"), robot));
  assert.ok(!matches(parseSelector("id=b"), robot));
  assert.ok(matches(parseSelector("all"), robot));
});

Deno.test("chooseDesired prefers the robot's own key, then more labels, then the newest", () => {
  const all = { key: "sel.all", revision: 9 };
  const model = { key: "sel.model=go2", revision: 3 };
  const both = { key: "sel.model=go2.site=lab", revision: 1 };
  const site = { key: "sel.site=lab", revision: 5 };
  const own = { key: "robot.a", revision: 2 };
  assert.equal(chooseDesired([all, model, both, own]), own);
  assert.equal(chooseDesired([all, model, both]), both);
  assert.equal(chooseDesired([all, model, site]), site, "equal specificity: newest revision");
  assert.equal(chooseDesired([all]), all);
  assert.equal(chooseDesired([]), undefined);
});

Deno.test("eventSubject keeps an event's name to one subject token", () => {
  assert.equal(eventSubject(DEFAULT_NAMES, "a", "callback"), "robot-agent.a.evt.callback");
  assert.equal(
    eventSubject(DEFAULT_NAMES, "a", "event", "lidar.scan *"),
    "robot-agent.a.evt.event.lidar_scan__",
  );
});

Deno.test("robotIdOf takes fleet.robot_id, else the host name made a subject token", () => {
  assert.equal(robotIdOf(validateConfig({ fleet: { robot_id: "go2-7" } })), "go2-7");
  assert.equal(robotIdOf(validateConfig({})), robotIdFromHostname(Deno.hostname()));
  assert.equal(robotIdFromHostname("go2.lab.local"), "go2-lab-local");
});

Deno.test("parseConfig reads fleet labels and refuses ones a subject cannot carry", () => {
  const config = parseConfig('fleet:\n  nats_url: ""\n  labels: {model: go2, rev: 3}\n');
  assert.equal(config.fleet.nats_url, "");
  assert.deepEqual(config.fleet.labels, { model: "go2", rev: "3" });
  assert.throws(
    () => parseConfig("fleet:\n  labels: {site: the lab}\n"),
    (error: Error) =>
      error instanceof ConfigError && /config.yaml:2: fleet.labels/.test(error.message),
  );
});
