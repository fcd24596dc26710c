// A module loaded into a host adapter's thread from outside the actors' bundle (TypeScript, so the
// thread must register a loader for it first): it says who it runs beside and echoes its data.
import type { ExtensionContext } from '../../src/shared/links/actor.ts';
import { ArrayError } from '../../src/shared/errors/errors.ts';

export function extend(ctx: ExtensionContext): void {
  ctx.port.postMessage({ t: 'hello', name: ctx.name, data: ctx.data, made: new ArrayError('USAGE', 'x').code });
}
