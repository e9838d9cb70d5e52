/**
 * Reads the node definitions out of the editor .html files the way the Flow
 * Library does: statically, without running them. So `category`, `icon`,
 * `color`, `inputs`, `outputs` must be literals and `defaults`/`credentials`
 * object literals written inline in the registerType call; anything else is
 * reported in `notInline` (the catalogue cannot read it).
 */
import * as fs from 'node:fs';
import ts from 'typescript';

export interface EditorDef {
  type: string;
  category?: string;
  literals: Record<string, string | number>;
  defaults: string[];
  credentials: Record<string, string | undefined>;
  notInline: string[];
}

const LITERAL_KEYS = ['category', 'icon', 'color', 'inputs', 'outputs'];

function scripts(html: string): string[] {
  const re = /<script[^>]*type=["']text\/javascript["'][^>]*>([\s\S]*?)<\/script>/gi;
  return [...html.matchAll(re)].map((m) => m[1]);
}

function keyOf(p: ts.ObjectLiteralElementLike): string | undefined {
  return p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) ? p.name.text : undefined;
}

function literal(e: ts.Expression): string | number | undefined {
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return e.text;
  if (ts.isNumericLiteral(e)) return Number(e.text);
  return undefined;
}

function defOf(type: string, obj: ts.ObjectLiteralExpression): EditorDef {
  const def: EditorDef = { type, literals: {}, defaults: [], credentials: {}, notInline: [] };
  for (const p of obj.properties) {
    const key = keyOf(p);
    if (!key || !ts.isPropertyAssignment(p)) continue;
    if (LITERAL_KEYS.includes(key)) {
      const v = literal(p.initializer);
      if (v === undefined) def.notInline.push(key);
      else def.literals[key] = v;
    } else if (key === 'defaults' || key === 'credentials') {
      if (!ts.isObjectLiteralExpression(p.initializer)) {
        def.notInline.push(key);
        continue;
      }
      for (const f of p.initializer.properties) {
        const name = keyOf(f);
        if (!name) continue;
        if (key === 'defaults') def.defaults.push(name);
        else {
          const typeProp =
            ts.isPropertyAssignment(f) && ts.isObjectLiteralExpression(f.initializer) ? f.initializer.properties.find((q) => keyOf(q) === 'type') : undefined;
          def.credentials[name] = typeProp && ts.isPropertyAssignment(typeProp) ? (literal(typeProp.initializer) as string) : undefined;
        }
      }
    }
  }
  def.category = typeof def.literals.category === 'string' ? def.literals.category : undefined;
  return def;
}

/** Every `*.registerType('<type>', { ... })` in the file's text/javascript scripts. */
export function editorDefs(htmlFile: string): EditorDef[] {
  const defs: EditorDef[] = [];
  for (const code of scripts(fs.readFileSync(htmlFile, 'utf8'))) {
    const src = ts.createSourceFile(htmlFile + '.js', code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'registerType') {
        const [t, d] = n.arguments;
        if (t && ts.isStringLiteral(t) && d && ts.isObjectLiteralExpression(d)) defs.push(defOf(t.text, d));
        else defs.push({ type: t ? t.getText(src) : '?', literals: {}, defaults: [], credentials: {}, notInline: ['registerType arguments'] });
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  return defs;
}
