// `layout` and `validate`: a device's cylinders per drive (and the transfer plan to a target), and a
// configuration checked without running it.
// The configuration's schema (zod) is imported when a command reads a file, not at start-up.
import { Command } from 'commander';
import { cylinderName, deviceLayout, transferPlan } from '../../shared/layout/layout.ts';
import { ArrayError } from '../../shared/errors/errors.ts';
import { print } from '../args.ts';

export async function layoutCommand(opts: {
  config: string;
  device: string;
  to?: string;
  json?: boolean;
}): Promise<void> {
  const { loadConfig } = await import('../../shared/config/config.ts');
  const running = loadConfig(opts.config);
  const target = opts.to ? loadConfig(opts.to, { running }) : undefined;
  const show = target ?? running;
  const layout = deviceLayout(show, opts.device, running);
  const drives = Object.fromEntries([...layout.cylindersByDrive()].map(([d, cs]) => [d, cs.map(cylinderName)]));
  const out: Record<string, unknown> = {
    device: layout.deviceId,
    layout: layout.kind,
    ...(layout.kind === 'striped' ? { stripeCylinders: layout.stripeCylinders } : {}),
    cylinders: layout.cylinders,
    drives,
    ...(layout.mirrors.length > 0
      ? {
          mirrors: layout.mirrors.map((m, i) => ({
            mirror: i + 2,
            drives: Object.fromEntries([...m.cylindersByDrive()].map(([d, cs]) => [d, cs.map(cylinderName)])),
          })),
        }
      : {}),
  };
  let plan: ReturnType<typeof transferPlan> | undefined;
  if (target) {
    const bcv = running.devices.find((d) => d.layout === 'bcv' && d.of === opts.device);
    if (!bcv) throw new ArrayError('CONFIG', `${opts.config}: device "${opts.device}" has no BCV to restripe through`);
    plan = transferPlan(deviceLayout(running, opts.device), deviceLayout(running, bcv.id), layout);
    out.from = {
      stripeCylinders: deviceLayout(running, opts.device).stripeCylinders,
      cylinders: deviceLayout(running, opts.device).cylinders,
    };
    out.transfer = plan;
  }
  print(!!opts.json, out, () => {
    const lines = [
      `${layout.deviceId}: ${layout.kind}, ${layout.cylinders} cylinders${layout.kind === 'striped' ? `, stripe ${layout.stripeCylinders} cylinder(s)` : ''}`,
    ];
    const width = Math.max(...Object.values(drives).map((c) => c.length));
    lines.push(`  drive  ${Array.from({ length: width }, (_, i) => `row${i}`.padEnd(5)).join('')}`);
    for (const [d, cs] of Object.entries(drives)) lines.push(`  ${d.padEnd(6)} ${cs.map((c) => c.padEnd(5)).join('')}`);
    layout.mirrors.forEach((m, i) => {
      lines.push(`  mirror ${i + 2} (each cylinder also on):`);
      for (const [d, cs] of m.cylindersByDrive())
        lines.push(`  ${d.padEnd(6)} ${cs.map((c) => cylinderName(c).padEnd(5)).join('')}`);
    });
    if (plan) {
      lines.push('', '  transfer plan (drive:cylinder)  original → BCV → new');
      for (const r of plan)
        lines.push(
          `  ${r.cylinder.padEnd(4)} ${r.from.padEnd(7)} → ${r.bcv.padEnd(7)} → ${r.to}${r.moves ? '' : '   (stays)'}`,
        );
    }
    return lines.join('\n');
  });
}

export function addLayoutCommand(program: Command): void {
  program
    .command('layout')
    .description(
      "print a device's cylinders per drive in physical order (the patent's FIG. 8/9 tables); with --to, the new layout and the transfer plan",
    )
    .requiredOption('--config <file>', 'the array configuration (running configuration)')
    .requiredOption('--device <id>', 'the logical device')
    .option('--to <file>', 'a reconfiguration target: show its layout and the transfer plan')
    .option('--json', 'machine-readable output')
    .action(async (o) => layoutCommand(o));
}

export function addValidateCommand(program: Command): void {
  program
    .command('validate')
    .description('check a configuration file (and a reconfiguration target against it)')
    .requiredOption('--config <file>', 'the array configuration')
    .option('--to <file>', 'a reconfiguration target to check against --config')
    .option('--json', 'machine-readable output')
    .action(async (o: { config: string; to?: string; json?: boolean }) => {
      const { loadConfig } = await import('../../shared/config/config.ts');
      const running = loadConfig(o.config);
      if (o.to) loadConfig(o.to, { running });
      print(!!o.json, { ok: true, devices: running.devices.map((d) => d.id) }, () =>
        o.to ? `OK: ${o.config} and ${o.to} are valid` : `OK: ${o.config} is valid`,
      );
    });
}
