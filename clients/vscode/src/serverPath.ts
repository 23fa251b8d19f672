import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** What `resolveServerPath` needs from the machine; injectable for tests. */
export interface Host {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  isExecutable(file: string): boolean;
}

export const nodeHost: Host = {
  platform: process.platform,
  env: process.env,
  isExecutable(file: string): boolean {
    try {
      fs.accessSync(file, process.platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  },
};

function executableNames(name: string, host: Host): string[] {
  if (host.platform !== 'win32' || path.extname(name)) {
    return [name];
  }
  const exts = (host.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';').filter(Boolean);
  return [name, ...exts.map((e) => name + e.toLowerCase())];
}

/** The first `name` on `PATH`, or undefined. */
export function which(name: string, host: Host): string | undefined {
  const dirs = (host.env.PATH ?? '').split(host.platform === 'win32' ? ';' : ':');
  for (const dir of dirs.filter(Boolean)) {
    for (const candidate of executableNames(name, host)) {
      const full = path.join(dir, candidate);
      if (host.isExecutable(full)) {
        return full;
      }
    }
  }
  return undefined;
}

function expand(p: string, folders: readonly string[], host: Host): string {
  let out = p.replace(/\$\{workspaceFolder\}/g, folders[0] ?? '');
  if (out === '~' || out.startsWith('~/')) {
    out = path.join(host.env.HOME ?? os.homedir(), out.slice(1));
  }
  return out;
}

/**
 * Where the `modelrouter` executable is: the configured path (absolute, relative to the first
 * workspace folder, or a name looked up on PATH), else the workspace's virtualenv
 * (`.venv`, `venv`), else `PATH`. Undefined when none is found.
 */
export function resolveServerPath(
  configured: string,
  folders: readonly string[],
  host: Host = nodeHost,
): string | undefined {
  const setting = configured.trim();
  if (setting) {
    const p = expand(setting, folders, host);
    if (path.isAbsolute(p)) {
      return host.isExecutable(p) ? p : undefined;
    }
    if (p.includes('/') || p.includes('\\')) {
      for (const folder of folders) {
        const full = path.join(folder, p);
        if (host.isExecutable(full)) {
          return full;
        }
      }
      return undefined;
    }
    return which(p, host);
  }
  const bin = host.platform === 'win32' ? ['Scripts', 'modelrouter.exe'] : ['bin', 'modelrouter'];
  for (const folder of folders) {
    for (const venv of ['.venv', 'venv']) {
      const full = path.join(folder, venv, ...bin);
      if (host.isExecutable(full)) {
        return full;
      }
    }
  }
  return which('modelrouter', host);
}
