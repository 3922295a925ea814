/**
 * Test support for the web console: headless Chromium (Debian's `chromium`, driven by
 * `playwright-core`) on a page the agent serves, with every console message and page error
 * collected so a test can require there were none.
 *
 * @module
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { join } from "node:path";

// Loading playwright-core asks whether this is WSL by probing /proc/sys/fs/binfmt_misc,
// which Deno grants only with --allow-all (the test task's flags are narrower). With this
// variable set it asks only when it needs to know, which launching Chromium never does.
Deno.env.set("__IS_WSL_TEST__", "1");
const { chromium } = await import("playwright-core");

/** Where Debian puts Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/** Whether Chromium is installed (`.ci/run` installs it; a bare machine may lack it). */
export async function hasChromium(): Promise<boolean> {
  return await Deno.stat(CHROMIUM).then(() => true, () => false);
}

/** A phone's viewport (an iPhone 13/14's CSS pixels). */
export const PHONE = { width: 390, height: 844 };
/** A laptop's viewport. */
export const DESKTOP = { width: 1280, height: 800 };

/** One headless browser with a fresh profile, and the problems its pages reported. */
export class TestBrowser implements AsyncDisposable {
  readonly browser: Browser;
  /** Console errors and uncaught page errors, as `type: text`. */
  readonly problems: string[] = [];
  #contexts: BrowserContext[] = [];

  private constructor(browser: Browser) {
    this.browser = browser;
  }

  /** Launches Chromium; Playwright gives it a new, empty profile folder of its own. */
  static async launch(): Promise<TestBrowser> {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    return new TestBrowser(browser);
  }

  /** A new page in a context of its own (its own session storage), sized `viewport`. */
  async page(viewport = DESKTOP): Promise<Page> {
    const context = await this.browser.newContext({ viewport, deviceScaleFactor: 1 });
    this.#contexts.push(context);
    const page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") this.problems.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => this.problems.push(`pageerror: ${error.message}`));
    return page;
  }

  /** The problems not explained by `expected` (patterns of errors the test caused). */
  unexpected(expected: RegExp[] = []): string[] {
    return this.problems.filter((p) => !expected.some((pattern) => pattern.test(p)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const context of this.#contexts) await context.close().catch(() => {});
    await this.browser.close();
  }
}

/** Opens the console at `origin` and signs in with `token`; resolves once connected. */
export async function signIn(
  page: Page,
  origin: string,
  token: string,
  options: { watch?: boolean } = {},
): Promise<void> {
  await page.goto(`${origin}/`);
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: options.watch ? "Watch only" : "Connect", exact: true })
    .click();
  await page.locator('.link[data-state="connected"]').waitFor();
}

/**
 * Saves a screenshot as `NAME.png` into `$ROBOT_AGENT_SCREENSHOTS` when it is set
 * (`deno task console:screenshots` sets it to docs/console); does nothing otherwise, so
 * a test run leaves the tree as it was.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = Deno.env.get("ROBOT_AGENT_SCREENSHOTS");
  if (!dir) return;
  await Deno.mkdir(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}
