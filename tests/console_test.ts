/**
 * The web console in a real browser: headless Chromium on the page a real agent serves,
 * driven as an operator would (sign in, call, watch, deploy, roll back, e-stop, observe,
 * lose the link). Each test ends by requiring that the page logged no error it did not
 * expect. `deno task console:screenshots` also saves each view into docs/console/.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { type Agent, makeZip, startAgent, type StartAgentOptions } from "./_agent.ts";
import { hasChromium, PHONE, screenshot, signIn, TestBrowser } from "./_browser.ts";
import { TcpProxy } from "./_proxy.ts";
import { RobotClient } from "../client/mod.ts";

const CHROMIUM = await hasChromium();

/** A project with an event, a print and a typed method, for the tests that deploy. */
const EVENT_PROJECT = {
  "main.py": `
class Greeter:
    def greet(self, name: str = "world", times: int = 1):
        """Says hello, and tells the console so."""
        print(f"greeting {name}")
        push_message("greeted", {"name": name, "times": times})
        return ["hello " + name] * times

greeter = Greeter()
`,
};

interface Ctx {
  agent: Agent;
  browser: TestBrowser;
  origin: string;
  page: Page;
}

function consoleTest(
  name: string,
  fn: (ctx: Ctx) => Promise<void>,
  options: { agent?: StartAgentOptions; expectedErrors?: RegExp[]; viewport?: typeof PHONE } = {},
): void {
  Deno.test({
    name,
    ignore: !CHROMIUM,
    // Playwright's pipe to Chromium outlives a test by a tick.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await using agent = await startAgent(options.agent);
      await using browser = await TestBrowser.launch();
      const page = await browser.page(options.viewport);
      await fn({ agent, browser, origin: `http://127.0.0.1:${agent.port}`, page });
      assert.deepEqual(browser.unexpected(options.expectedErrors), []);
    },
  });
}

async function deployForTest(agent: Agent, files: Record<string, string>): Promise<void> {
  const robot = await RobotClient.connect(agent.url);
  try {
    await robot.deploy(await makeZip(files));
    await robot.start();
  } finally {
    await robot.close();
  }
}

async function pickMethod(page: Page, object: string, method: string): Promise<void> {
  await page.getByRole("tab", { name: "Call" }).click();
  await page.getByRole("list", { name: "Methods" }).getByRole("listitem")
    .filter({ has: page.getByRole("heading", { name: object, exact: true }) })
    .getByRole("button", { name: method, exact: true }).click();
}

consoleTest(
  "console signs in with the token in the tab, never in a URL",
  async ({ agent, origin, page }) => {
    const sockets: string[] = [];
    page.on("websocket", (socket) => sockets.push(socket.url()));
    await signIn(page, origin, agent.token!);
    await assertText(page.locator(".link"), /Connected · controller/);
    await page.getByText("env (controller)").waitFor();
    assert.ok(!page.url().includes("ra_"), page.url());
    assert.ok(
      sockets.length > 0 && sockets.every((url) => !url.includes("token")),
      String(sockets),
    );
    assert.equal(
      await page.evaluate(() => sessionStorage.getItem("robot-agent.token")),
      agent.token,
    );
    await screenshot(page, "status");
    // The URL the agent prints (#token=…) signs in at once and leaves the address bar clean.
    await page.close();
    const fresh = await page.context().newPage();
    await fresh.goto(`${origin}/#token=${agent.token}`);
    await fresh.locator('.link[data-state="connected"]').waitFor();
    assert.equal(new URL(fresh.url()).hash, "");
  },
);

consoleTest("console refuses a wrong token and says so", async ({ origin, page }) => {
  await page.goto(`${origin}/`);
  await page.getByLabel("Access token").fill("ra_not-the-token");
  await page.getByRole("button", { name: "Connect", exact: true }).click();
  await assertText(page.getByRole("alert"), /Wrong token/);
  assert.equal(await page.locator(".link").getAttribute("data-state"), "signed-out");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("robot-agent.token")), null);
  await screenshot(page, "sign_in");
}, { expectedErrors: [/WebSocket connection .* failed/, /status of 401/] });

consoleTest(
  "console calls a method through its generated form and shows the callback",
  async ({ agent, origin, page }) => {
    await deployForTest(agent, EVENT_PROJECT);
    await signIn(page, origin, agent.token!);
    await pickMethod(page, "greeter", "greet");
    const form = page.getByRole("form", { name: "greeter.greet" });
    const described = await form.getByLabel(/^name/).count() > 0;
    if (described) {
      await form.getByLabel(/^name/).fill("robot");
      await form.getByLabel(/^times/).fill("2");
    } else {
      await form.getByLabel("arguments (JSON)").fill('{"name": "robot", "times": 2}');
    }
    await form.getByRole("button", { name: "Call" }).click();
    await assertText(
      form.locator(".outcome"),
      /Returned in [\d.]+ ms[\s\S]*hello robot[\s\S]*hello robot/,
    );
    await screenshot(page, "call");
    // A failure shows the agent's code and the Python exception; the history re-runs calls.
    if (described) await form.getByLabel(/^times/).fill('"x"');
    else await form.getByLabel("arguments (JSON)").fill('{"nome": 1}');
    await form.getByRole("button", { name: "Call" }).click();
    await assertText(form.locator(".outcome"), /BAD_ARGS/);
    const history = page.getByRole("list", { name: "Call history" }).getByRole("listitem");
    assert.equal(await history.count(), 2);
    await history.nth(1).getByRole("button", { name: /Re-run/ }).click();
    await assertText(history.first(), /ok, [\d.]+ ms/);
    assert.equal(await history.count(), 3);
  },
);

