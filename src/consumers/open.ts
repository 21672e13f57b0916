import type { Consumer, ConsumerOptions, Context } from '../ports.js';
import { specOf, type ConsumerRecord } from '../domain/consumer.js';
import { resolveRegion } from '../domain/region.js';
import { AwsError } from '../errors.js';
import { execConsumer } from './exec.js';
import { datablastConsumer } from './datablast.js';
import { secretsManagerConsumer } from './aws-secrets-manager.js';
import { clipboardTool, copyWith, osc52 } from './clipboard.js';
import { processTerminal } from '../ui/terminal.js';

/** Variables a clipboard program may need to find the session's clipboard; nothing else of ours reaches it. */
const CLIPBOARD_ENV = ['PATH', 'HOME', 'LANG', 'DISPLAY', 'XAUTHORITY', 'WAYLAND_DISPLAY', 'XDG_RUNTIME_DIR'];

/** Builds the consumer a connection's record describes, over the context's ports. */
export function openConsumer(ctx: Context, record: ConsumerRecord, options: ConsumerOptions = {}): Consumer {
  const spec = specOf(record);
  switch (spec.kind) {
    case 'exec':
      return execConsumer(spec.command, {
        env: ctx.env,
        ...(options.execTimeoutMs !== undefined ? { timeoutMs: options.execTimeoutMs } : {}),
      });
    case 'aws-secrets-manager':
      return secretsManagerConsumer(
        spec.secretId,
        { kmsKeyId: record.kmsKeyId },
        {
          secretsManager: async () => {
            const session = await (await ctx.aws()).admin();
            if (!session.secretsManager)
              throw new AwsError('this build has no AWS Secrets Manager gateway', { hint: 'Report it as a bug.' });
            const region = record.region ?? resolveRegion({ flag: ctx.globals.region, env: ctx.env }).region;
            return session.secretsManager(region);
          },
        },
      );
    case 'datablast':
      return datablastConsumer({
        interactive: ctx.globals.input && ctx.io.stdinIsTTY && ctx.io.stderrIsTTY,
        terminal: processTerminal,
        prompter: () => ctx.prompter(),
        copy: async (secret) => {
          const tool = clipboardTool(ctx.env);
          if (tool) {
            const env: Record<string, string> = {};
            for (const name of CLIPBOARD_ENV) if (ctx.env[name] !== undefined) env[name] = ctx.env[name];
            if (await copyWith(tool, secret, env)) return tool.command;
          }
          // The terminal's own clipboard (OSC 52): most terminals and tmux honour it, some ignore it silently.
          processTerminal().write(osc52(secret));
          return 'your terminal (OSC 52; if pasting gives nothing, press s instead)';
        },
      });
  }
}
