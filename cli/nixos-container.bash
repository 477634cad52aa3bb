# bash completion for nixos-container: verbs and flags from the binary's own
# tables, container names from the service (nixos-container list).
_nixos_container() {
    local cur=${COMP_WORDS[COMP_CWORD]} word verb=''
    for word in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
        [[ $word == -* ]] || { verb=$word; break; }
    done
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(nixos-container _complete flags 2>/dev/null)" -- "$cur")
    elif [[ -z $verb ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(nixos-container _complete verbs 2>/dev/null)" -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -W "$(nixos-container list 2>/dev/null)" -- "$cur")
    fi
}
complete -F _nixos_container nixos-container
