import { Command } from 'commander';
import type { Run } from '../command';
import { EXIT, usageError } from '../exit-codes';

interface Node {
  path: string;
  words: string[];
}

/** Every command path (`rollout create`) with what may follow it: subcommands and options. */
function nodesOf(command: Command, prefix: string[] = []): Node[] {
  const options = command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f)));
  const subcommands = command.commands.map((c) => c.name());
  return [
    { path: prefix.join(' '), words: [...subcommands, ...options, '--help'] },
    ...command.commands.flatMap((c) => nodesOf(c, [...prefix, c.name()])),
  ];
}

/** Completes the words that may follow the command path typed so far (its subcommand names). */
function bashScript(root: Command): string {
  const nodes = nodesOf(root);
  const cases = nodes.map((n) => `    "${n.path}") words="${n.words.join(' ')}" ;;`).join('\n');
  return `# fleetctl completion for bash: source <(fleetctl completion bash)
_fleetctl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmdpath="" w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    case " $(_fleetctl_words "$cmdpath") " in *" $w "*) cmdpath="\${cmdpath:+$cmdpath }$w" ;; esac
  done
  COMPREPLY=($(compgen -W "$(_fleetctl_words "$cmdpath")" -- "$cur"))
}
_fleetctl_words() {
  local words=""
  case "$1" in
${cases}
  esac
  echo "$words"
}
complete -F _fleetctl fleetctl
`;
}

function zshScript(root: Command): string {
  const nodes = nodesOf(root);
  const cases = nodes.map((n) => `    "${n.path}") candidates=(${n.words.join(' ')}) ;;`).join('\n');
  return `#compdef fleetctl
# fleetctl completion for zsh: source <(fleetctl completion zsh), or save as _fleetctl in $fpath
_fleetctl_words() {
  case "$1" in
${cases}
    *) candidates=() ;;
  esac
}
_fleetctl() {
  local cmdpath="" w i
  local -a candidates
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    [[ "$w" == -* ]] && continue
    _fleetctl_words "$cmdpath"
    (( \${candidates[(Ie)$w]} )) && cmdpath="\${cmdpath:+$cmdpath }$w"
  done
  _fleetctl_words "$cmdpath"
  compadd -- $candidates
}
# Loaded from $fpath, the file's body is the completion function itself: run it; sourced, register it.
if [[ "\${funcstack[1]}" == _fleetctl ]]; then
  _fleetctl "$@"
else
  compdef _fleetctl fleetctl
fi
`;
}

export function completionCommand(run: Run, root: () => Command): Command {
  return new Command('completion')
    .description('print the shell completion script: source <(fleetctl completion bash)')
    .argument('<shell>', 'bash or zsh')
    .action(
      run(async (shell: string) => {
        if (shell !== 'bash' && shell !== 'zsh')
          throw usageError(`shell: bash or zsh, not ${JSON.stringify(shell)}`);
        process.stdout.write(shell === 'bash' ? bashScript(root()) : zshScript(root()));
        return EXIT.ok;
      }),
    );
}
