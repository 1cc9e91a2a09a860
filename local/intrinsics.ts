import { isIntrinsic, isPlainObject, type Template } from '../tools/template';

/** What `Ref` and `Fn::GetAtt` mean for each resource when the template runs locally. */
export interface LocalResolution {
  region: string;
  accountId: string;
  stackName: string;
  parameters: Record<string, string>;
  /** Logical id → the value `Ref` gives (a table's local name, a function's name, an API's id...). */
  refs: Record<string, string>;
  /** `LogicalId.Attribute` → the value `Fn::GetAtt` gives. */
  attributes: Record<string, string>;
}

/** A template's parameters: its defaults, then the given overrides. */
export function parameterValues(
  template: Template,
  overrides: Record<string, string> = {},
): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, parameter] of Object.entries(template.Parameters ?? {})) {
    if (parameter.Default !== undefined) values[name] = String(parameter.Default);
  }
  return { ...values, ...overrides };
}

/**
 * Evaluates CloudFormation intrinsic functions in a value, the subset SAM templates use for
 * wiring: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::If and conditions.
 */
export class IntrinsicResolver {
  constructor(
    private readonly template: Template & {
      Conditions?: Record<string, unknown>;
      Mappings?: Record<string, unknown>;
    },
    private readonly local: LocalResolution,
  ) {}

  private pseudo(name: string): string | undefined {
    const { region, accountId, stackName } = this.local;
    const values: Record<string, string> = {
      'AWS::Region': region,
      'AWS::AccountId': accountId,
      'AWS::StackName': stackName,
      'AWS::StackId': `arn:aws:cloudformation:${region}:${accountId}:stack/${stackName}/local`,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::NotificationARNs': '',
    };
    return values[name];
  }

  ref(name: string): string {
    const value = this.pseudo(name) ?? this.local.parameters[name] ?? this.local.refs[name];
    if (value === undefined) throw new Error(`cannot resolve Ref ${name} locally`);
    return value;
  }

  getAtt(logicalId: string, attribute: string): string {
    const value = this.local.attributes[`${logicalId}.${attribute}`];
    if (value === undefined) throw new Error(`cannot resolve Fn::GetAtt ${logicalId}.${attribute} locally`);
    return value;
  }

  private sub(text: string, variables: Record<string, unknown> = {}): string {
    return text.replace(/\$\{([^}]+)\}/g, (_, expression: string) => {
      if (expression.startsWith('!')) return `\${${expression.slice(1)}}`;
      if (expression in variables) return String(this.resolve(variables[expression]));
      const dot = expression.indexOf('.');
      if (dot > 0 && !expression.startsWith('AWS::'))
        return this.getAtt(expression.slice(0, dot), expression.slice(dot + 1));
      return this.ref(expression);
    });
  }

  condition(name: string): boolean {
    const definition = this.template.Conditions?.[name];
    if (definition === undefined) throw new Error(`unknown condition ${name}`);
    return Boolean(this.resolve(definition));
  }

  /** The value with every intrinsic function evaluated; AWS::NoValue drops the key or item. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value))
      return value.map((item) => this.resolve(item)).filter((item) => item !== NO_VALUE);
    if (!isPlainObject(value)) return value;
    if (!isIntrinsic(value)) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        const resolved = this.resolve(item);
        if (resolved !== NO_VALUE) out[key] = resolved;
      }
      return out;
    }
    const [name, args] = Object.entries(value)[0]!;
    const list = (v: unknown) => (Array.isArray(v) ? v : [v]);
    switch (name) {
      case 'Ref':
        return args === 'AWS::NoValue' ? NO_VALUE : this.ref(String(args));
      case 'Condition':
        return this.condition(String(args));
      case 'Fn::GetAtt': {
        const [id, ...attribute] = list(args).map(String);
        return this.getAtt(id!, attribute.join('.'));
      }
      case 'Fn::Sub': {
        const [text, variables] = list(args);
        return this.sub(String(text), (variables as Record<string, unknown>) ?? {});
      }
      case 'Fn::Join': {
        const [delimiter, items] = list(args);
        return (this.resolve(items) as unknown[]).join(String(delimiter));
      }
      case 'Fn::Select': {
        const [index, items] = list(args);
        return (this.resolve(items) as unknown[])[Number(this.resolve(index))];
      }
      case 'Fn::Split': {
        const [delimiter, text] = list(args);
        return String(this.resolve(text)).split(String(delimiter));
      }
      case 'Fn::If': {
        const [conditionName, whenTrue, whenFalse] = list(args);
        return this.resolve(this.condition(String(conditionName)) ? whenTrue : whenFalse);
      }
      case 'Fn::Equals': {
        const [a, b] = list(args).map((item) => this.resolve(item));
        return String(a) === String(b);
      }
      case 'Fn::Not':
        return !this.resolve(list(args)[0]);
      case 'Fn::And':
        return list(args).every((item) => this.resolve(item));
      case 'Fn::Or':
        return list(args).some((item) => this.resolve(item));
      case 'Fn::FindInMap': {
        const [map, top, second] = list(args).map((item) => String(this.resolve(item)));
        const mapping = this.template.Mappings?.[map!] as Record<string, Record<string, unknown>> | undefined;
        return mapping?.[top!]?.[second!];
      }
      case 'Fn::Base64':
        return Buffer.from(String(this.resolve(args))).toString('base64');
      default:
        throw new Error(`${name} is not supported by the local stack`);
    }
  }
}

export const NO_VALUE = Symbol('AWS::NoValue');
