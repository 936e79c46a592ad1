#!/usr/bin/env bash
# A throwaway single-node Slurm cluster for the campaign tests.
#
#   eval "$(bash scripts/slurm.sh start)"   # prints: export SLURM_CONF=... GM2DQC_TEST_SLURM_DIR=...
#   bash scripts/slurm.sh stop "$GM2DQC_TEST_SLURM_DIR"
#
# Debian's slurm-wlm and munge (installed with apt-get when missing). The controller
# and the node daemon run as root with their configuration, state, spool, logs and
# pid files in a new temporary directory, on free loopback ports, so several clusters
# (a CI run beside a session's) do not meet. ProctrackType=proctrack/linuxproc and
# TaskPlugin=task/none: no cgroups needed. munged is the system's, started if not
# running. Clients (sbatch, squeue, scancel) find the cluster through SLURM_CONF.
set -euo pipefail
cmd="${1:-}"
case "$cmd" in
start)
    if [ "$(id -u)" != 0 ]; then
        echo "slurm.sh: needs root (slurmd runs the jobs and starts munged)" >&2
        exit 2
    fi
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        echo "slurm.sh: installing Debian's slurm-wlm and munge" >&2
        export DEBIAN_FRONTEND=noninteractive
        { apt-get install -y --no-install-recommends slurm-wlm munge || { apt-get update && apt-get install -y --no-install-recommends slurm-wlm munge; }; } >&2 \
            || { echo "slurm.sh: could not install slurm-wlm and munge" >&2; exit 2; }
    fi
    # munge authenticates the clients to the daemons.
    if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
        if [ ! -s /etc/munge/munge.key ]; then
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        fi
        chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
        chmod 0400 /etc/munge/munge.key
        runuser -u munge -- /usr/sbin/munged >&2
        for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
        munge -n </dev/null | unmunge >/dev/null || { echo "slurm.sh: munged does not answer" >&2; exit 2; }
    fi
    dir="$(mktemp -d "${TMPDIR:-/tmp}/gm2dqc-slurm.XXXXXX")"
    mkdir -p "$dir/state" "$dir/spool"
    read -r ctld_port slurmd_port < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
    host="$(hostname -s)"
    cat >"$dir/slurm.conf" <<EOF
ClusterName=gm2dqctest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$dir/slurm.conf"
    /usr/sbin/slurmctld -c >&2 || { cat "$dir/slurmctld.log" >&2; exit 2; }
    /usr/sbin/slurmd >&2 || { cat "$dir/slurmd.log" >&2; exit 2; }
    for _ in $(seq 100); do
        [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && break
        sleep 0.2
    done
    if [ "$(sinfo -h -o %t 2>/dev/null)" != idle ]; then
        echo "slurm.sh: the node did not come up:" >&2
        sinfo >&2 || true
        tail -20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
        exit 2
    fi
    echo "export SLURM_CONF=$dir/slurm.conf GM2DQC_TEST_SLURM_DIR=$dir"
    ;;
stop)
    dir="${2:?slurm.sh stop DIR}"
    export SLURM_CONF="$dir/slurm.conf"
    scancel --quiet --user="$(id -un)" 2>/dev/null || true
    for d in slurmd slurmctld; do
        if [ -s "$dir/$d.pid" ]; then kill "$(cat "$dir/$d.pid")" 2>/dev/null || true; fi
    done
    sleep 0.5
    rm -rf "$dir"
    ;;
*)
    echo "usage: slurm.sh start | stop DIR" >&2
    exit 2
    ;;
esac
