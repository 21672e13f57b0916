import type { Command, Option } from 'commander';
import { createCommand, createArgument, createHelp } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { UsageError } from '../errors.js';
import { SERVICES } from '../domain/policies.js';
import { present } from '../ui/output.js';

/** The shells we write completion scripts for. */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;

/** One of SHELLS. */
export type Shell = (typeof SHELLS)[number];

/** The options of `completion SHELL`: the shell, and the command tree to complete (read from Commander). */
export interface CompletionOptions {
  shell: string;
  program: ProgramSpec;
}

/** The script, printed as is (under --json, inside `{shell, script}`). */
export interface CompletionResult {
  shell: Shell;
  script: string;
}

/** What a flag's value completes to. */
export type ValueKind =
  { kind: 'none' } | { kind: 'words'; words: string[] } | { kind: 'connection' } | { kind: 'file' };

/** A visible flag, as the completion scripts need it. */
export interface FlagSpec {
  /** `--json`, `--no-input`, `-V`...: the long name first. */
  names: string[];
  description: string;
  /** True when the next word is this flag's value. */
  takesValue: boolean;
  value: ValueKind;
}

/** A visible command. */
export interface CommandSpec {
  name: string;
  description: string;
  /** The command's own flags (not the global ones). */
  flags: FlagSpec[];
  /** Positional arguments, e.g. `<name>`, `[name]`. */
  args: Array<{ name: string; required: boolean }>;
  /** What the first positional argument completes to: a connection name (an argument called `name`), its choices, or nothing. */
  firstArgument: ValueKind;
}

/** The whole visible tree: the global flags (accepted before or after any command) and every command. */
export interface ProgramSpec {
  name: string;
  description: string;
  globalFlags: FlagSpec[];
  commands: CommandSpec[];
}

/**
 * Reads the visible commands and flags from the Commander tree, the one source of truth for
 * completion, the help test and the README's command reference.
 */
export function programSpec(program: Command): ProgramSpec {
  const help = createHelp();
  const flagSpec = (option: Option): FlagSpec => ({
    names: [option.long, option.short].filter((n): n is string => Boolean(n)),
    description: option.description,
    takesValue: option.required,
    value: valueKind(option),
  });
  const globalFlags = help.visibleOptions(program).map(flagSpec);
  const isGlobal = new Set(globalFlags.flatMap((g) => g.names));
  return {
    name: program.name(),
    description: program.description(),
    globalFlags,
    commands: help.visibleCommands(program).map((command) => {
      const first = command.registeredArguments[0];
      const firstArgument: ValueKind =
        first?.name() === 'name'
          ? { kind: 'connection' }
          : first?.argChoices
            ? { kind: 'words', words: [...first.argChoices] }
            : { kind: 'none' };
      return {
        name: command.name(),
        description: command.description(),
        // -h, --help is every command's and already among the global flags.
        flags: help
          .visibleOptions(command)
          .map(flagSpec)
          .filter((f) => !f.names.every((n) => isGlobal.has(n))),
        args: command.registeredArguments.map((a) => ({ name: a.name(), required: a.required })),
        firstArgument,
      };
    }),
  };
}

function valueKind(option: Option): ValueKind {
  if (!option.required) return { kind: 'none' };
  if (option.argChoices) return { kind: 'words', words: [...option.argChoices] };
  if (option.long === '--connection') return { kind: 'connection' };
  if (option.long === '--service') return { kind: 'words', words: [...SERVICES] };
  if (/<file>/.test(option.flags)) return { kind: 'file' };
  return { kind: 'none' };
}

/** Commander wiring of `completion`. */
export function completionCommand(
  ctx: Context,
  run: (ctx: Context, opts: CompletionOptions) => Promise<CompletionResult> = completion,
): Command {
  return createCommand('completion')
    .description('Print a completion script for bash, zsh or fish: commands, flags and connection names.')
    .addArgument(createArgument('<shell>', 'the shell').choices(SHELLS))
    .addHelpText(
      'after',
      `
Connection names are read when you press Tab (from the metadata only: no secret, no AWS call).

Examples:
  $ eval "$(datablast-aws completion bash)"                 # in ~/.bashrc
  $ eval "$(datablast-aws completion zsh)"                  # in ~/.zshrc, after compinit
  $ datablast-aws completion fish > ~/.config/fish/completions/datablast-aws.fish
`,
    )
    .action(async (shell: string, _flags: unknown, command: Command) => {
      let root = command;
      while (root.parent) root = root.parent;
      present(ctx, await run(ctx, { shell, program: programSpec(root) }), renderCompletion);
    });
}