consoleTest(
  "console shows a project's event and printed output as they arrive",
  async ({ agent, origin, page }) => {
    await deployForTest(agent, EVENT_PROJECT);
    await signIn(page, origin, agent.token!);
    await pickMethod(page, "greeter", "greet");
    await page.getByRole("form", { name: "greeter.greet" }).getByRole("button", { name: "Call" })
      .click();
    await page.getByRole("tab", { name: "Events & logs" }).click();
    const feed = page.getByRole("list", { name: "Events" });
    await assertText(
      feed.locator('li[data-kind="event"]').filter({ hasText: "greeted" }),
      /"name":"world"/,
    );
    await assertText(
      feed.locator('li[data-kind="log"]').filter({ hasText: "greeting world" }),
      /project/,
    );
    // Filtered to events only, the project's output is hidden; paused, new entries wait.
    await page.getByLabel("Show").selectOption("event");
    assert.equal(await feed.locator('li[data-kind="log"]').count(), 0);
    await page.getByRole("button", { name: "Pause" }).click();
    await page.getByRole("tab", { name: "Call" }).click();
    await page.getByRole("form", { name: "greeter.greet" }).getByRole("button", { name: "Call" })
      .click();
    await page.getByRole("tab", { name: "Events & logs" }).click();
    await assertText(page.getByRole("button", { name: /Resume/ }), /Resume \([1-9]\d* new\)/);
    const before = await feed.locator("li").filter({ hasText: "greeted" }).count();
    await page.getByRole("button", { name: /Resume/ }).click();
    await waitUntil(async () =>
      await feed.locator("li").filter({ hasText: "greeted" }).count() > before
    );
    await assertText(page.locator(".dropped"), /^\d+$/);
    await screenshot(page, "events");
  },
);

consoleTest(
  "console deploys a zip with progress to 100 % and rolls back",
  async ({ agent, origin, page }) => {
    await signIn(page, origin, agent.token!);
    await page.getByRole("tab", { name: "Deploy" }).click();
    const dir = await Deno.makeTempDir({ prefix: "robot-agent-console-" });
    try {
      const zip = join(dir, "greeter.zip");
      // Incompressible bytes make the upload several chunks long.
      const noise = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(48_000))));
      await Deno.writeFile(zip, await makeZip({ ...EVENT_PROJECT, "noise.txt": noise.repeat(60) }));
      await page.getByLabel("Project zip").setInputFiles(zip);
      await assertText(
        page.getByRole("status").filter({ hasText: "Deployed" }),
        /greeter\.zip as version 1 \(python, main\.py\); started/,
      );
      assert.equal(await page.getByLabel("Upload progress").getAttribute("value"), "100");
      await assertText(page.locator(".percent"), /^100 %$/);
      await screenshot(page, "deploy");
      // A folder is zipped in the browser.
      const folder = join(dir, "greeter");
      await Deno.mkdir(join(folder, "__pycache__"), { recursive: true });
      await Deno.writeTextFile(join(folder, "main.py"), EVENT_PROJECT["main.py"]);
      await Deno.writeTextFile(join(folder, "__pycache__", "main.cpython-311.pyc"), "stale");
      await page.getByLabel("Project folder").setInputFiles(folder);
      await assertText(
        page.getByRole("status").filter({ hasText: "Deployed" }),
        /greeter\/ \(1 files, zipped here\) as version 2/,
      );
      await page.getByRole("button", { name: /Roll back/ }).click();
      await assertText(page.locator(".note"), /Version 1 running/);
      if (await page.locator("table").count() > 0) {
        await page.getByRole("row", { name: /^2/ }).getByRole("button", { name: "Activate" })
          .click();
        await assertText(page.locator(".note"), /Version 2 running/);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { agent: { config: "lifecycle:\n  probation_s: 0\n" } },
);

consoleTest(
  "console e-stop refuses calls until the controller releases it",
  async ({ agent, origin, page }) => {
    await signIn(page, origin, agent.token!);
    await page.getByRole("button", { name: /E-STOP/ }).click();
    await assertText(page.getByRole("alert"), /E-stopped by env: pressed in the web console/);
    await pickMethod(page, "sport_client", "StandUp");
    const form = page.getByRole("form", { name: "sport_client.StandUp" });
    await form.getByRole("button", { name: "Call" }).click();
    await assertText(form.locator(".outcome"), /ESTOPPED/);
    await screenshot(page, "estop");
    await page.getByRole("button", { name: "Release e-stop" }).click();
    await page.locator(".banner.danger").waitFor({ state: "detached" });
    await form.getByRole("button", { name: "Call" }).click();
    await assertText(form.locator(".outcome"), /Returned[\s\S]*standing/);
    // The keyboard shortcut works from anywhere, a text field included.
    await page.getByRole("tab", { name: "Events & logs" }).click();
    await page.keyboard.press("Escape");
    await page.locator(".banner.danger").waitFor();
    await assertText(page.getByRole("list", { name: "Events" }), /estop/);
  },
);

