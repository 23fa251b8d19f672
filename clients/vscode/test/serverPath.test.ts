import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { Host, resolveServerPath, which } from '../src/serverPath';

function host(executables: string[], env: NodeJS.ProcessEnv = {}, platform: NodeJS.Platform = 'linux'): Host {
  const set = new Set(executables);
  return { platform, env, isExecutable: (f) => set.has(f) };
}

test('an absolute configured path is used when it is executable', () => {
  const h = host(['/opt/mr/bin/modelrouter', '/usr/bin/modelrouter'], { PATH: '/usr/bin' });
  assert.equal(resolveServerPath('/opt/mr/bin/modelrouter', ['/ws'], h), '/opt/mr/bin/modelrouter');
});

test('a configured path that does not exist is not silently replaced by PATH', () => {
  const h = host(['/usr/bin/modelrouter'], { PATH: '/usr/bin' });
  assert.equal(resolveServerPath('/nope/modelrouter', ['/ws'], h), undefined);
});

test('a relative configured path resolves against the workspace folders', () => {
  const full = path.join('/ws2', 'tools', 'modelrouter');
  const h = host([full]);
  assert.equal(resolveServerPath('tools/modelrouter', ['/ws1', '/ws2'], h), full);
});

test('${workspaceFolder} and ~ expand', () => {
  const h = host(['/ws/env/bin/modelrouter', '/home/u/bin/modelrouter'], { HOME: '/home/u' });
  assert.equal(resolveServerPath('${workspaceFolder}/env/bin/modelrouter', ['/ws'], h), '/ws/env/bin/modelrouter');
  assert.equal(resolveServerPath('~/bin/modelrouter', ['/ws'], h), '/home/u/bin/modelrouter');
});

test('the workspace virtualenv wins over PATH', () => {
  const venv = path.join('/ws', '.venv', 'bin', 'modelrouter');
  const h = host([venv, '/usr/bin/modelrouter'], { PATH: '/usr/bin' });
  assert.equal(resolveServerPath('', ['/ws'], h), venv);
});

test('venv/ is found too, and PATH is the last resort', () => {
  const venv = path.join('/ws', 'venv', 'bin', 'modelrouter');
  assert.equal(resolveServerPath('', ['/ws'], host([venv])), venv);
  const h = host(['/b/modelrouter'], { PATH: '/a:/b' });
  assert.equal(resolveServerPath('', ['/ws'], h), '/b/modelrouter');
  assert.equal(resolveServerPath('', ['/ws'], host([], { PATH: '/a' })), undefined);
});

test('Windows: Scripts\\modelrouter.exe and PATHEXT', () => {
  const venv = path.join('C:/ws', '.venv', 'Scripts', 'modelrouter.exe');
  assert.equal(resolveServerPath('', ['C:/ws'], host([venv], {}, 'win32')), venv);
  const onPath = path.join('C:/tools', 'modelrouter.exe');
  const h = host([onPath], { PATH: 'C:/tools', PATHEXT: '.COM;.EXE' }, 'win32');
  assert.equal(which('modelrouter', h), onPath);
});
