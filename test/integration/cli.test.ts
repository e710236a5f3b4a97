// The `ferry` command as a user runs it: `node bin/ferry.js` in a child process.

import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startUpstream, freePort, request, serviceEntry, tempDir } from '../helpers/harness'

const ROOT = join(__dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'ferry.js')

// CI builds dist/ in `npm ci`; a fresh checkout without it builds once here.
if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  const r = spawnSync('npx', ['tsc', '-p', ROOT], { cwd: ROOT, stdio: 'inherit' })
  if (r.status !== 0) throw new Error('tsc failed')
}

interface Run { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/** Runs ferry to completion (validate, or a run that fails at start). */
function ferry (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** Starts a long-running `ferry run`; resolves once its log says it is ready. */
function startRun (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess, exited: Promise<Run>, output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'run', ...args], { cwd: ROOT, env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    let ready = false
    child.stdout?.on('data', (c: Buffer) => { stdout += c.toString() })
    const exited = new Promise<Run>(resolve => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`not ready in time:\n${stderr}`)) }, 20_000)
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString()
      if (!ready && /\tready: /.test(stderr)) {
        ready = true
        clearTimeout(timer)
        resolve({ child, exited, output: () => stderr })
      }
    })
    void exited.then(r => {
      clearTimeout(timer)
      if (!ready) reject(new Error(`exited ${String(r.code)} before ready:\n${r.stderr}`))
    })
  })
}

// Each test spawns processes and mostly waits on them: run the four side by side.
t.jobs = 4

const gatewayYaml = (port: number, upstreamPort: number): string => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${port}, name: http, protocol: HTTP}
    hosts: ["*"]
---
${serviceEntry('cli.test', 80, [{ port: upstreamPort }])}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cli}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: cli.test}}]
`

t.test('ferry validate', async t => {
  const dir = tempDir(t, 'ferry-cli-')
  const bad = join(dir, 'bad.yaml')
  writeFileSync(bad, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: fine}
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: broken}
spec:
  hosts: [a.test]
  http:
  - route: [{destination: {host: a.test}, weight: -5}]
`)
  const [ok, r, none] = await Promise.all([
    ferry(['validate', '--config', 'examples/bookinfo/istio']),
    ferry(['validate', '--config', bad]),
    ferry(['validate'])
  ])
  t.equal(ok.code, 0, 'bookinfo is valid')
  t.match(ok.stdout, /^valid: \d+ resource\(s\) in 4 file\(s\), 0 error\(s\)/m)
  t.equal(r.code, 1, 'exit 1 on an invalid file')
  const line = r.stdout.split('\n').find(l => l.startsWith('error:')) ?? ''
  t.match(line, bad, 'names the file')
  t.match(line, /document 2/, 'names the document')
  t.match(line, /VirtualService broken/, 'names the resource')
  t.match(line, /http\[0\]\.route\[0\]\.weight/, 'names the field')
  t.match(r.stdout, /^invalid: /m)

  t.equal(none.code, 2, 'usage error without --config')
})

t.test('ferry run --role gateway serves, then exits 0 on SIGTERM', async t => {
  const up = await startUpstream((_req, res) => res.end('from cli upstream'))
  t.teardown(() => up.close())
  const port = await freePort()
  const dir = tempDir(t, 'ferry-cli-')
  writeFileSync(join(dir, 'config.yaml'), gatewayYaml(port, up.port))
  const run = await startRun(['--role', 'gateway', '--config', dir, '--admin', '127.0.0.1:0', '--gateway-address', '127.0.0.1'])
  t.teardown(() => { run.child.kill('SIGKILL') })
  const r = await request(port, '/hello', { host: 'cli.test' })
  t.equal(r.status, 200)
  t.equal(r.body, 'from cli upstream')
  run.child.kill('SIGTERM')
  const done = await run.exited
  t.equal(done.code, 0, 'exit 0 on SIGTERM')
  t.match(done.stderr, /SIGTERM/)
})

t.test('flags from the environment', async t => {
  const up = await startUpstream((_req, res) => res.end('env-configured'))
  t.teardown(() => up.close())
  const port = await freePort()
  const dir = tempDir(t, 'ferry-cli-')
  writeFileSync(join(dir, 'config.yaml'), gatewayYaml(port, up.port))
  const rejected = Promise.all([
    ferry(['run', '--role', 'nonsense'], { FERRY_ROLE: 'gateway' }),
    ferry(['run', '--config', dir], { FERRY_ROLE: 'bogus' })
  ])
  const run = await startRun([], {
    FERRY_ROLE: 'gateway',
    FERRY_CONFIG: dir,
    FERRY_ADMIN: '127.0.0.1:0',
    FERRY_GATEWAY_ADDRESS: '127.0.0.1',
    FERRY_LOG_LEVEL: 'debug'
  })
  t.teardown(() => { run.child.kill('SIGKILL') })
  t.equal((await request(port, '/', { host: 'cli.test' })).body, 'env-configured', 'FERRY_ROLE, FERRY_CONFIG, FERRY_GATEWAY_ADDRESS applied')
  t.match(run.output(), /\tinfo\tferry\t/, 'FERRY_LOG_LEVEL=debug lets info lines through')
  run.child.kill('SIGTERM')
  t.equal((await run.exited).code, 0)

  const [flagWins, badEnv] = await rejected
  t.equal(flagWins.code, 2, 'a flag overrides the environment')
  t.match(flagWins.stderr, /--role must be gateway or sidecar, not nonsense/)
  t.equal(badEnv.code, 2)
  t.match(badEnv.stderr, /--role must be gateway or sidecar, not bogus/, 'an env value is validated like a flag')
})

t.test('ferry run with an invalid config exits 1', async t => {
  const dir = tempDir(t, 'ferry-cli-')
  writeFileSync(join(dir, 'config.yaml'), `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: broken}
spec:
  hosts: [a.test]
  http:
  - route: [{destination: {host: a.test}, weight: -5}]
`)
  const r = await ferry(['run', '--role', 'gateway', '--config', dir, '--admin', '127.0.0.1:0', '--gateway-address', '127.0.0.1'])
  t.equal(r.code, 1)
  t.match(r.stderr, /weight/, 'the error is printed')
  t.match(r.stderr, /refusing to start/)
})

t.test('ferry run with an access log it cannot open exits 1 and names the path', async t => {
  const dir = tempDir(t, 'ferry-cli-')
  writeFileSync(join(dir, 'config.yaml'), gatewayYaml(await freePort(), 1))
  const missing = join(dir, 'no-such-dir', 'access.log')
  const r = await ferry(['run', '--role', 'gateway', '--config', dir, '--admin', '127.0.0.1:0', '--gateway-address', '127.0.0.1', '--access-log', missing])
  t.equal(r.code, 1)
  t.match(r.stderr, `start failed: access log ${missing}: ENOENT`)
  t.notMatch(r.stderr, /Unhandled 'error' event/)
})

t.test('an unknown flag is a usage error (exit 2, usage on stderr) for run and validate; --help is exit 0', async t => {
  for (const command of ['run', 'validate']) {
    const bad = await ferry([command, '--bogus'])
    t.equal(bad.code, 2, `ferry ${command} --bogus`)
    t.match(bad.stderr, `ferry ${command}: unknown flag --bogus\nusage: ferry ${command} [flags]`)
    const help = await ferry([command, '--help'])
    t.equal(help.code, 0, `ferry ${command} --help`)
    t.match(help.stdout, `usage: ferry ${command} [flags]`)
  }
})
