import { readFileSync } from 'node:fs';
import { CORE_SCHEMA, load, Type } from 'js-yaml';

/** A CloudFormation/SAM template, as plain JSON-shaped data (short-form tags expanded to `Fn::X`). */
export interface Template {
  Parameters?: Record<string, { Type: string; Default?: unknown }>;
  Conditions?: Record<string, unknown>;
  Globals?: { Function?: Record<string, unknown> };
  Resources: Record<string, Resource>;
  Outputs?: Record<string, unknown>;
}

export interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DependsOn?: string | string[];
  /** A condition of the template's `Conditions`: the resource exists only when it is true. */
  Condition?: string;
}

const INTRINSICS = [
  'Base64',
  'Cidr',
  'FindInMap',
  'GetAZs',
  'If',
  'ImportValue',
  'Join',
  'Select',
  'Split',
  'Sub',
  'Transform',
  'And',
  'Equals',
  'Not',
  'Or',
];

function longForm(name: string): string {
  return name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`;
}

// CloudFormation's short forms (`!Ref X`, `!Sub [..]`) become their long forms, as CloudFormation reads them.
// js-yaml rather than the `yaml` package: it parses this template about 4x faster, and every local stack
// and test harness reads it several times. The core schema, as YAML 1.2 reads it: an unquoted
// `AWSTemplateFormatVersion: 2010-09-09` stays a string, as CloudFormation reads it.
const CLOUDFORMATION_SCHEMA = CORE_SCHEMA.extend(
  [...INTRINSICS, 'Ref', 'Condition', 'GetAtt'].flatMap((name) => {
    const key = longForm(name);
    return (['scalar', 'sequence', 'mapping'] as const).map(
      (kind) =>
        new Type(`!${name}`, {
          kind,
          construct: (value: unknown) => ({
            [key]: name === 'GetAtt' && typeof value === 'string' ? splitGetAtt(value) : value,
          }),
        }),
    );
  }),
);

function splitGetAtt(value: string): string[] {
  const dot = value.indexOf('.');
  return dot < 0 ? [value] : [value.slice(0, dot), value.slice(dot + 1)];
}

export function parseTemplate(text: string): Template {
  const template = load(text, { schema: CLOUDFORMATION_SCHEMA }) as Template;
  if (!template || typeof template !== 'object' || !template.Resources) {
    throw new Error('not a CloudFormation template: it has no Resources');
  }
  return template;
}

export function loadTemplate(path: string): Template {
  try {
    return parseTemplate(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read template ${path}: ${(error as Error).message}`);
  }
}

export function resourcesOfType(template: Template, type: string): [string, Resource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

/** A function's properties with the template's `Globals.Function` merged in, as SAM merges them. */
export function functionProperties(template: Template, logicalId: string): Record<string, unknown> {
  const resource = template.Resources[logicalId];
  if (resource?.Type !== 'AWS::Serverless::Function') {
    throw new Error(`${logicalId} is not an AWS::Serverless::Function`);
  }
  return mergeGlobals(template.Globals?.Function ?? {}, resource.Properties ?? {});
}

// SAM's rules: maps merge key by key, lists concatenate (globals first), scalars are replaced.
function mergeGlobals(
  globals: Record<string, unknown>,
  local: Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...globals };
  for (const [key, value] of Object.entries(local)) {
    const global = merged[key];
    if (Array.isArray(global) && Array.isArray(value)) merged[key] = [...global, ...value];
    else if (isPlainObject(global) && isPlainObject(value) && !isIntrinsic(value)) {
      merged[key] = mergeGlobals(global, value);
    } else merged[key] = value;
  }
  return merged;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isIntrinsic(value: Record<string, unknown>): boolean {
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0] === 'Condition' || keys[0]!.startsWith('Fn::'));
}
