import { describe, expect, it } from 'vitest';
import { formatDate, formatIdr, formatNumber, titleCase } from '../src/render/helpers.js';
import { compilePayloadTemplate } from '../src/render/payload.js';
import {
  CAPTION_MAX_CHARS,
  TemplateError,
  TEXT_MAX_CHARS,
  compileMessageTemplate,
  messageLength,
  missingColumnMessage,
  type RenderResult,
} from '../src/render/template.js';

const text = (source: string) => compileMessageTemplate(source, { name: 'test.hbs', type: 'text' });

function expectOk(result: RenderResult): string {
  if (!result.ok) throw new Error(`expected a rendered message, got: ${result.reason}`);
  return result.text;
}

function expectInvalid(result: RenderResult): { reason: string; variable?: string } {
  if (result.ok) throw new Error(`expected an invalid row, got: ${result.text}`);
  return result;
}

function templateError(fn: () => unknown): TemplateError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TemplateError);
    return err as TemplateError;
  }
  throw new Error('expected a TemplateError');
}

describe('compileMessageTemplate: variables and strictness', () => {
  it('renders variables without HTML escaping and trims the result', () => {
    const t = text('\nHalo {{nama}} & co <b>{{kota}}</b>\n\n');
    expect(expectOk(t.render({ nama: 'Budi "B" O\'Neil', kota: 'A&B' }))).toBe('Halo Budi "B" O\'Neil & co <b>A&B</b>');
  });

  it('makes a row with a missing or empty (or blank) variable invalid and names the variable', () => {
    const t = text('Halo {{first_name}}, kota {{kota}}');
    const empty = expectInvalid(t.render({ first_name: '', kota: 'Bandung' }));
    expect(empty.reason).toBe('missing value for {{first_name}}');
    expect(empty.variable).toBe('first_name');
    const blank = expectInvalid(t.render({ first_name: 'Budi', kota: '   ' }));
    expect(blank.reason).toBe('missing value for {{kota}}');
    const absent = expectInvalid(t.render({ first_name: 'Budi' }));
    expect(absent.reason).toContain('missing value for {{kota}}');
    expect(absent.variable).toBe('kota');
  });

  it('reports the variables it uses, required or only with a fallback', () => {
    const t = text('{{default nickname "Kak"}} {{titleCase nama}} {{#if kota}}di {{kota}}{{/if}} {{[first name]}}');
    expect([...t.variables].sort()).toEqual(['first name', 'kota', 'nama', 'nickname']);
    expect([...t.requiredVariables].sort()).toEqual(['first name', 'nama']);
    const missing = t.missingColumns(['nama', 'kota', 'phone']);
    expect(missing.required).toEqual(['first name']);
    expect(missing.optional).toEqual(['nickname']);
  });

  it('explains a variable with no CSV column, suggesting a close one', () => {
    const message = missingColumnMessage('templates/demo.hbs', 'kota', ['nama', 'Kota', 'phone']);
    expect(message).toBe('templates/demo.hbs uses {{kota}} but the CSV has no such column (columns: nama, Kota, phone) — did you mean {{Kota}}?');
  });

  it('lets {{#if x}} guard x and {{#unless x}}…{{else}} guard it in the else branch', () => {
    const t = text('Halo{{#if kota}} dari {{kota}}{{/if}}!{{#unless promo}} biasa{{else}} {{promo}}{{/unless}}');
    expect(expectOk(t.render({ kota: '', promo: '' }))).toBe('Halo! biasa');
    expect(expectOk(t.render({ kota: 'Solo', promo: 'DISKON' }))).toBe('Halo dari Solo! DISKON');
    expect(t.requiredVariables.size).toBe(0);
  });
});

