import t from 'tap'
import { analyseForJs, compileRe2Regex, compileRegex, regexError } from '../../../src/routing/regex'

// Test names go into TAP lines: escape everything outside printable ASCII (U+2028 breaks lines).
const q = (s: string): string => JSON.stringify(s).replace(/[^\x20-\x7e]/g, c => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))

t.test('full match, not partial', async t => {
  for (const p of ['/api/v[0-9]+', '(?i)/API', 'a|ab']) {
    const re = compileRegex(p)
    t.notOk(re.test('x/api/v1'), `${p}: prefix junk`)
  }
  const re = compileRegex('/api/v[0-9]+')
  t.ok(re.test('/api/v12'))
  t.notOk(re.test('/api/v12/extra'), 'no trailing junk')
  t.notOk(re.test('/api/v'), 'needs a digit')
  // Leftmost-first alternation must still find the full match.
  t.ok(compileRegex('a|ab').test('ab'))
  t.ok(compileRegex('(?:a|ab)(?:c|bcd)').test('abcd'))
})

t.test('RE2 semantics, on both engines', async t => {
  const cases: Array<[string, string, boolean]> = [
    ['.', '\n', false], // RE2 . excludes only \n
    ['.', '\r', true], // V8's . would say false
    ['.', '\u2028', true],
    ['.', '😀', true], // one code point
    ['\\s', '\v', false], // RE2 \s is [\t\n\f\r ]
    ['\\s', '\u00a0', false],
    ['\\s', '\f', true],
    ['\\w+', 'abc_09', true],
    ['\\w', 'é', false],
    ['[^a]', '\n', true],
    ['\\d{3}', '123', true],
    ['\\d{3}', '1234', false],
    ['^/foo$', '/foo', true],
    ['(?i)/foo', '/FOO', true],
    ['/foo', '/FOO', false],
    ['\\Qa.b\\E', 'a.b', true],
    ['\\Qa.b\\E', 'axb', false],
    ['\\Qa.b', 'a.b', true], // unterminated \Q quotes to the end
    ['\\Q/x\\E', '/x', true], // re2-wasm's '/' escaping must not leak into \Q
    ['', '', true],
    ['', 'a', false],
    ['a/b', 'a/b', true],
  ]
  for (const [p, s, want] of cases) {
    t.equal(compileRegex(p).test(s), want, `${q(p)} on ${q(s)} (${compileRegex(p).engine})`)
    t.equal(compileRe2Regex(p).test(s), want, `${q(p)} on ${q(s)} (re2)`)
  }
})

t.test('exec returns captures of the full match', async t => {
  for (const re of [compileRegex('/v1/([^/]+)/(.*)'), compileRe2Regex('/v1/([^/]+)/(.*)')]) {
    t.same(re.exec('/v1/users/42/x'), ['/v1/users/42/x', 'users', '42/x'], re.engine)
    t.equal(re.exec('/v2/users/42'), null)
  }
  for (const re of [compileRegex('(a)|(b)'), compileRe2Regex('(a)|(b)')]) {
    t.same(re.exec('b'), ['b', undefined, 'b'], `non-participating group is undefined (${re.engine})`)
  }
})

t.test('regexError', async t => {
  t.equal(regexError('/api/.*'), null)
  t.equal(regexError('(?P<name>x)'), null)
  t.equal(regexError('('), 'invalid RE2 regex "(": missing ): ^(?:()$')
  t.match(regexError('a**'), /bad repetition operator/)
  t.match(regexError('*'), /no argument for repetition operator/)
  t.match(regexError('(a)\\1'), /invalid escape sequence/, 'no back-references in RE2')
  t.match(regexError('a(?=b)'), /invalid|missing/, 'no lookahead in RE2')
  t.match(regexError('a{1001}'), /repetition size/)
  t.throws(() => compileRegex('('), SyntaxError)
})

