/**
 * A minimal headless Chromium driver over the DevTools protocol, for checking and picturing HTML reports
 * (tests, `scripts/screenshot-report.mjs`). Not used by the CLI. Speaks CDP over undici's WebSocket, so it needs
 * nothing beyond a Chromium binary (Debian's `chromium` package).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'undici';

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

/** Something the page reported as a problem: a console error, an uncaught exception, a blocked load, a CSP violation. */
export interface PageProblem {
  source: 'console' | 'exception' | 'log';
  text: string;
}

/** An open page in headless Chromium. */
export interface ChromiumPage {
  /** Errors seen so far (console.error, uncaught exceptions, error log entries such as CSP violations). */
  readonly problems: PageProblem[];
  /** URLs the page requested, the page itself included. */
  readonly requests: string[];
  /** Evaluates a JavaScript expression in the page and returns its JSON value. */
  evaluate<T>(expression: string): Promise<T>;
  /**
   * A PNG of the whole page at the viewport's width, or with `fullPage: false` of one viewport's height starting
   * `y` pixels down the page.
   */
  screenshot(options?: { fullPage?: boolean; y?: number }): Promise<Buffer>;
  /** Renders the page for `print` (its print style sheet) or back for `screen`, e.g. before a screenshot. */
  emulateMedia(media: 'print' | 'screen'): Promise<void>;
  /** The page printed to PDF (A4, with backgrounds), as the print style sheet lays it out. */
  pdf(): Promise<Buffer>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** Options of `openInChromium`. */
export interface OpenOptions {
  /** Chromium binary. @default findChromium() */
  binary?: string;
  /** Viewport. @default 1280 x 900 */
  width?: number;
  height?: number;
  /** Longest wait for the browser to start and the page to load. @default 30000 */
  timeoutMs?: number;
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

/** Opens `url` (e.g. `file:///tmp/report.html`) in a fresh headless Chromium with a throwaway profile. */
export async function openInChromium(url: string, options: OpenOptions = {}): Promise<ChromiumPage> {
  const binary = options.binary ?? findChromium();
  if (!binary) throw new Error(`No Chromium found (looked at ${CHROMIUM_CANDIDATES.join(', ')}); install Debian's chromium package.`);
  const width = options.width ?? 1280;
  const height = options.height ?? 900;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const profile = await mkdtemp(join(tmpdir(), 'rkb-chromium-'));
  const child = spawn(
    binary,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-extensions',
      '--no-first-run',
      '--no-default-browser-check',
      '--hide-scrollbars',
      `--user-data-dir=${profile}`,
      '--remote-debugging-port=0',
      `--window-size=${width},${height}`,
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let socket: WebSocket | undefined;
  const cleanup = async (): Promise<void> => {
    socket?.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    await rm(profile, { recursive: true, force: true });
  };
  try {
    const endpoint = await devToolsEndpoint(child, timeoutMs);
    socket = new WebSocket(endpoint);
    const ws = socket;
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new Error(`Cannot connect to Chromium's DevTools at ${endpoint}`)), { once: true });
    });

    let nextId = 1;
    const pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
    const listeners = new Set<(m: CdpMessage) => void>();
    ws.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as CdpMessage;
      if (message.id !== undefined) {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(`CDP: ${message.error.message}`));
        else waiter?.resolve(message.result ?? {});
        return;
      }
      for (const listener of listeners) listener(message);
    });
    ws.addEventListener('close', () => {
      for (const waiter of pending.values()) waiter.reject(new Error('Chromium closed the DevTools connection'));
      pending.clear();
    });
    const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      });

    const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const call = (method: string, params: Record<string, unknown> = {}) => send(method, params, sessionId);

    const problems: PageProblem[] = [];
    const requests: string[] = [];
    let loaded: () => void = () => undefined;
    const loadedPromise = new Promise<void>((resolve) => (loaded = resolve));
    listeners.add((m) => {
      if (m.sessionId !== sessionId) return;
      const p = m.params ?? {};
      if (m.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert')) {
        const args = (p.args as { value?: unknown; description?: string }[] | undefined) ?? [];
        problems.push({ source: 'console', text: args.map((a) => String(a.value ?? a.description ?? '')).join(' ') });
      } else if (m.method === 'Runtime.exceptionThrown') {
        const details = p.exceptionDetails as { text?: string; exception?: { description?: string } } | undefined;
        problems.push({ source: 'exception', text: details?.exception?.description ?? details?.text ?? 'exception' });
      } else if (m.method === 'Log.entryAdded') {
        const entry = p.entry as { level?: string; text?: string; url?: string } | undefined;
        if (entry?.level === 'error') problems.push({ source: 'log', text: `${entry.text ?? ''}${entry.url ? ` (${entry.url})` : ''}` });
      } else if (m.method === 'Network.requestWillBeSent') {
        requests.push(String((p.request as { url?: string } | undefined)?.url ?? ''));
      } else if (m.method === 'Page.loadEventFired') {
        loaded();
      }
    });
    await call('Runtime.enable');
    await call('Log.enable');
    await call('Network.enable');
    await call('Page.enable');
    await call('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
    const navigated = (await call('Page.navigate', { url })) as { errorText?: string };
    if (navigated.errorText) throw new Error(`Chromium could not open ${url}: ${navigated.errorText}`);
    await withTimeout(loadedPromise, timeoutMs, `Chromium did not finish loading ${url}`);

    return {
      problems,
      requests,
      async evaluate<T>(expression: string): Promise<T> {
        const r = (await call('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
          result: { value?: unknown };
          exceptionDetails?: { text?: string; exception?: { description?: string } };
        };
        if (r.exceptionDetails) throw new Error(`In the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
        return r.result.value as T;
      },
      async screenshot(shot: { fullPage?: boolean; y?: number } = {}): Promise<Buffer> {
        const metrics = (await call('Page.getLayoutMetrics')) as { cssContentSize: { height: number } };
        const fullHeight = shot.fullPage === false ? height : Math.ceil(metrics.cssContentSize.height);
        const captured = (await call('Page.captureScreenshot', {
          format: 'png',
          captureBeyondViewport: true,
          clip: { x: 0, y: shot.fullPage === false ? (shot.y ?? 0) : 0, width, height: fullHeight, scale: 1 },
        })) as { data: string };
        return Buffer.from(captured.data, 'base64');
      },
      async emulateMedia(media: 'print' | 'screen'): Promise<void> {
        await call('Emulation.setEmulatedMedia', { media });
      },
      async pdf(): Promise<Buffer> {
        const printed = (await call('Page.printToPDF', { printBackground: true, preferCSSPageSize: true })) as { data: string };
        return Buffer.from(printed.data, 'base64');
      },
      async close(): Promise<void> {
        await withTimeout(send('Browser.close'), 2000, 'Chromium did not close').catch(() => undefined);
        await cleanup();
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Reads `DevTools listening on ws://…` from Chromium's stderr. */
function devToolsEndpoint(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => done(new Error(`Chromium did not start within ${timeoutMs} ms: ${seen.slice(-500)}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
      if (match) done(undefined, match[1]);
    };
    const onExit = (code: number | null): void => done(new Error(`Chromium exited (${code}) before it was ready: ${seen.slice(-500)}`));
    function done(error?: Error, endpoint?: string): void {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.stderr?.resume(); // keep draining, or a full pipe would stall the browser
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(endpoint!);
    }
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
    }),
  ]);
}
