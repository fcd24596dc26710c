// POST /v1/plans: `arrayemu plan` against the running configuration, from the control API. The
// body names the target and, as the CLI's options do, the drive model, the host load and the seed;
// the plan runs in a thread of its own (lab/plan-thread.ts), never on the array's clock.
import { z } from 'zod';
import type { ArrayConfig } from '../../shared/config/config.ts';
import { formatPath } from '../../shared/config/config.ts';
import { SWEEP_WORKLOADS } from '../../lab/sweep-types.ts';
import { planInThread } from '../../lab/plan-thread.ts';
import type { PlanResult } from '../../lab/plan.ts';

const PlanBody = z.strictObject({
  /** The target configuration (one device changed), checked by the planner field by field. */
  to: z.record(z.string(), z.unknown(), { error: 'must be the target configuration (an object)' }),
  driveModel: z.string({ error: 'must be a preset name' }).optional(),
  load: z
    .enum(['none', ...SWEEP_WORKLOADS], { error: `must be none or one of ${SWEEP_WORKLOADS.join(', ')}` })
    .default('none'),
  blockBytes: z
    .number({ error: 'must be a number' })
    .int('must be whole bytes')
    .min(512, 'must be at least 512')
    .max(64 << 20, 'must be at most 64 MiB')
    .refine((n) => n % 512 === 0, 'must be a multiple of 512')
    .default(4096),
  queueDepth: z.number({ error: 'must be a number' }).int('must be whole').min(1).max(4096).default(16),
  seconds: z.number({ error: 'must be a number' }).min(0.01).max(600).default(1),
  seed: z.number({ error: 'must be a number' }).int('must be whole').min(0).default(1),
});

/** The body checked (a 400 naming each bad field, through `refuse`), then the plan against `running`. */
export async function planFromBody(
  running: ArrayConfig,
  body: unknown,
  refuse: (message: string) => Error,
): Promise<PlanResult> {
  const parsed = PlanBody.safeParse(body);
  if (!parsed.success) throw refuse(parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; '));
  const b = parsed.data;
  return planInThread({
    running,
    target: b.to,
    driveModel: b.driveModel,
    load:
      b.load === 'none'
        ? undefined
        : { workload: b.load, blockBytes: b.blockBytes, queueDepth: b.queueDepth, seconds: b.seconds },
    seed: b.seed,
  });
}
