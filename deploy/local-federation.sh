#!/usr/bin/env bash
# A whole federation on this machine, as separate processes on loopback, following the README's
# "Deploying at a hospital" steps: certificates, a SuperLink with TLS and SuperNode authentication,
# three hospitals (each its own synthetic WFDB folder, key pair and SuperNode), a short
# leave-one-hospital-out experiment submitted through the SuperLink, then a clean shutdown.
#
#   deploy/local-federation.sh WORK_DIR [--rounds N] [--records-per-hospital M]
#
# WORK_DIR ends up holding data/, certs/, coordinator/, hospitals/<id>/ (audit log, privacy ledger,
# SuperNode log) and run/ (results.json, progress.jsonl). CARDIOFED names the command to use
# (default: cardiofed from the project's .venv, else from PATH).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
[[ -x "$repo/.venv/bin/cardiofed" ]] && PATH="$repo/.venv/bin:$PATH"
cardiofed=${CARDIOFED:-cardiofed}

work=${1:?usage: deploy/local-federation.sh WORK_DIR [--rounds N] [--records-per-hospital M]}
shift
rounds=2
records=30
while (($#)); do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --records-per-hospital) records=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
hospitals=(east north south)
mkdir -p "$work"
work=$(cd "$work" && pwd)
say() { printf '\n== %s\n' "$*" >&2; }

# Each service runs in its own session (setsid), so stopping its process group also stops the
# ServerApp or ClientApp processes Flower spawned for it.
pids=()
stop_all() {
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do  # SuperNodes first, then the SuperLink
        kill -TERM -- "-${pids[i]}" 2>/dev/null || true
    done
    for i in "${!pids[@]}"; do
        wait "${pids[i]}" 2>/dev/null || true
    done
    pids=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

free_port() { "$repo/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "1. synthetic data: one WFDB folder per hospital ($records ECGs at 100 Hz each)"
for i in "${!hospitals[@]}"; do
    folder="$work/data/${hospitals[i]}"
    [[ -f "$folder/synthetic_manifest.json" ]] || "$cardiofed" synth "$folder" --hospitals 1 \
        --records-per-hospital "$records" --sample-rate 100 --seed "$i" --mi-prevalence 0.4 >/dev/null
done

say "2. certificates: the federation CA and SuperLink certificate; each hospital's SuperNode key pair"
"$repo/deploy/certs.sh" federation "$work/certs"
for hospital in "${hospitals[@]}"; do
    "$repo/deploy/certs.sh" hospital "$work/hospitals/$hospital/keys" "$hospital"
done

say "3. coordinator: start the SuperLink (TLS, node authentication, state in $work/coordinator)"
port=$(free_port)
location=(--state "$work/coordinator" --certs "$work/certs" --host 127.0.0.1 --port "$port")
setsid "$cardiofed" coordinator start "${location[@]}" >"$work/coordinator.out" 2>&1 &
pids+=($!)
for _ in $(seq 60); do
    "$cardiofed" coordinator nodes "${location[@]}" >/dev/null 2>&1 && break
    sleep 0.5
done

say "4. coordinator: register each hospital's public key (the .pub it sent)"
for hospital in "${hospitals[@]}"; do
    "$cardiofed" coordinator register "${location[@]}" --hospital-id "$hospital" \
        "$work/hospitals/$hospital/keys/$hospital.pub"
done

say "5. hospitals: join the federation (each SuperNode next to its own data)"
for hospital in "${hospitals[@]}"; do
    setsid "$cardiofed" hospital join --superlink "127.0.0.1:$port" --hospital-id "$hospital" \
        --data "$work/data/$hospital" --state "$work/hospitals/$hospital/state" \
        --ca "$work/certs/ca.crt" --key "$work/hospitals/$hospital/keys/$hospital.key" \
        --runtime-port "$(free_port)" >"$work/hospitals/$hospital/supernode.log" 2>&1 &
    pids+=($!)
done

say "6. coordinator: submit a leave-one-hospital-out experiment ($rounds rounds per fold)"
"$cardiofed" coordinator submit "${location[@]}" --out "$work/run" --hospitals "${#hospitals[@]}" \
    --set 'protocol="loho"' --set 'model="resnet1d"' --set "rounds=$rounds" --set 'local-epochs=1' \
    --set 'batch-size=16' --set 'sample-rate=100' --set 'round-timeout-s=120.0'

say "7. hospitals: what left each site (audit log) and the privacy ledger"
for hospital in "${hospitals[@]}"; do
    "$cardiofed" hospital privacy --state "$work/hospitals/$hospital/state"
done

say "8. shut down (SuperNodes, then the SuperLink)"
stop_all
trap - EXIT
echo "local federation done: $work/run/results.json"
