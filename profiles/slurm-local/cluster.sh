#!/usr/bin/env bash
# A single-node SLURM cluster on this machine (localhost), for CI and for developers who want to
# try the SLURM profile without a real cluster:
#
#   sudo profiles/slurm-local/cluster.sh start    # install if missing, configure, start, wait until idle
#   sudo profiles/slurm-local/cluster.sh status   # daemons and `sinfo`
#   sudo profiles/slurm-local/cluster.sh stop     # stop the daemons this script started (pid files)
#
# Debian/Ubuntu, root, no systemd needed. What it touches: the packages slurmctld, slurmd,
# slurm-client and munge; /etc/slurm/slurm.conf (written only when absent or written by this
# script before: an existing site configuration is never overwritten); the munge key (created only
# if missing); /run/munge, /run/slurm, /var/lib/slurm, /var/log/slurm. `start` is idempotent:
# daemons already running are left alone. Jobs run as the submitting user with --export=ALL, so
# they see the caller's PATH (the project's venv).
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARKER="# Written by autospace-repro profiles/slurm-local/cluster.sh"
RUN=/run/slurm
STATE=/var/lib/slurm
LOGS=/var/log/slurm
CTLD_PID=$RUN/slurmctld.pid
SLURMD_PID=$RUN/slurmd.pid
MUNGE_PID=/run/munge/munged.pid
PARTITION=debug
START_TIMEOUT=${AUTOSPACE_SLURM_START_TIMEOUT:-60}   # seconds to wait for the node to be idle

die() { echo "cluster.sh: $*" >&2; exit 1; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then exec sudo -- "$0" "$@"; fi
    die "must run as root (it installs packages and writes $CONF)"
  fi
}

alive() {  # alive PIDFILE: the process named by the pid file is running
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
  local missing=()
  for bin in slurmctld slurmd sinfo munged; do
    command -v "$bin" >/dev/null || missing+=("$bin")
  done
  [ ${#missing[@]} -eq 0 ] && return
  echo "cluster.sh: installing SLURM and munge (missing: ${missing[*]})"
  command -v apt-get >/dev/null || die "apt-get not found: install slurmctld slurmd slurm-client munge yourself"
  local pkgs=(slurmctld slurmd slurm-client munge)
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  } || die "could not install ${pkgs[*]}"
}

write_conf() {
  if [ -e "$CONF" ] && ! grep -qxF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; not overwriting a site configuration"
  fi
  local cpus mem defmem
  cpus=$(nproc)
  # RealMemory as slurmd itself measures it (a larger value would make slurmd drain the node)
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  [ -n "$mem" ] || die "could not read RealMemory from 'slurmd -C'"
  # a default per CPU, so that a job without --mem does not take the whole node's memory
  defmem=$(( mem / cpus < 1024 ? mem / cpus : 1024 ))
  mkdir -p /etc/slurm
  cat > "$CONF.tmp" <<EOF
$MARKER
# Single node on localhost: no cgroups, no accounting database (use squeue for job status).
ClusterName=autospace-local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$defmem
# keep finished jobs visible to squeue for 5 minutes (>= 3 x the profile's first status delay)
MinJobAge=300
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
}

start_munge() {
  if alive "$MUNGE_PID" && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  mkdir -p /run/munge
  chown munge:munge /run/munge
  chmod 0755 /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  fi
  runuser -u munge -- munged
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "munged does not answer (see /var/log/munge/munged.log)"
}

start() {
  need_root "$@"
  install_packages
  write_conf
  mkdir -p "$RUN" "$STATE/slurmctld" "$STATE/slurmd" "$LOGS"
  chown slurm:slurm "$RUN" "$STATE/slurmctld" "$LOGS"
  start_munge
  # -c: start from a clean state (no jobs from an earlier session of this throwaway cluster)
  alive "$CTLD_PID" || slurmctld -c
  alive "$SLURMD_PID" || slurmd -N localhost
  local state=""
  for _ in $(seq $((START_TIMEOUT * 2))); do
    state=$(sinfo -h -n localhost -o %t 2>/dev/null || true)
    case "$state" in
      idle*|mix*|alloc*) echo "cluster.sh: SLURM is up: node localhost ($(nproc) CPUs) $state in partition $PARTITION"; return ;;
    esac
    sleep 0.5
  done
  echo "cluster.sh: the node is not idle after ${START_TIMEOUT}s (sinfo state: '${state:-no answer}')" >&2
  tail -n 20 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" >&2 2>/dev/null || true
  exit 1
}

stop_one() {  # stop_one NAME PIDFILE
  alive "$2" || { rm -f "$2"; return 0; }
  local pid
  pid=$(cat "$2")
  kill "$pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$2"; return 0; }
    sleep 0.1
  done
  echo "cluster.sh: $1 (pid $pid) did not stop in 10 s; sending SIGKILL" >&2
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$2"
}

stop() {
  need_root "$@"
  if [ -e "$CONF" ] && ! grep -qxF "$MARKER" "$CONF"; then
    die "$CONF was not written by this script; not stopping a site's daemons"
  fi
  stop_one slurmd "$SLURMD_PID"
  stop_one slurmctld "$CTLD_PID"
  stop_one munged "$MUNGE_PID"
  echo "cluster.sh: SLURM stopped"
}

status() {
  local name file
  for name in slurmctld slurmd munged; do
    case $name in slurmctld) file=$CTLD_PID ;; slurmd) file=$SLURMD_PID ;; munged) file=$MUNGE_PID ;; esac
    if alive "$file"; then echo "$name: running (pid $(cat "$file"))"; else echo "$name: stopped"; fi
  done
  sinfo 2>/dev/null || { echo "sinfo: no controller answers"; return 1; }
}

case "${1:-}" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