describe('helpers', () => {
  it('default uses the value, or the first non-empty fallback', () => {
    const t = text('Halo {{default nickname "Kak"}}, {{default panggilan (titleCase nama)}}');
    expect(expectOk(t.render({ nickname: 'Budi', panggilan: '', nama: 'siti AMINAH' }))).toBe('Halo Budi, Siti Aminah');
    expect(expectOk(t.render({ nickname: '  ', panggilan: 'Bu Siti', nama: 'x' }))).toBe('Halo Kak, Bu Siti');
    // The column may be absent from the CSV altogether.
    expect(expectOk(t.render({ nama: 'eko' }))).toBe('Halo Kak, Eko');
  });

  it('default with only empty values makes the row invalid naming the variable', () => {
    const t = text('Halo {{default nickname alias}}');
    const r = expectInvalid(t.render({ nickname: '', alias: '' }));
    expect(r.reason).toBe('missing value for {{nickname}} and no fallback value');
    expect(r.variable).toBe('nickname');
  });

  it('titleCase, upper, lower', () => {
    expect(titleCase('budi SANTOSO-wijaya')).toBe('Budi Santoso-Wijaya');
    const t = text('{{upper kota}}|{{lower kota}}|{{titleCase kota}}');
    expect(expectOk(t.render({ kota: 'kota BANDUNG' }))).toBe('KOTA BANDUNG|kota bandung|Kota Bandung');
  });

  it('idr and number format the Indonesian way', () => {
    expect(formatIdr('1250000')).toBe('Rp 1.250.000');
    expect(formatNumber('1250')).toBe('1.250');
    expect(formatNumber('3.5')).toBe('3,5');
    const t = text('Total {{idr amount}} untuk {{number qty}} item, skor {{number score 0}}');
    expect(expectOk(t.render({ amount: '1250000', qty: '1250', score: '4.6' }))).toBe('Total Rp 1.250.000 untuk 1.250 item, skor 5');
  });

  it('date formats ISO dates in Indonesian without shifting the day', () => {
    expect(formatDate('2026-12-05', 'd MMMM yyyy')).toBe('5 Desember 2026');
    expect(formatDate('2026-12-05T23:30:00+07:00', 'd MMMM yyyy HH:mm')).toBe('5 Desember 2026 23:30');
    const t = text('Jatuh tempo {{date due "d MMMM yyyy"}} ({{date due "EEEE"}})');
    expect(expectOk(t.render({ due: '2026-12-05' }))).toBe('Jatuh tempo 5 Desember 2026 (Sabtu)');
  });

  it('a bad number or date makes the row invalid naming the helper and the variable, never throws', () => {
    const t = text('Hi {{nama}}: {{idr amount}} by {{date due}}');
    const badNumber = expectInvalid(t.render({ nama: 'A', amount: '1.250.000', due: '2026-12-05' }));
    expect(badNumber.variable).toBe('amount');
    expect(badNumber.reason).toMatch(/^\{\{idr amount\}\}: "1\.250\.000" is not a plain number/);
    const badDate = expectInvalid(t.render({ nama: 'A', amount: '5', due: '05/12/2026' }));
    expect(badDate.variable).toBe('due');
    expect(badDate.reason).toBe('{{date due}}: "05/12/2026" is not an ISO date (expected yyyy-mm-dd, e.g. 2026-12-05)');
  });

  it('names the right variable when the same helper is used twice, also inside a subexpression', () => {
    const t = text('{{idr a}}\n{{upper (idr b)}}');
    const r = expectInvalid(t.render({ a: '10', b: 'abc' }));
    expect(r.variable).toBe('b');
    expect(r.reason).toContain('{{idr b}}');
  });
});

describe('length limits', () => {
  it('refuses a text over 4,096 characters and a caption over 1,024, counting emoji as one', () => {
    expect(messageLength('👋🏽 a')).toBe(4); // waving hand + skin tone modifier are two code points
    const t = text('{{body}}');
    expect(expectOk(t.render({ body: '👋'.repeat(TEXT_MAX_CHARS) })).length).toBe(TEXT_MAX_CHARS * 2);
    const over = expectInvalid(t.render({ body: 'x'.repeat(5012) }));
    expect(over.reason).toBe('message is 5,012 characters; the limit for text is 4,096');
    const caption = compileMessageTemplate('{{body}}', { name: 'c.hbs', type: 'image' });
    expect(caption.maxLength).toBe(CAPTION_MAX_CHARS);
    expect(expectInvalid(caption.render({ body: 'y'.repeat(1025) })).reason).toBe('caption is 1,025 characters; the limit for a caption is 1,024');
    expect(expectOk(caption.render({ body: 'y'.repeat(1024) })).length).toBe(1024);
  });

  it('an empty text message is invalid; an empty caption is fine', () => {
    expect(expectInvalid(text('{{#if x}}{{x}}{{/if}}').render({ x: '' })).reason).toBe('the message is empty after rendering');
    expect(expectOk(compileMessageTemplate('{{#if x}}{{x}}{{/if}}', { name: 'c', type: 'document' }).render({ x: '' }))).toBe('');
  });
});

describe('template errors', () => {
  it('a syntax error names the file, line and column', () => {
    const e = templateError(() => text('Halo {{nama}},\nTotal: {{idr total}\n'));
    expect(e.file).toBe('test.hbs');
    expect(e.line).toBe(2);
    expect(e.column).toBeGreaterThan(1);
    expect(e.message).toMatch(/^test\.hbs: line 2, column \d+: template syntax error: a malformed \{\{ \}\} tag/);
    expect(e.hint).toContain('every {{ needs }}');
  });

  it('an unclosed or mismatched block is explained', () => {
    expect(templateError(() => text('a\n{{#if x}}b')).message).toContain('{{#if}} without {{/if}}');
    const mismatch = templateError(() => text('{{#if x}}\nb{{/unless}}'));
    expect(mismatch.message).toBe('test.hbs: line 1, column 4: template syntax error: {{#if}} opened here is closed by {{/unless}}');
    expect(mismatch.line).toBe(1);
  });

  it('an unknown helper is refused at compile time with the list of helpers', () => {
    const e = templateError(() => text('Halo\n  {{rupiah total}}'));
    expect(e.message).toBe('test.hbs: line 2, column 3: unknown helper "rupiah" in {{rupiah total}}');
    expect(e.hint).toContain('default, titleCase, upper, lower, idr, number, date');
    expect(e.hint).toContain('{{[rupiah total]}}');
  });

  it('refuses what a flat CSV row cannot feed', () => {
    expect(templateError(() => text('{{#each items}}x{{/each}}')).message).toContain('{{#each}} blocks are not supported');
    expect(templateError(() => text('{{> footer}}')).message).toContain('partials');
    expect(templateError(() => text('{{@index}}')).message).toContain('{{@index}} is not available');
    expect(templateError(() => text('{{user.name}}')).hint).toContain('{{[user.name]}}');
    expect(templateError(() => text('{{date}}')).hint).toContain('{{this.date}}');
  });

  it('never prints: the log helper is not available', () => {
    expect(templateError(() => text('{{log nama}}')).message).toContain('unknown helper "log"');
  });
});

