import t from 'tap'
import type { StringMatch } from '../../../src/config/types'
import {
  compileStringMatcher,
  ExactIgnoreCaseMatcher,
  ExactMatcher,
  isPresentMatch,
  PrefixIgnoreCaseMatcher,
  PrefixMatcher,
  PresentMatcher,
  RegexMatcher,
} from '../../../src/routing/string-matcher'

// One table, every matcher kind: [StringMatch, ignoreCase, value, expected].
const cases: Array<[StringMatch, boolean, string, boolean]> = [
  [{ exact: '/foo' }, false, '/foo', true],
  [{ exact: '/foo' }, false, '/foo/', false],
  [{ exact: '/foo' }, false, '/FOO', false],
  [{ exact: '/foo' }, false, '', false],
  [{ exact: '' }, false, '', true],
  [{ exact: '' }, false, 'x', false],
  [{ exact: '/Foo' }, true, '/fOO', true],
  [{ exact: '/foo' }, true, '/foo2', false],
  [{ exact: '/foo' }, true, '/fo', false],
  [{ exact: '/straße' }, true, '/STRAßE', true],
  [{ exact: '/é' }, true, '/É', false], // Envoy folds ASCII only
  [{ exact: '/[' }, true, '/{', false], // '[' | 0x20 is '{': only A-Z fold
  [{ prefix: '/foo' }, false, '/foo', true],
  [{ prefix: '/foo' }, false, '/foobar', true], // plain string prefix, not a path segment
  [{ prefix: '/foo' }, false, '/fo', false],
  [{ prefix: '/foo' }, false, '/FOO', false],
  [{ prefix: '/FOO' }, true, '/foo/bar', true],
  [{ prefix: '/foo' }, true, '/FoObar', true],
  [{ prefix: '/foo' }, true, '/F', false],
  [{ prefix: '' }, false, '', true],
  [{ prefix: '' }, false, 'anything', true],
  [{ regex: '/foo/[0-9]+' }, false, '/foo/12', true],
  [{ regex: '/foo/[0-9]+' }, false, '/foo/12/x', false], // full match, not search
  [{ regex: '/foo/[0-9]+' }, false, 'x/foo/12', false],
  [{ regex: '/foo' }, true, '/FOO', false], // ignoreUriCase does not apply to regex
  [{ regex: '(?i)/foo' }, false, '/FOO', true],
  [{ regex: '*' }, false, 'anything', true], // Istio: regex "*" is present_match
  [{}, false, '', true],
  [{}, false, 'x', true],
]

t.test('conformance table', async t => {
  for (const [m, ic, value, want] of cases) {
    t.equal(compileStringMatcher(m, ic).match(value), want, `${JSON.stringify(m)}${ic ? ' ignoreCase' : ''} on ${JSON.stringify(value)}`)
  }
})

t.test('compiles to specialised classes', async t => {
  t.type(compileStringMatcher({ exact: 'a' }), ExactMatcher)
  t.type(compileStringMatcher({ exact: 'a' }, true), ExactIgnoreCaseMatcher)
  t.type(compileStringMatcher({ prefix: 'a' }), PrefixMatcher)
  t.type(compileStringMatcher({ prefix: 'a' }, true), PrefixIgnoreCaseMatcher)
  t.type(compileStringMatcher({ regex: 'a.*' }), RegexMatcher)
  t.type(compileStringMatcher({}), PresentMatcher)
  t.type(compileStringMatcher({ regex: '*' }), PresentMatcher)
  t.type(compileStringMatcher({ prefix: '' }), PresentMatcher)
})

t.test('oneof precedence if validation let several through', async t => {
  t.type(compileStringMatcher({ exact: 'a', prefix: 'b', regex: 'c' }), ExactMatcher)
  t.type(compileStringMatcher({ prefix: 'b', regex: 'c' }), PrefixMatcher)
})

t.test('isPresentMatch', async t => {
  t.ok(isPresentMatch({}))
  t.ok(isPresentMatch({ regex: '*' }))
  t.ok(isPresentMatch(undefined))
  t.notOk(isPresentMatch({ exact: '' }))
  t.notOk(isPresentMatch({ prefix: '' }))
  t.notOk(isPresentMatch({ regex: '.*' }))
})

t.test('invalid regex throws at compile time', async t => {
  t.throws(() => compileStringMatcher({ regex: '(' }), SyntaxError)
})
