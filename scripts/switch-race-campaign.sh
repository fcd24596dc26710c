#!/usr/bin/env bash
# Issue-8 campaign: N runs of a FIG. 2 → FIG. 9 restripe under heavy host load (queue depth 128,
# four host processors) on the array whose LD1 shares its drives with LD2 (cylinders 0-1), so the
# switch meets many host requests splitting locations both layouts share. Every run must exit 0
# with verifyErrors 0 and no bit left. Usage: scripts/switch-race-campaign.sh [runs] [parallel]
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-500}"
parallel="${2:-2}"
out="$(mktemp -d)"
echo "campaign: $runs runs, $parallel at a time, logs in $out" >&2
one() {
  local i="$1" out="$2"
  node bin/arrayemu.mjs run --config examples/fig2-shared-drives.json --reconfigure-to examples/fig9-shared-drives.json \
    --ops 20000 --queue-depth 128 --host-processors 4 --seed "$i" --json >"$out/$i.json" 2>"$out/$i.err"
  local rc=$?
  local verdict
  verdict=$(node -e '
    const fs = require("fs");
    let r; try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { console.log("no-json"); process.exit(); }
    const bits = (r.reconfigurations ?? []).reduce((n, x) => n + x.bitsLeft.pb + x.bitsLeft.ps + x.bitsLeft.ind, 0);
    const blocked = (r.reconfigurations ?? []).map((x) => x.hostBlockedMs).join(",");
    const ok = r.ok && r.host.verifyErrors === 0 && bits === 0 && (r.reconfigurations ?? []).length === 1;
    console.log(`${ok ? "ok" : "FAIL"} verifyErrors=${r.host.verifyErrors} bitsLeft=${bits} blockedMs=${blocked}`);
  ' "$out/$i.json")
  echo "run $i exit $rc $verdict"
}
export -f one
seq 1 "$runs" | xargs -P "$parallel" -I{} bash -c "one {} $out" | tee "$out/summary.txt"
fails=$(grep -vc ' exit 0 ok ' "$out/summary.txt" || true)
echo "campaign: $runs runs, $fails failed (logs in $out)"
[ "$fails" -eq 0 ]