/** Writes the script for the shell. */
export async function completion(_ctx: Context, opts: CompletionOptions): Promise<CompletionResult> {
  const shell = opts.shell.toLowerCase();
  if (!(SHELLS as readonly string[]).includes(shell)) {
    throw new UsageError(
      `unknown shell ${JSON.stringify(opts.shell)}: completion scripts exist for bash, zsh and fish`,
      {
        hint: 'Run `datablast-aws completion bash`, `datablast-aws completion zsh` or `datablast-aws completion fish`.',
      },
    );
  }
  const script =
    shell === 'bash' ? bashScript(opts.program) : shell === 'zsh' ? zshScript(opts.program) : fishScript(opts.program);
  return { shell: shell as Shell, script };
}

/** Prints the script exactly. */
export function renderCompletion(result: CompletionResult, io: IO): void {
  io.out(result.script);
}

/** The options of the hidden `__complete` command that the scripts call. */
export interface CompleteOptions {
  what: string;
}

/**
 * Hidden: `__complete connections` prints the connection names, one a line (names never hold a line
 * break). Reads the metadata only, so Tab never touches the keychain or AWS.
 */
export function completeCommand(
  ctx: Context,
  run: (ctx: Context, opts: CompleteOptions) => Promise<string[]> = complete,
): Command {
  return createCommand('__complete')
    .description('print completion candidates (used by the completion scripts)')
    .argument('<what>', 'connections')
    .action(async (what: string) => {
      for (const name of await run(ctx, { what })) ctx.io.out(`${name}\n`);
    });
}

/** The candidates of `__complete`. */
export async function complete(ctx: Context, opts: CompleteOptions): Promise<string[]> {
  if (opts.what !== 'connections')
    throw new UsageError(`__complete: unknown list ${JSON.stringify(opts.what)}`, {
      hint: 'Only `connections` exists.',
    });
  return (await (await ctx.connections()).list()).map((c) => c.name).sort();
}

// ---------------------------------------------------------------------------------------------
// The scripts. Each finds the command word by skipping flags and the values of value-taking flags,
// then completes: a flag's value, a flag, a command, or the connection name of a command whose
// first argument is a connection. The tree is written into the script; names are asked for live.

/** The shell function names are derived from the program name (`datablast-aws` → `_datablast_aws`). */
function fn(spec: ProgramSpec, suffix = ''): string {
  return `_${spec.name.replace(/[^A-Za-z0-9]/g, '_')}${suffix}`;
}

function flagNames(flags: FlagSpec[]): string[] {
  return flags.flatMap((f) => f.names);
}

function valueFlags(flags: FlagSpec[]): string[] {
  return flags.filter((f) => f.takesValue).flatMap((f) => f.names);
}

/** The first sentence of a description, at most 80 characters, for the shells that show descriptions. */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const sentence = (/^(.*?)\.\s+[A-Z]/.exec(flat)?.[1] ?? flat).replace(/\.$/, '');
  return sentence.length > 80 ? `${sentence.slice(0, 77)}...` : sentence;
}

/** A case pattern matching any of the words (all words here are flag or command names: no quoting needed). */
function pattern(words: string[]): string {
  return words.length ? words.join('|') : '__none__';
}

