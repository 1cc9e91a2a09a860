// API Gateway's route selection: evaluate the API's expression against a message, match the result
// exactly against the route keys, and fall back to `$default`.

const PLACEHOLDER = /\$\{request\.body\.([^}]+)\}/g;

function valueAt(body: unknown, path: string): string | undefined {
  let value: unknown = body;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  if (value === null || value === undefined) return undefined;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** The value an expression selects from a text message, or undefined when it cannot be evaluated. */
export function evaluateSelectionExpression(expression: string, message: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (expression.includes('${')) {
    let missing = false;
    const value = expression.replace(PLACEHOLDER, (_, path: string) => {
      const part = valueAt(body, path);
      if (part === undefined) missing = true;
      return part ?? '';
    });
    return missing ? undefined : value;
  }
  const match = /^\$request\.body\.(.+)$/.exec(expression);
  return match ? valueAt(body, match[1]!) : undefined;
}

/** The route a message goes to: the matching key, else `$default` if the API has it, else none. */
export function selectRoute(
  expression: string,
  routeKeys: Iterable<string>,
  message: string,
): string | undefined {
  const keys = new Set(routeKeys);
  const value = evaluateSelectionExpression(expression, message);
  if (value !== undefined && !value.startsWith('$') && keys.has(value)) return value;
  return keys.has('$default') ? '$default' : undefined;
}
