import { ServerSettings } from './protocol';

/** Reads the server settings through `get` (a `WorkspaceConfiguration.get`). */
export function serverSettings(get: <T>(key: string, fallback: T) => T): ServerSettings {
  const orNull = (s: string) => (s.trim() ? s.trim() : null);
  return {
    rulesFile: orNull(get<string>('rulesFile', '')),
    confirmEdits: get<boolean>('confirmEdits', false),
    designFolder: get<string>('designFolder', 'docs/design') || 'docs/design',
    logFile: orNull(get<string>('logFile', '')),
  };
}