consoleTest(
  "console observer is read-only, and takes control when asked",
  async ({ agent, browser, origin, page }) => {
    await signIn(page, origin, agent.token!);
    const other = await browser.page();
    await other.goto(`${origin}/`);
    await other.getByLabel("Access token").fill(agent.token!);
    await other.getByRole("button", { name: "Connect", exact: true }).click();
    await assertText(other.getByRole("alert"), /another client is connected/);
    await other.getByRole("button", { name: "Watch instead" }).click();
    await assertText(other.locator(".link"), /Connected · observer/);
    await pickMethod(other, "sport_client", "StandUp");
    assert.ok(await other.getByRole("button", { name: "Call" }).isDisabled());
    await other.getByRole("tab", { name: "Deploy" }).click();
    assert.ok(await other.getByLabel("Project zip").isDisabled());
    await screenshot(other, "observer");
    await other.getByRole("button", { name: "Take control" }).click();
    await assertText(other.locator(".link"), /Connected · controller/);
    await assertText(page.locator(".link"), /Taken over/);
    await assertText(page.getByRole("alert"), /taken over by env/);
  },
  { expectedErrors: [/WebSocket connection .* failed/] },
);

consoleTest("console resumes its session after the link drops", async ({ agent, browser }) => {
  await using proxy = TcpProxy.start(agent.port);
  const page = await browser.page();
  const origin = `http://127.0.0.1:${proxy.port}`;
  await signIn(page, origin, agent.token!);
  const session = await page.evaluate(() => sessionStorage.getItem("robot-agent.session"));
  assert.ok(session);
  proxy.cutAll();
  await assertText(page.locator(".link"), /Connected · controller · session resumed/);
  await page.getByRole("tab", { name: "Status" }).click();
  await page.locator("dd", { hasText: session }).first().waitFor();
  await pickMethod(page, "sport_client", "StandUp");
  await page.getByRole("form", { name: "sport_client.StandUp" }).getByRole("button", {
    name: "Call",
  })
    .click();
  await assertText(page.locator(".outcome"), /Returned/);
  // A reload resumes the same session too: the tab kept it.
  await page.reload();
  await page.locator('.link[data-state="connected"]').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("robot-agent.session")), session);
}, { expectedErrors: [/WebSocket connection .* failed/] });

consoleTest(
  "console drives the robot with the teleop pad and plots its velocity",
  async ({ agent, origin, page }) => {
    await signIn(page, origin, agent.token!);
    await page.getByRole("tab", { name: "Drive" }).click();
    await page.getByRole("button", { name: "StandUp" }).click();
    const forward = page.getByRole("button", { name: "Forward" });
    await forward.hover();
    await page.mouse.down();
    await assertText(page.locator(".legend .vx"), /^vx 0\.50$/);
    await assertText(page.locator(".legend"), /mode locomotion/);
    // A longer trace for the picture; nothing is asserted about time.
    if (Deno.env.get("ROBOT_AGENT_SCREENSHOTS")) await page.waitForTimeout(2000);
    await screenshot(page, "drive");
    await page.mouse.up();
    await assertText(page.locator(".legend .vx"), /^vx 0\.00$/);
    await assertText(page.locator(".legend"), /mode balance_stand/);
  },
);

consoleTest("console fits a phone's screen on every view", async ({ agent, origin, page }) => {
  await signIn(page, origin, agent.token!);
  for (const view of ["Status", "Call", "Drive", "Events & logs", "Deploy"]) {
    await page.getByRole("tab", { name: view }).click();
    await page.waitForTimeout(300);
    const overflow = await page.evaluate<number>(
      "document.documentElement.scrollWidth - document.documentElement.clientWidth",
    );
    assert.ok(overflow <= 0, `${view} is ${overflow} px wider than the phone`);
    assert.ok(await page.getByRole("button", { name: /E-STOP/ }).isVisible(), view);
    await screenshot(page, `phone_${view.split(" ")[0].toLowerCase()}`);
  }
}, { viewport: PHONE });

/** Waits until `locator`'s text matches (Playwright retries), then returns it. */
async function assertText(
  locator: ReturnType<Page["locator"]>,
  pattern: RegExp,
): Promise<string> {
  const deadline = Date.now() + 15_000;
  let last = "";
  while (Date.now() < deadline) {
    last = await locator.first().textContent({ timeout: 15_000 }).catch(() => "") ?? "";
    if (pattern.test(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new assert.AssertionError({ message: `${pattern} not in ${JSON.stringify(last)}` });
}

async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error("condition not met within 15 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