describe('compilePayloadTemplate', () => {
  it('renders templated string values anywhere inside, keeps everything else', () => {
    const p = compilePayloadTemplate(
      { campaign: 'promo', ref: '{{customer_id}}', nested: { city: '{{default kota "-"}}', tags: ['x', '{{upper tier}}'], n: 3, ok: true } },
      { name: 'campaigns/x.yaml' },
    );
    expect([...p.variables].sort()).toEqual(['customer_id', 'kota', 'tier']);
    const r = p.render({ customer_id: 'C-1', kota: '', tier: 'gold' });
    expect(r).toEqual({ ok: true, payload: { campaign: 'promo', ref: 'C-1', nested: { city: '-', tags: ['x', 'GOLD'], n: 3, ok: true } } });
  });

  it('a missing value names the payload key and the variable', () => {
    const p = compilePayloadTemplate({ utm: { content: '{{kota}}' } }, { name: 'campaigns/x.yaml' });
    const r = p.render({ kota: '' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toBe('payload.utm.content: missing value for {{kota}}');
      expect(r.key).toBe('payload.utm.content');
      expect(r.variable).toBe('kota');
    }
  });

  it('a payload without templates is returned as one frozen object', () => {
    const p = compilePayloadTemplate({ a: 1, b: { c: 'x' } }, { name: 'c' });
    const first = p.render({});
    const second = p.render({ any: 'thing' });
    expect(first.ok && second.ok && first.payload === second.payload).toBe(true);
    expect(first.ok && Object.isFrozen(first.payload)).toBe(true);
  });

  it('a syntax error in a payload string names the key', () => {
    const e = templateError(() => compilePayloadTemplate({ ref: '{{id' }, { name: 'campaigns/x.yaml' }));
    expect(e.message).toMatch(/^campaigns\/x\.yaml: payload\.ref: line 1, column \d+: template syntax error/);
  });
});

describe('pick: a wording per recipient, the same on every render of that recipient', () => {
  const greet = text('{{pick "Halo" "Hai" "Selamat siang"}} {{nama}}, {{pick "terima kasih" "makasih"}}!');
  const seeds = Array.from({ length: 3000 }, (_, i) => `rkb-${i.toString(16).padStart(40, '0')}`);

  it('is a pure function of the seed (the request id): the same seed always gives the same text', () => {
    for (const seed of seeds.slice(0, 50)) {
      expect(expectOk(greet.render({ nama: 'Budi' }, seed))).toBe(expectOk(greet.render({ nama: 'Budi' }, seed)));
    }
    // And of nothing else: a recompiled template (another process) chooses the same.
    const again = text('{{pick "Halo" "Hai" "Selamat siang"}} {{nama}}, {{pick "terima kasih" "makasih"}}!');
    for (const seed of seeds.slice(0, 50)) expect(expectOk(again.render({ nama: 'Budi' }, seed))).toBe(expectOk(greet.render({ nama: 'Budi' }, seed)));
  });

  it('spreads recipients evenly over the choices, and two picks in one template choose independently', () => {
    const joint = new Map<string, number>();
    for (const seed of seeds) {
      const out = expectOk(greet.render({ nama: 'Budi' }, seed));
      const first = /^(Halo|Hai|Selamat siang) /.exec(out)![1]!;
      const second = /, (terima kasih|makasih)!$/.exec(out)![1]!;
      joint.set(`${first}|${second}`, (joint.get(`${first}|${second}`) ?? 0) + 1);
    }
    expect(joint.size).toBe(6);
    // Each of the 6 combinations should hold 1/6 of 3000 = 500; binomial sd ≈ 20.
    for (const n of joint.values()) expect(Math.abs(n - 500)).toBeLessThan(100);
  });

  it('takes columns as choices, and refuses a pick with fewer than two choices at compile time', () => {
    const t = text('{{pick sapaan "Halo"}} {{nama}}');
    const outs = new Set(seeds.slice(0, 40).map((s) => expectOk(t.render({ sapaan: 'Dear', nama: 'Ani' }, s))));
    expect(outs).toEqual(new Set(['Dear Ani', 'Halo Ani']));
    expect(templateError(() => text('{{pick "Halo"}}')).message).toContain('{{pick}} needs at least two choices');
  });
});
