import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseConfig, type ArrayConfig } from '../../src/shared/config/config.ts';
import { ConfigError } from '../../src/shared/errors/errors.ts';

const fig2 = (): any => JSON.parse(readFileSync('examples/fig2.json', 'utf8'));

function refusal(raw: unknown, running?: ArrayConfig): string[] {
  try {
    parseConfig(raw, { running });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('configuration was accepted');
}

describe('configuration refusals name the field and the reason', () => {
  it('accepts the examples', () => {
    expect(parseConfig(fig2()).devices.map((d) => d.id)).toEqual(['LD1', 'LD2', 'META1', 'BCV1', 'BCV2']);
  });

  it('stripe arithmetic', () => {
    const c = fig2();
    c.devices[1].cylinders = 13;
    expect(refusal(c)).toContain('devices[1].cylinders: 13 is not a multiple of stripeCylinders × members (3)');
  });

  it('unknown drive ids', () => {
    const c = fig2();
    c.diskAdapters[0].drives.push('99');
    c.devices[0].members[0].drive = '98';
    const p = refusal(c);
    expect(p).toContain('diskAdapters[0].drives[2]: unknown drive id "99"');
    expect(p).toContain('devices[0].members[0].drive: unknown drive id "98"');
  });

  it('a drive owned by two adapters or by none', () => {
    const c = fig2();
    c.diskAdapters[1].drives.push('31');
    c.diskAdapters[3].drives = [];
    const p = refusal(c);
    expect(p).toContain('diskAdapters[1].drives[2]: drive "31" is already owned by adapter "DA30"');
    expect(p).toContain('drives[3]: drive "37" is owned by no disk adapter');
    expect(p).toContain('drives[7]: drive "49" is owned by no disk adapter');
  });

  it('extents past a drive end', () => {
    const c = fig2();
    c.devices[1].members[2].startCylinder = 7;
    expect(refusal(c).join('\n')).toMatch(
      /devices\[1\]\.members\[2\]: extent cylinders 7\.\.8 runs past the end of drive "35" \(8 cylinders\)/,
    );
  });

  it('extents of two devices overlapping', () => {
    const c = fig2();
    c.devices[1].members[0].startCylinder = 3;
    expect(refusal(c).join('\n')).toMatch(
      /devices\[1\]\.members\[0\]: extent 3\.\.4 of "LD2" overlaps 0\.\.3 of "LD1" on drive "31"/,
    );
  });

  it('a BCV whose member sizes or count differ from its device', () => {
    const c = fig2();
    c.devices[3].members[1].cylinders = 3;
    expect(refusal(c)).toContain('devices[3].members[1].cylinders: 3 differs from the paired member of "LD1" (4)');
    const d = fig2();
    d.devices[3].members.pop();
    expect(refusal(d).join('\n')).toMatch(/devices\[3\]\.members: BCV "BCV1" has 2 members but "LD1" has 3/);
  });

  it('schema problems: wrong types, unknown fields, unknown layout', () => {
    const c = fig2();
    c.geometry.trackBytes = 1000;
    c.cache.slots = 'many';
    c.devices[0].colour = 'red';
    c.devices[2].layout = 'raid5';
    const p = refusal(c).join('\n');
    expect(p).toMatch(/geometry\.trackBytes: must be a multiple of 512/);
    expect(p).toMatch(/cache\.slots: /);
    expect(p).toMatch(/devices\[0\]: .*colour/);
    expect(p).toMatch(/devices\[2\]\.layout: /);
  });

  it('checks a reconfiguration target BCV against the running configuration', () => {
    const running = parseConfig(fig2());
    const t = fig2();
    t.devices[0].cylinders = 16;
    t.devices[0].members.push({ drive: '37', startCylinder: 0 });
    expect(parseConfig(t, { running }).devices[0]!.members).toHaveLength(4);
    expect(refusal(t).join('\n')).toMatch(/BCV "BCV1" has 3 members but "LD1" has 4.*--to/);
  });
});
