# shellcheck shell=bash
# Shared by tests/harness/kafka.sh and pg.sh: messages, free ports, and
# starting/stopping one background server process so that nothing outlives
# `stop`. Each harness keeps its files in its own subdirectory of DIR
# (DIR/kafka, DIR/pg) and writes DIR/<name>.env only once the server is
# really usable, so tests/integration/run.sh never sees a half-started part.

HD_HARNESS_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HD_REPO_ROOT=$(cd "$HD_HARNESS_SRC/../.." && pwd)
# shellcheck source=scripts/lib-cache.sh
. "$HD_REPO_ROOT/scripts/lib-cache.sh"

HD_NAME=${HD_NAME:-harness}

hd_say() { printf 'harness/%s: %s\n' "$HD_NAME" "$*"; }
hd_die() {
    printf 'harness/%s: error: %s\n' "$HD_NAME" "$*" >&2
    exit 1
}

hd_need() {
    command -v "$1" >/dev/null 2>&1 || hd_die "'$1' not found: ${2:-run scripts/bootstrap}"
}

# Milliseconds since the epoch (for timings and deadlines).
hd_now_ms() { date +%s%3N; }

# Absolute path of DIR, created if needed.
hd_abs_dir() {
    mkdir -p "$1" || hd_die "cannot create directory $1"
    (cd "$1" && pwd)
}

# True when some TCP socket on this machine uses local port $1.
hd_port_busy() {
    [ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
}

# Prints a TCP port that nothing uses right now. Ports are drawn at random
# below the kernel's ephemeral range, so outgoing connections (which take
# ephemeral ports) cannot grab one between this check and the server's bind;
# the remaining race (another server binding it first) is handled by the
# callers, which retry with new ports when the bind fails. Arguments are
# ports to avoid (already chosen for the same server).
# shellcheck disable=SC2120  # the avoid-list is optional
hd_free_port() {
    local low=32768 span p tries=0 avoid
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    [ "$low" -gt 20000 ] || low=32768
    span=$((low - 20000))
    while [ $tries -lt 200 ]; do
        tries=$((tries + 1))
        p=$((20000 + (RANDOM * 32768 + RANDOM) % span))
        for avoid in "$@"; do [ "$p" = "$avoid" ] && continue 2; done
        hd_port_busy "$p" || {
            printf '%s\n' "$p"
            return 0
        }
    done
    hd_die "could not find a free TCP port"
}

# NAME='value' with the value quoted for the shell (the env files are sourced).
hd_env_line() {
    local v=${2//\'/\'\\\'\'}
    printf "%s='%s'\n" "$1" "$v"
}

# Writes the lines read from stdin to file $1 atomically.
hd_write_atomic() {
    cat >"$1.tmp" && mv -f "$1.tmp" "$1"
}

# True when PID $1 is alive and its command line contains $2 (so a recycled
# PID of some other process is never signalled).
hd_pid_is() {
    local args
    [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
    mapfile -d '' args <"/proc/$1/cmdline" 2>/dev/null || return 1
    [[ " ${args[*]} " == *"$2"* ]]
}

# PIDs of processes whose command line contains tag $1 (a harness path that
# nothing else has in its command line).
hd_pids_tagged() {
    local f pid args
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}
        pid=${pid%/cmdline}
        if [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ]; then continue; fi
        mapfile -d '' args <"$f" 2>/dev/null || continue
        [[ " ${args[*]} " == *"$1"* ]] && printf '%s\n' "$pid"
    done
    return 0
}

# Stops the processes tagged $1: SIGTERM, up to $2 seconds of grace, then
# SIGKILL, and waits until they are gone.
hd_stop_tagged() {
    local tag=$1 grace=$2 pids deadline
    pids=$(hd_pids_tagged "$tag")
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    deadline=$(($(hd_now_ms) + grace * 1000))
    while [ -n "$(hd_pids_tagged "$tag")" ] && [ "$(hd_now_ms)" -lt "$deadline" ]; do
        sleep 0.2
    done
    pids=$(hd_pids_tagged "$tag")
    if [ -n "$pids" ]; then
        hd_say "still running after ${grace}s, sending SIGKILL to $pids"
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        deadline=$(($(hd_now_ms) + 10000))
        while [ -n "$(hd_pids_tagged "$tag")" ] && [ "$(hd_now_ms)" -lt "$deadline" ]; do
            sleep 0.1
        done
        [ -z "$(hd_pids_tagged "$tag")" ] || hd_die "processes $(hd_pids_tagged "$tag" | tr '\n' ' ')did not die"
    fi
}

# Prints the last lines of log file $1 to stderr, framed, for a failure report.
hd_log_tail() {
    local f=$1 n=${2:-40}
    [ -f "$f" ] || return 0
    printf -- '----- last %s lines of %s -----\n' "$n" "$f" >&2
    tail -n "$n" "$f" >&2
    printf -- '----- end of %s -----\n' "$f" >&2
}

# Checks the command-line arguments shared by both harnesses: ACTION DIR.
hd_usage_check() {
    local script=$1
    shift
    if [ $# -lt 2 ]; then
        printf 'usage: %s start|stop DIR\n' "$script" >&2
        [ "$HD_NAME" != kafka ] || printf '       %s tool DIR CLASS [ARGS...]\n' "$script" >&2
        exit 2
    fi
}
