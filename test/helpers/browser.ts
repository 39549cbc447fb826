/**
 * Headless Chromium for the browser tests, driven by puppeteer-core (a dev dependency that downloads no browser):
 * Debian's `chromium`, a throwaway profile, nothing from the network. `scripts/screenshot-report.mjs` launches it
 * with the same flags.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/** Where Chromium usually lives on Linux and macOS. */
export const CHROMIUM_CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
];

/** The first existing Chromium binary: `preferred` if given and present, else a usual location. */
export function findChromium(preferred?: string): string | undefined {
  if (preferred && existsSync(preferred)) return preferred;
  return CHROMIUM_CANDIDATES.find((p) => existsSync(p));
}

/** Flags for a quiet, offline headless Chromium (puppeteer adds `--headless` and the profile directory). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--hide-scrollbars',
];

/** Something the page reported as a problem: a console error, an uncaught exception, a failed load. */
export interface PageProblem {
  source: 'console' | 'exception' | 'request';
  text: string;
}

/** An open page in headless Chromium, with what it complained about and what it loaded. */
export interface BrowserPage {
  /** The puppeteer page, for anything else. */
  readonly page: Page;
  /** Errors seen so far: console errors (CSP violations and blocked loads included), uncaught exceptions, failed requests. */
  readonly problems: PageProblem[];
  /** URLs the page requested, the page itself included. */
  readonly requests: string[];
  /** Evaluates a JavaScript expression in the page and returns its JSON value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** Options of `openPage`. */
export interface OpenPageOptions {
  /** Chromium binary. @default findChromium(process.env.CHROMIUM_BIN) */
  binary?: string;
  /** Viewport. @default 1280 x 900 */
  width?: number;
  height?: number;
  /** Longest wait for the browser to start and the page to load. @default 30000 */
  timeoutMs?: number;
}

/** Opens `url` (e.g. `file:///tmp/report.html`) in a fresh headless Chromium with a throwaway profile. */
export async function openPage(url: string, options: OpenPageOptions = {}): Promise<BrowserPage> {
  const binary = options.binary ?? findChromium(process.env.CHROMIUM_BIN);
  if (!binary) throw new Error(`No Chromium found (looked at ${CHROMIUM_CANDIDATES.join(', ')}); install Debian's chromium package.`);
  const timeout = options.timeoutMs ?? 30_000;
  const profile = await mkdtemp(join(tmpdir(), 'rkb-chromium-'));
  let browser: Browser | undefined;
  const close = async (): Promise<void> => {
    await browser?.close().catch(() => undefined);
    await rm(profile, { recursive: true, force: true });
  };
  try {
    browser = await puppeteer.launch({
      executablePath: binary,
      headless: true,
      args: CHROMIUM_ARGS,
      userDataDir: profile,
      defaultViewport: { width: options.width ?? 1280, height: options.height ?? 900, deviceScaleFactor: 1 },
      timeout,
      protocolTimeout: timeout,
    });
    const page = await browser.newPage();
    const problems: PageProblem[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'assert') problems.push({ source: 'console', text: message.text() });
    });
    page.on('pageerror', (error) => problems.push({ source: 'exception', text: String(error) }));
    page.on('request', (request) => requests.push(request.url()));
    page.on('requestfailed', (request) => problems.push({ source: 'request', text: `${request.url()}: ${request.failure()?.errorText ?? 'failed'}` }));
    await page.goto(url, { waitUntil: 'load', timeout });
    return {
      page,
      problems,
      requests,
      evaluate: <T>(expression: string) => page.evaluate(expression) as Promise<T>,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
