# bash completion for nixos-container: verbs, flags and the flags' values
# (by their metavar: FILE and PATH files, HOST hosts) from the binary's own
# tables, container names from the service (nixos-container list), and after
# `run NAME --` a command, then files.
_nixos_container_hosts() {
    local cur=$1 user=''
    COMPREPLY=()
    if declare -F _known_hosts_real >/dev/null; then
        _known_hosts_real -a -- "$cur" # bash-completion's: ssh's known hosts and config
        return
    fi
    [[ $cur == *@* ]] && user=${cur%%@*}@
    mapfile -t COMPREPLY < <(compgen -P "$user" -A hostname -- "${cur#"$user"}")
}

_nixos_container() {
    local cur=${COMP_WORDS[COMP_CWORD]} word verb='' dashes=0 i flag metavar
    local -A takes=()
    local -a wanted=()
    while read -r flag metavar; do
        takes[$flag]=$metavar
    done < <(nixos-container _complete values 2>/dev/null)
    # The metavars still owed by the last flag, the verb, and where `--` is.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if ((dashes > 0)); then
            continue
        elif ((${#wanted[@]} > 0)); then
            wanted=("${wanted[@]:1}")
        elif [[ $word == -- ]]; then
            dashes=$i
        elif [[ -n ${takes[$word]+set} ]]; then
            read -ra wanted <<<"${takes[$word]}"
        elif [[ $word != -* && -z $verb ]]; then
            verb=$word
        fi
    done
    if ((${#wanted[@]} > 0)); then
        case ${wanted[0]} in
        FILE | PATH) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        *HOST) _nixos_container_hosts "$cur" ;;
        *) COMPREPLY=() ;;
        esac
    elif ((dashes > 0)); then
        compopt -o filenames 2>/dev/null
        if ((COMP_CWORD == dashes + 1)); then
            mapfile -t COMPREPLY < <(compgen -c -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
    elif [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(nixos-container _complete flags 2>/dev/null)" -- "$cur")
    elif [[ -z $verb ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(nixos-container _complete verbs 2>/dev/null)" -- "$cur")
    elif [[ $verb == apply-declarative ]]; then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -W "$(nixos-container list 2>/dev/null)" -- "$cur")
    fi
}
complete -F _nixos_container nixos-container
