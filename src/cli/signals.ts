import { EXIT } from '../core/exit-codes.js';

/** What a command says when it is asked to stop. */
export interface StopMessages {
  /** After the first signal, e.g. `finishing the messages in flight, then stopping.` */
  stopping?: string;
  /** After the second one, before stopping at once. */
  abortingNow?: string;
}

/** The two stages of stopping a command, and how to uninstall the handler. */
export interface StopSignals {
  /** Aborted by the first SIGINT/SIGTERM: take nothing new, let what is in flight finish, checkpoint. */
  stop: AbortController;
  /** Aborted by the second: cancel what is in flight (every commit is atomic, so the state stays consistent). */
  abort: AbortController;
  /** The first signal received, if any (for messages such as `stopped by SIGTERM`). */
  readonly received: NodeJS.Signals | undefined;
  dispose: () => void;
}

/**
 * The one SIGINT/SIGTERM handler of the CLI (`run`, `sweep`, `due`, `emulator`). The first signal aborts `stop`;
 * the second aborts `abort`, then ends the process at once with exit code 130 through `exit` when the launcher
 * gave one (in-process callers get the aborted command back instead). Messages go through `say`.
 */
export function installStopSignals(
  say: (text: string) => void,
  messages: StopMessages = {},
  exit?: (code: number) => void,
): StopSignals {
  const stop = new AbortController();
  const abort = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    received ??= signal;
    if (!stop.signal.aborted) {
      if (messages.stopping) say(`\nReceived ${signal}: ${messages.stopping}`);
      stop.abort();
      return;
    }
    if (abort.signal.aborted) return;
    if (messages.abortingNow) say(messages.abortingNow);
    abort.abort();
    exit?.(EXIT.interrupted);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    stop,
    abort,
    get received() {
      return received;
    },
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