function sq(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function bashScript(spec: ProgramSpec): string {
  const f = fn(spec);
  const globals = spec.globalFlags;
  const lines: string[] = [];
  lines.push(
    `# bash completion for ${spec.name}: commands, flags and connection names.`,
    `# Load it in ~/.bashrc with: eval "$(${spec.name} completion bash)"`,
    `# or save it as /etc/bash_completion.d/${spec.name}.`,
    '',
    `${f}_takes_value() { # COMMAND FLAG: true when FLAG is followed by its value`,
    `  case "$2" in ${pattern(valueFlags(globals))}) return 0 ;; esac`,
    '  case "$1" in',
    ...spec.commands
      .filter((c) => valueFlags(c.flags).length)
      .map((c) => `    ${c.name}) case "$2" in ${pattern(valueFlags(c.flags))}) return 0 ;; esac ;;`),
    '  esac',
    '  return 1',
    '}',
    '',
    `${f}_connections() { # CURRENT-WORD: connection names that start with it, quoted for the command line`,
    '  local cur="$1" prefix name quote=""',
    '  case "$cur" in',
    `    \\"*|\\'*) quote="\${cur:0:1}"; prefix="\${cur:1}" ;;`,
    `    *) prefix="\${cur//\\\\/}" ;;`,
    '  esac',
    '  while IFS= read -r name; do',
    '    [[ -n "$name" && "$name" == "$prefix"* ]] || continue',
    // Readline inserts a candidate after the quote the user opened: escape it for that quote, or a
    // name such as `Team $(touch X)` runs its command when Enter is pressed. Readline closes the quote
    // after a single match unless the text already ends with that quote character: then close it here.
    `    case "$quote" in`,
    `      \\") ${f}_double_quoted "$name" ;;`,
    `      \\') name="\${name//\\'/\\'\\\\\\'\\'}"; [[ "$name" == *\\' ]] && name+="'"; COMPREPLY+=("$name") ;;`,
    `      *) COMPREPLY+=("$(printf '%q' "$name")") ;;`,
    '    esac',
    `  done < <(command ${spec.name} __complete connections 2>/dev/null)`,
    '}',
    '',
    `${f}_double_quoted() { # NAME: added to COMPREPLY as the inside of a double-quoted word`,
    '  local s="$1" out="" c i',
    '  for (( i = 0; i < ${#s}; i++ )); do',
    '    c="${s:i:1}"',
    '    case "$c" in',
    // `\!` keeps its backslash inside double quotes, so `!` (history expansion) leaves the quotes instead.
    `      [\\\\\\$\\\`\\"]) out+="\\\\$c" ;;`,
    `      !) out+="\\"'!'\\"" ;;`,
    '      *) out+="$c" ;;',
    '    esac',
    '  done',
    `  [[ "$out" == *\\" ]] && out+='"'`,
    '  COMPREPLY+=("$out")',
    '}',
    '',
    `${f}() {`,
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="" cmd="" i w positional=0',
    '  (( COMP_CWORD > 0 )) && prev="${COMP_WORDS[COMP_CWORD-1]}"',
    '  COMPREPLY=()',
    '  for (( i = 1; i < COMP_CWORD; i++ )); do',
    '    w="${COMP_WORDS[i]}"',
    '    if [[ "$w" == -* ]]; then',
    `      ${f}_takes_value "$cmd" "$w" && i=$(( i + 1 ))`,
    '    elif [[ -z "$cmd" ]]; then',
    '      cmd="$w"',
    '    else',
    '      positional=$(( positional + 1 ))',
    '    fi',
    '  done',
    `  if (( COMP_CWORD > 1 )) && [[ "$prev" == -* ]] && ${f}_takes_value "$cmd" "$prev"; then`,
    '    case "$prev" in',
    ...valueCases(spec, 'bash'),
    '    esac',
    '    return 0',
    '  fi',
    '  if [[ "$cur" == -* ]]; then',
    '    case "$cmd" in',
    ...spec.commands.map(
      (c) =>
        `      ${c.name}) COMPREPLY=($(compgen -W ${sq(flagNames([...c.flags, ...globals]).join(' '))} -- "$cur")) ;;`,
    ),
    `      *) COMPREPLY=($(compgen -W ${sq(flagNames(globals).join(' '))} -- "$cur")) ;;`,
    '    esac',
    '    return 0',
    '  fi',
    '  if [[ -z "$cmd" ]]; then',
    `    COMPREPLY=($(compgen -W ${sq(spec.commands.map((c) => c.name).join(' '))} -- "$cur"))`,
    '    return 0',
    '  fi',
    '  (( positional == 0 )) || return 0',
    '  case "$cmd" in',
    ...argumentCases(spec, 'bash'),
    '  esac',
    '  return 0',
    '}',
    '',
    `complete -F ${f} ${spec.name}`,
    '',
  );
  return lines.join('\n');
}

/** `case "$prev"` arms (bash) for flags whose value can be completed. */
function valueCases(spec: ProgramSpec, shell: 'bash' | 'zsh'): string[] {
  const byKind = new Map<string, { names: Set<string>; body: string }>();
  for (const flag of [...spec.globalFlags, ...spec.commands.flatMap((c) => c.flags)]) {
    if (!flag.takesValue || flag.value.kind === 'none') continue;
    const body = valueBody(spec, flag.value, shell);
    const entry = byKind.get(body) ?? { names: new Set<string>(), body };
    flag.names.forEach((n) => entry.names.add(n));
    byKind.set(body, entry);
  }
  return [...byKind.values()].map((e) => `      ${[...e.names].join('|')}) ${e.body} ;;`);
}

function valueBody(spec: ProgramSpec, value: ValueKind, shell: 'bash' | 'zsh'): string {
  if (shell === 'bash') {
    if (value.kind === 'connection') return `${fn(spec)}_connections "$cur"`;
    if (value.kind === 'file') return 'compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))';
    if (value.kind === 'words') return `COMPREPLY=($(compgen -W ${sq(value.words.join(' '))} -- "$cur"))`;
    return ':';
  }
  if (value.kind === 'connection') return `${fn(spec)}_connections`;
  if (value.kind === 'file') return '_files';
  if (value.kind === 'words') return `compadd -- ${value.words.map(sq).join(' ')}`;
  return ':';
}

/** `case "$cmd"` arms completing the first positional argument, grouped by what it completes to. */
function argumentCases(spec: ProgramSpec, shell: 'bash' | 'zsh'): string[] {
  const groups = new Map<string, string[]>();
  for (const command of spec.commands) {
    if (command.firstArgument.kind === 'none') continue;
    const body = valueBody(spec, command.firstArgument, shell);
    groups.set(body, [...(groups.get(body) ?? []), command.name]);
  }
  return [...groups].map(([body, names]) =>
    shell === 'bash' ? `    ${names.join('|')}) ${body} ;;` : `    (${names.join('|')}) ${body} ;;`,
  );
}

/** zsh `_describe` entries: `name:description`, with colons in names escaped. */
function describeEntries(items: Array<{ name: string; description: string }>): string {
  return items.map((i) => sq(`${i.name.replace(/:/g, '\\:')}:${oneLine(i.description)}`)).join(' ');
}

function zshScript(spec: ProgramSpec): string {
  const f = fn(spec);
  const globals = spec.globalFlags;
  const flagEntries = (flags: FlagSpec[]) =>
    describeEntries(flags.flatMap((fl) => fl.names.map((name) => ({ name, description: fl.description }))));
  const lines: string[] = [];
  lines.push(
    `#compdef ${spec.name}`,
    `# zsh completion for ${spec.name}: commands, flags and connection names.`,
    `# Load it in ~/.zshrc (after compinit) with: eval "$(${spec.name} completion zsh)"`,
    `# or save it as _${spec.name} in a directory of your $fpath.`,
    '',
    `${f}_takes_value() { # COMMAND FLAG: true when FLAG is followed by its value`,
    `  case "$2" in (${pattern(valueFlags(globals))}) return 0 ;; esac`,
    '  case "$1" in',
    ...spec.commands
      .filter((c) => valueFlags(c.flags).length)
      .map((c) => `    (${c.name}) case "$2" in (${pattern(valueFlags(c.flags))}) return 0 ;; esac ;;`),
    '  esac',
    '  return 1',
    '}',
    '',
    `${f}_connections() {`,
    '  local -a names',
    `  names=("\${(@f)$(command ${spec.name} __complete connections 2>/dev/null)}")`,
    '  names=(${names:#})',
    '  (( ${#names} )) && compadd -a names',
    '}',
    '',
    `${f}() {`,
    '  local cur="${words[CURRENT]}" prev="${words[CURRENT-1]}" cmd="" w',
    '  integer i positional=0',
    '  local -a entries',
    '  for (( i = 2; i < CURRENT; i++ )); do',
    '    w="${words[i]}"',
    '    if [[ "$w" == -* ]]; then',
    `      ${f}_takes_value "$cmd" "$w" && i=$(( i + 1 ))`,
    '    elif [[ -z "$cmd" ]]; then',
    '      cmd="$w"',
    '    else',
    '      positional=$(( positional + 1 ))',
    '    fi',
    '  done',
    `  if (( CURRENT > 2 )) && [[ "$prev" == -* ]] && ${f}_takes_value "$cmd" "$prev"; then`,
    '    case "$prev" in',
    ...valueCases(spec, 'zsh').map((l) => l.replace(/^(\s+)(\S+)\)/, '$1($2)')),
    '    esac',
    '    return 0',
    '  fi',
    '  if [[ "$cur" == -* ]]; then',
    '    case "$cmd" in',
    ...spec.commands.map((c) => `      (${c.name}) entries=(${flagEntries([...c.flags, ...globals])}) ;;`),
    `      (*) entries=(${flagEntries(globals)}) ;;`,
    '    esac',
    "    _describe -t options 'option' entries",
    '    return 0',
    '  fi',
    '  if [[ -z "$cmd" ]]; then',
    `    entries=(${describeEntries(spec.commands)})`,
    `    _describe -t commands '${spec.name} command' entries`,
    '    return 0',
    '  fi',
    '  (( positional == 0 )) || return 0',
    '  case "$cmd" in',
    ...argumentCases(spec, 'zsh'),
    '  esac',
    '  return 0',
    '}',
    '',
    `if [[ "\${funcstack[1]}" == "${f}" ]]; then`,
    `  ${f} "$@"`,
    'else',
    `  compdef ${f} ${spec.name}`,
    'fi',
    '',
  );
  return lines.join('\n');
}

