/**
 * A small YAML writer for the generated Envoy, Kong and Traefik files: block style, every string
 * double-quoted (JSON escapes are valid YAML), so no value can turn into a key, a number or a tag.
 * Multi-line strings (PEM) become literal blocks. The server needs no YAML library for this.
 */
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

const PLAIN_KEY = /^[A-Za-z_@][A-Za-z0-9_.-]*$/;

function scalar(v: string | number | boolean | null): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function key(k: string): string {
  return PLAIN_KEY.test(k) && !k.startsWith('@') ? k : JSON.stringify(k);
}

function isBlock(v: YamlValue): v is YamlValue[] | { [key: string]: YamlValue } {
  return v !== null && typeof v === 'object' && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0);
}

function empty(v: YamlValue): string | null {
  if (Array.isArray(v) && v.length === 0) return '[]';
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) return '{}';
  return null;
}

function lines(v: YamlValue, indent: string): string[] {
  if (Array.isArray(v)) {
    return v.flatMap((item) => {
      if (!isBlock(item)) return [`${indent}- ${inline(item, `${indent}  `)}`];
      const [first, ...rest] = lines(item, `${indent}  `);
      return [`${indent}- ${first!.trimStart()}`, ...rest];
    });
  }
  return Object.entries(v as { [key: string]: YamlValue }).flatMap(([k, item]) =>
    isBlock(item) ? [`${indent}${key(k)}:`, ...lines(item, `${indent}  `)] : [`${indent}${key(k)}: ${inline(item, `${indent}  `)}`],
  );
}

function inline(v: YamlValue, indent: string): string {
  const e = empty(v);
  if (e) return e;
  if (typeof v === 'string' && v.includes('\n') && v.endsWith('\n')) {
    return `|\n${v
      .slice(0, -1)
      .split('\n')
      .map((l) => `${indent}${l}`)
      .join('\n')}`;
  }
  return scalar(v as string | number | boolean | null);
}

/** A YAML document for `value` (an object), ending in a newline. */
export function toYaml(value: { [key: string]: YamlValue }, header = ''): string {
  return `${header}${lines(value, '').join('\n')}\n`;
}
