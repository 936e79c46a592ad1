#!/usr/bin/env bash
# The cost of sharding: one `gm2dqc run` against `plan` + N shards + `reduce` on the
# same dataset, for N = 1 2 4 8 16 (release build). Every campaign's results are
# checked against the one run (the same table, merged-file and input-list bytes).
#
#   bash benches/campaign.sh [--runs R --subruns S] [--slurm]
#
# The shards run one after another here, each on every core (--threads = nproc), so
# the sum of their wall times plus the reduce's is what the campaign costs in machine
# time; CPU time (user + sys) is reported too. --slurm also runs the 4-shard campaign
# through the Slurm cluster of SLURM_CONF (scripts/slurm.sh start) with one CPU per
# shard, to time the scheduler's overhead. Writes $CARGO_TARGET_DIR/bench-campaign.json (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=4
subruns=40
slurm=0
while [[ $# -gt 0 ]]; do
    case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --subruns) subruns="$2"; shift 2 ;;
    --slurm) slurm=1; shift ;;
    *) echo "usage: benches/campaign.sh [--runs R --subruns S] [--slurm]" >&2; exit 2 ;;
    esac
done
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bin gm2dqc >&2
bin="$(cd "$target/release" && pwd)/gm2dqc"
work="$(mktemp -d "${TMPDIR:-/tmp}/gm2dqc-bench-campaign.XXXXXX")"
trap 'rm -rf "$work"' EXIT
threads="$(nproc)"
"$bin" -q simulate --out "$work/sim" --runs "$runs" --subruns "$subruns" --seed 7
mb="$(du -sm "$work/sim" | cut -f1)"
echo "dataset: $runs runs x $subruns subruns, $mb MB; $threads cores; $bin" >&2

# timed LABEL CMD...: wall, user+sys seconds appended to $work/times as "LABEL wall cpu".
timed() {
    local label="$1"
    shift
    /usr/bin/time -f "%e %U %S" -o "$work/t" "$@" >/dev/null 2>"$work/err" || { local rc=$?; [[ $rc == 1 ]] || { cat "$work/err" >&2; exit $rc; }; }
    read -r wall user sys <"$work/t"
    awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" 'BEGIN { print l, w, u + s }' >>"$work/times"
}
: >"$work/times"
timed one "$bin" -q run --input "$work/sim" --out "$work/one" --threads "$threads"
same() {
    for f in subrun_metrics subrun_status run_summary gain_constants calo_channel_status tracker_channel_status; do
        cmp -s "$work/one/$f.parquet" "$1/$f.parquet" || { echo "campaign $1: $f.parquet differs from the one run" >&2; exit 1; }
    done
    cmp -s "$work/one/inputs.json" "$1/inputs.json" && diff -r -q "$work/one/merged" "$1/merged" >/dev/null || { echo "campaign $1: inputs or merged files differ" >&2; exit 1; }
}
for n in 1 2 4 8 16; do
    w="$work/w$n"
    timed "plan$n" "$bin" -q plan --input "$work/sim" --shards "$n" --out "$w"
    real_n="$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['shards']))" "$w/plan.json")"
    for ((i = 0; i < real_n; i++)); do
        timed "shard$n" "$bin" -q shard "$w" --index "$i" --threads "$threads"
    done
    timed "reduce$n" "$bin" -q reduce "$w" --threads "$threads"
    same "$w/out"
    echo "partial$n $(du -sm "$w/shards" | cut -f1) 0" >>"$work/times"
done
if [[ $slurm == 1 ]]; then
    [[ -n "${SLURM_CONF:-}" ]] || { echo "--slurm needs SLURM_CONF (eval \"\$(bash scripts/slurm.sh start)\")" >&2; exit 2; }
    w="$work/slurm"
    t0="$(date +%s.%N)"
    "$bin" -q plan --input "$work/sim" --shards 4 --out "$w" --threads-per-job 1 --submit slurm
    jobs="$(python3 -c "import json,sys; print(' '.join(j for s in json.load(open(sys.argv[1])) for j in [s['shards_job'], s['reduce_job']]))" "$w/submissions.json")"
    while squeue -h -o %F | grep -qwF -f <(tr ' ' '\n' <<<"$jobs"); do sleep 0.2; done
    t1="$(date +%s.%N)"
    same "$w/out"
    awk -v a="$t0" -v b="$t1" 'BEGIN { print "slurm4", b - a, 0 }' >>"$work/times"
fi
mkdir -p "$target"
python3 - "$work/times" "$mb" "$threads" "$target/bench-campaign.json" <<'EOF'
import collections, json, sys
rows = collections.defaultdict(lambda: [0.0, 0.0, 0])
for line in open(sys.argv[1]):
    label, wall, cpu = line.split()
    r = rows[label]
    r[0] += float(wall); r[1] += float(cpu); r[2] += 1
one_wall, one_cpu = rows["one"][0], rows["one"][1]
print(f"one process (gm2dqc run): {one_wall:.2f} s wall, {one_cpu:.2f} s CPU, {sys.argv[2]} MB, {sys.argv[3]} cores")
print("| shards | plan | shards (sum) | reduce | total | vs one run | CPU vs one run | partial results |")
print("|---|---|---|---|---|---|---|---|")
out = {"one": {"wall": one_wall, "cpu": one_cpu}, "mb": int(sys.argv[2]), "campaigns": []}
for n in (1, 2, 4, 8, 16):
    p, s, r = rows[f"plan{n}"], rows[f"shard{n}"], rows[f"reduce{n}"]
    total = p[0] + s[0] + r[0]
    cpu = p[1] + s[1] + r[1]
    mb = rows[f"partial{n}"][0]
    print(f"| {n} | {p[0]:.2f} s | {s[0]:.2f} s ({s[2]} jobs) | {r[0]:.2f} s | {total:.2f} s | {total / one_wall:.2f}x | {cpu / one_cpu:.2f}x | {mb:.0f} MB |")
    out["campaigns"].append({"shards": n, "jobs": s[2], "plan": p[0], "shards_wall": s[0], "reduce": r[0], "total": total, "cpu": cpu, "partial_mb": mb})
if "slurm4" in rows:
    print(f"Slurm, 4 shards of 1 CPU + reduce, submission to last job's end: {rows['slurm4'][0]:.2f} s")
    out["slurm4"] = rows["slurm4"][0]
json.dump(out, open(sys.argv[4], "w"), indent=1)
EOF
