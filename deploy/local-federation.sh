#!/usr/bin/env bash
# A whole federation on this machine, as separate processes on loopback, following the README's
# "Deploying at a hospital" steps: hospital key pairs, the federation's certificates, a SuperLink with TLS
# and SuperNode authentication (on loopback, behind the Fleet gateway hospitals connect to), the hospitals'
# keys registered, three hospitals (each its own synthetic WFDB folder, checked, the app approved, and its
# own SuperNode), a short leave-one-hospital-out experiment submitted through the SuperLink, its report,
# each hospital's audit log, approved apps and privacy ledger, then a clean shutdown.
#
#   deploy/local-federation.sh WORK_DIR [--rounds N] [--records-per-hospital M] [--model NAME]
#
# WORK_DIR ends up holding data/, certs/, coordinator/ (SuperLink state and log), hospitals/<id>/ (keys,
# state with the audit log and privacy ledger, SuperNode log) and run/ (results.json, report.html).
# CARDIOFED names the command to use (default: cardiofed from the project's .venv, else from PATH).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
[[ -x "$repo/.venv/bin/cardiofed" ]] && PATH="$repo/.venv/bin:$PATH"
cardiofed=${CARDIOFED:-cardiofed}
python=$(command -v python3)
[[ -x "$repo/.venv/bin/python" ]] && python="$repo/.venv/bin/python"

work=${1:?usage: deploy/local-federation.sh WORK_DIR [--rounds N] [--records-per-hospital M] [--model NAME]}
shift
rounds=2
records=30
model=resnet1d
while (($#)); do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --records-per-hospital) records=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
hospitals=(east north south)
mkdir -p "$work"
work=$(cd "$work" && pwd)
say() { printf '\n== [%3ds] %s\n' "$SECONDS" "$*" >&2; }

# Services (SuperLink, SuperNodes, the experiment's submission) each run in a session of their own, and are
# stopped with every process they spawned, detached ones included (shared/processes.py: by process id and
# session, never by name). Independent steps of the three hospitals run side by side (`spawn`, `join_all`).
services=()
spawned=()
stop_all() {
    if ((${#spawned[@]})); then
        kill -TERM "${spawned[@]}" 2>/dev/null || true
    fi
    if ((${#services[@]})); then
        PYTHONPATH="$repo" "$python" -m shared.processes "${services[@]}"
    fi
    services=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM
service() { setsid "$@" & services+=($!); }
spawn() { "$@" & spawned+=($!); }
join_all() {
    local pid failed=0
    for pid in "${spawned[@]}"; do wait "$pid" || failed=1; done
    spawned=()
    return $failed
}

# The three hospitals' ClientApps train side by side on this one machine, so each gets its share of the
# cores: with every core each, their OpenMP threads wait on one another and the script took 211 s instead of
# 170 s on 2 cores (a train step of the same model 5x slower).
cores=$(nproc)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$((cores > ${#hospitals[@]} ? cores / ${#hospitals[@]} : 1))}

# The SuperLink's Flower SuperExec (the hospitals' gates poll every 0.2 s) looks for work every second by default;
# a short run on one machine would spend much of its time in those waits.
export FLWR_SUPEREXEC_TASK_POLL_INTERVAL=${FLWR_SUPEREXEC_TASK_POLL_INTERVAL:-0.2}
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "0. synthetic data: one WFDB folder per hospital ($records ECGs at 100 Hz each)"
for i in "${!hospitals[@]}"; do
    folder="$work/data/${hospitals[i]}"
    [[ -f "$folder/synthetic_manifest.json" ]] || spawn "$cardiofed" synth "$folder" --hospitals 1 \
        --records-per-hospital "$records" --sample-rate 100 --seed "$i" --mi-prevalence 0.4 >/dev/null
done
join_all

say "1. hospitals: each makes its SuperNode key pair and sends the .pub to the coordinator"
for hospital in "${hospitals[@]}"; do
    "$repo/deploy/certs.sh" hospital "$work/hospitals/$hospital/keys" "$hospital"
done

say "2. coordinator: the federation CA and SuperLink certificate, the SuperLink, the hospitals' keys"
"$repo/deploy/certs.sh" federation "$work/certs"
port=$(free_port)
control_port=$(free_port)
location=(--state "$work/coordinator" --certs "$work/certs" --host 127.0.0.1 --port "$port"
          --control-port "$control_port")
service "$cardiofed" coordinator start "${location[@]}" >"$work/coordinator.out" 2>&1
for hospital in "${hospitals[@]}"; do  # each waits until the SuperLink serves
    spawn "$cardiofed" coordinator register "${location[@]}" --hospital-id "$hospital" \
        "$work/hospitals/$hospital/keys/$hospital.pub"
done
join_all

say "3. hospitals: check the data, approve the app, then join (each SuperNode next to its own data)"
for hospital in "${hospitals[@]}"; do
    spawn "$cardiofed" data check "$work/data/$hospital" >"$work/hospitals/$hospital/data-check.txt"
    # The exact app the coordinator will submit (this checkout, built as `flwr run` builds it).
    spawn "$cardiofed" hospital approve --state "$work/hospitals/$hospital/state" "$repo" \
        >"$work/hospitals/$hospital/approve.txt"
done
join_all
for hospital in "${hospitals[@]}"; do
    echo "$hospital: $(tail -n 1 "$work/hospitals/$hospital/data-check.txt")"
    echo "$hospital: $(tail -n 1 "$work/hospitals/$hospital/approve.txt")"
    service "$cardiofed" hospital join --superlink "127.0.0.1:$port" --hospital-id "$hospital" \
        --data "$work/data/$hospital" --state "$work/hospitals/$hospital/state" \
        --ca "$work/certs/ca.crt" --key "$work/hospitals/$hospital/keys/$hospital.key" \
        --runtime-port "$(free_port)" >"$work/hospitals/$hospital/supernode.log" 2>&1
done

say "4. coordinator: a leave-one-hospital-out experiment ($rounds rounds per fold), then its report"
# Evaluated once per fold, after its last round: every validation is one more message to every hospital.
# A service too, waited for in the background: a signal to this script then stops it at once.
service "$cardiofed" coordinator submit "${location[@]}" --out "$work/run" --hospitals "${#hospitals[@]}" \
    --set protocol=loho --set "model=$model" --set "rounds=$rounds" --set "evaluate-every=$rounds" \
    --set 'local-epochs=1' --set 'batch-size=16' --set 'sample-rate=100' --set 'round-timeout-s=120.0'
wait "${services[-1]}"
spawn "$cardiofed" report "$work/run"

say "5. hospitals: what left each site (audit log), the apps approved and refused, the privacy ledger"
for hospital in "${hospitals[@]}"; do
    spawn "$cardiofed" hospital privacy --state "$work/hospitals/$hospital/state" \
        >"$work/hospitals/$hospital/privacy.txt"
    spawn "$cardiofed" hospital apps --state "$work/hospitals/$hospital/state" \
        >"$work/hospitals/$hospital/apps.txt"
done
join_all
for hospital in "${hospitals[@]}"; do
    sed "s/^/$hospital: /" "$work/hospitals/$hospital/privacy.txt" "$work/hospitals/$hospital/apps.txt"
done

say "6. shut down the SuperNodes and the SuperLink"
stop_all
trap - EXIT
say "local federation done: $work/run/results.json"
echo "local federation done: $work/run/results.json"
