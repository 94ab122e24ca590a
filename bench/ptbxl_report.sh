#!/usr/bin/env bash
# Acceptance check of the report on real data: a LOHO run on the PTB-XL subset, its report, and a screenshot of
# report.html in headless Chromium (Debian's `chromium` package) to look at.
# Usage: bench/ptbxl_report.sh [OUT_DIR]   (default /tmp/ptbxl-report; PTB-XL from $CARDIOFED_PTBXL500 or ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/tmp/ptbxl-report}"
data="${CARDIOFED_PTBXL500:-../shared/data/ptbxl500}"
start=$(date +%s)
.venv/bin/cardiofed run --data "$data" --hospital-by site --task mi --protocol loho --model resnet1d --out "$out"
echo "LOHO on PTB-XL took $(( $(date +%s) - start )) s"
.venv/bin/cardiofed report "$out"
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" --window-size=1200,2600 \
    --screenshot="$out/report.png" "file://$(realpath "$out")/report.html"
echo "screenshot: $out/report.png"