/** A fish single-quoted string: only \\ and \' are special inside. */
function fq(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function fishFlag(spec: ProgramSpec, flag: FlagSpec, condition: string): string {
  const parts = [`complete -c ${spec.name}`];
  if (condition) parts.push(`-n ${fq(condition)}`);
  for (const name of flag.names) parts.push(name.startsWith('--') ? `-l ${name.slice(2)}` : `-s ${name.slice(1)}`);
  if (flag.takesValue) {
    if (flag.value.kind === 'file') parts.push('-r -F');
    else if (flag.value.kind === 'words') parts.push(`-x -a ${fq(flag.value.words.join(' '))}`);
    else if (flag.value.kind === 'connection') parts.push(`-x -a ${fq(`(${fn(spec)}_connections)`)}`);
    else parts.push('-x');
  }
  parts.push(`-d ${fq(oneLine(flag.description))}`);
  return parts.join(' ');
}

function fishArgument(spec: ProgramSpec, command: CommandSpec): string[] {
  const condition = `-n ${fq(`${fn(spec)}_wants_argument ${command.name}`)}`;
  if (command.firstArgument.kind === 'connection')
    return [`complete -c ${spec.name} ${condition} -a ${fq(`(${fn(spec)}_connections)`)}`];
  if (command.firstArgument.kind === 'words')
    return [`complete -c ${spec.name} ${condition} -a ${fq(command.firstArgument.words.join(' '))}`];
  return [];
}

function fishScript(spec: ProgramSpec): string {
  const f = fn(spec);
  const c = spec.name;
  const globals = spec.globalFlags;
  const lines: string[] = [];
  lines.push(
    `# fish completion for ${c}: commands, flags and connection names.`,
    `# Load it with: ${c} completion fish | source`,
    `# or save it as ~/.config/fish/completions/${c}.fish.`,
    '',
    `complete -c ${c} -e`,
    `complete -c ${c} -f`,
    '',
    `function ${f}_takes_value --argument-names command flag`,
    `    contains -- $flag ${valueFlags(globals).join(' ')}; and return 0`,
    '    switch $command',
    ...spec.commands
      .filter((x) => valueFlags(x.flags).length)
      .flatMap((x) => [
        `        case ${x.name}`,
        `            contains -- $flag ${valueFlags(x.flags).join(' ')}; and return 0`,
      ]),
    '    end',
    '    return 1',
    'end',
    '',
    `# Prints the command word and how many positional arguments follow it (before the cursor).`,
    `function ${f}_state`,
    '    set -l words (commandline -opc)',
    '    set -e words[1]',
    "    set -l cmd ''",
    '    set -l positional 0',
    '    set -l skip 0',
    '    for w in $words',
    '        if test $skip = 1',
    '            set skip 0',
    '        else if string match -q -- "-*" $w',
    `            ${f}_takes_value "$cmd" $w; and set skip 1`,
    '        else if test -z "$cmd"',
    '            set cmd $w',
    '        else',
    '            set positional (math $positional + 1)',
    '        end',
    '    end',
    '    echo $cmd',
    '    echo $positional',
    'end',
    '',
    `function ${f}_needs_command`,
    `    set -l state (${f}_state)`,
    '    test -z "$state[1]"',
    'end',
    '',
    `function ${f}_using --argument-names command`,
    `    set -l state (${f}_state)`,
    '    test "$state[1]" = "$command"',
    'end',
    '',
    `function ${f}_wants_argument --argument-names command`,
    `    set -l state (${f}_state)`,
    '    test "$state[1]" = "$command"; and test "$state[2]" = 0',
    'end',
    '',
    `function ${f}_connections`,
    `    command ${c} __complete connections 2>/dev/null`,
    'end',
    '',
    '# Commands',
    ...spec.commands.map(
      (x) => `complete -c ${c} -n ${fq(`${f}_needs_command`)} -a ${x.name} -d ${fq(oneLine(x.description))}`,
    ),
    '',
    '# Global flags (before or after the command)',
    ...globals.map((g) => fishFlag(spec, g, '')),
    '',
    '# Flags and arguments of each command',
    ...spec.commands.flatMap((x) => [
      ...x.flags.map((fl) => fishFlag(spec, fl, `${f}_using ${x.name}`)),
      ...fishArgument(spec, x),
    ]),
    '',
  );
  return lines.join('\n');
}