t.test('which patterns may run on V8', async t => {
  const js = [
    '/api/v[0-9]+/users/.*',
    '/productpage|/static/.*|/login',
    '[^/]+/[^/]+',
    'https?://.*',
    '/v1/([^/]+)/(.*)',
    '\\d{3}-\\d{4}',
    '^/exact$',
    '.*',
    '[a-z0-9-]+\\.example\\.com',
  ]
  for (const p of js) t.not(analyseForJs(p), null, `${p} is in the subset`)
  const re2 = [
    'a*a*', // adjacent overlapping repetitions: polynomial backtracking
    '(a+)+b', // nested: exponential
    '(a|aa)*', // repeated alternation
    '(a|b)c', // alternation below top level
    '.*/.*', // `.` overlaps '/'
    '[a-z]+[a-z0-9]*', // second repetition may be empty
    '(?i)abc', // flags
    '(?P<n>a)', // named group
    '\\bword\\b',
    '\\pL+',
    '[[:alpha:]]+',
    'a{,3}', // literal brace in RE2
    'a^b',
    '\\Qa\\E',
  ]
  for (const p of re2) {
    t.equal(analyseForJs(p), null, `${p} stays on RE2`)
    if (regexError(p) === null) t.equal(compileRegex(p).engine, 're2')
  }
})

t.test('pathological inputs stay fast', async t => {
  const long = 'a'.repeat(50_000)
  for (const p of ['(a+)+b', 'a*a*a*a*b', '(a|aa)*c', '[a-z]+[a-z]*[a-z]*x', '.*.*.*=.*']) {
    const re = compileRegex(p)
    const start = process.hrtime.bigint()
    t.notOk(re.test(long + '!'))
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    t.ok(ms < 200, `${p} (${re.engine}) took ${ms.toFixed(1)} ms`)
  }
  // A JS-subset pattern failing late on a long input is linear too.
  const re = compileRegex('/x/[a-z]+/[0-9]+')
  t.equal(re.engine, 'js')
  const start = process.hrtime.bigint()
  t.notOk(re.test('/x/' + 'a'.repeat(1_000_000) + '/12a'))
  t.ok(Number(process.hrtime.bigint() - start) / 1e6 < 200)
})

t.test('intern cache shares compiled patterns', async t => {
  t.equal(compileRegex('/cached/.*'), compileRegex('/cached/.*'))
})

// Differential fuzz: every pattern the JS subset accepts must agree with RE2 on test() and exec()
// for random inputs. Deterministic PRNG so failures reproduce.
t.test('differential fuzz: JS subset == RE2', async t => {
  let seed = 0x2545f491
  const rnd = (n: number): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % n
  }
  const atoms = ['a', 'b', '/', '.', '[ab]', '[^a]', '\\d', '\\w', '\\s', '[a-c/]', '\\.', '-', '[^/]']
  const quants = ['', '', '', '*', '+', '?', '{2}', '{1,3}', '{0,}', '*?', '+?', '??']
  const inputAlphabet = ['a', 'b', 'c', '/', '.', '1', '-', ' ', '\n', '\r', '\v', '_', 'é']
  const genBranch = (): string => {
    let p = ''
    const n = 1 + rnd(5)
    let open = 0
    for (let i = 0; i < n; i++) {
      if (rnd(6) === 0) {
        p += rnd(2) === 0 ? '(' : '(?:'
        open++
      }
      p += atoms[rnd(atoms.length)] + quants[rnd(quants.length)]
      if (open > 0 && rnd(3) === 0) {
        p += ')'
        open--
      }
    }
    return p + ')'.repeat(open)
  }
  let accepted = 0
  let compared = 0
  for (let k = 0; k < 3000; k++) {
    const branches = 1 + (rnd(4) === 0 ? rnd(3) : 0)
    const pattern = Array.from({ length: branches }, genBranch).join('|')
    if (regexError(pattern) !== null || analyseForJs(pattern) === null) continue
    accepted++
    const js = compileRegex(pattern)
    const re2 = compileRe2Regex(pattern)
    for (let i = 0; i < 30; i++) {
      let s = ''
      const len = rnd(8)
      for (let j = 0; j < len; j++) s += inputAlphabet[rnd(inputAlphabet.length)]
      compared++
      const a = js.test(s)
      const b = re2.test(s)
      if (a !== b) t.fail(`test mismatch ${q(pattern)} on ${q(s)}: js=${a} re2=${b}`)
      if (b) {
        const ea = js.exec(s)
        const eb = re2.exec(s)
        if (JSON.stringify(ea) !== JSON.stringify(eb)) {
          t.fail(`exec mismatch ${q(pattern)} on ${q(s)}: ${q(JSON.stringify(ea))} vs ${q(JSON.stringify(eb))}`)
        }
      }
    }
  }
  t.ok(accepted > 300, `${accepted} patterns in the JS subset, ${compared} inputs compared`)
})
