import { evaluateSelectionExpression, selectRoute } from '../../local/gateway/route-selection';
import { parseDuration } from '../../local/start';

const routes = ['$connect', '$disconnect', '$default', 'join', 'send', 'a/b', '7', 'true'];

test.each([
  ['{"action":"join"}', 'join'],
  ['{"action":"shout"}', '$default'],
  ['{"action":"JOIN"}', '$default'],
  ['{"action":"$connect"}', '$default'],
  ['not json', '$default'],
  ['[1,2]', '$default'],
  ['{}', '$default'],
  ['{"action":null}', '$default'],
  ['{"action":7}', '7'],
  ['{"action":true}', 'true'],
])('$request.body.action on %s selects %s', (message, route) => {
  expect(selectRoute('$request.body.action', routes, message)).toBe(route);
});

test('nested paths and templates', () => {
  expect(evaluateSelectionExpression('$request.body.a.b', '{"a":{"b":"send"}}')).toBe('send');
  expect(evaluateSelectionExpression('$request.body.a.b', '{"a":"send"}')).toBeUndefined();
  expect(evaluateSelectionExpression('${request.body.x}/${request.body.y}', '{"x":"a","y":"b"}')).toBe('a/b');
  expect(evaluateSelectionExpression('${request.body.x}/${request.body.y}', '{"x":"a"}')).toBeUndefined();
  expect(evaluateSelectionExpression('$request.body.__proto__', '{"__proto__":"join"}')).toBe('join');
  expect(evaluateSelectionExpression('$request.body.toString', '{}')).toBeUndefined();
});

test('no match and no $default selects nothing', () => {
  expect(selectRoute('$request.body.action', ['join'], '{"action":"send"}')).toBeUndefined();
});

test.each([
  ['500ms', 500],
  ['5s', 5000],
  ['10m', 600_000],
  ['2h', 7_200_000],
  ['1.5s', 1500],
  ['250', 250],
])('duration %s is %i ms', (text, ms) => {
  expect(parseDuration(text)).toBe(ms);
});

test('a bad duration is refused with a clear message', () => {
  expect(() => parseDuration('soon')).toThrow('"soon" is not a duration (e.g. 500ms, 5s, 10m, 2h)');
});
