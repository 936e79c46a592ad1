"""The HTCondor files of `gm2dqc plan`, read by HTCondor's own parser, run as HTCondor would.

No HTCondor pool is available here, so this does what a schedd does with the files and no
more: the official `htcondor2` bindings (PyPI) parse `shards.sub` and `reduce.sub`, give the
queue items of `queue shard from shards.txt`, and expand `executable`, `initialdir` and
`arguments` for each item; each expanded command is then run in its `initialdir`. The
campaign's output must equal one `gm2dqc run` of the same dataset byte for byte.

    python check_htcondor.py --bin target/debug/gm2dqc --work /tmp/x
"""

import argparse
import filecmp
import os
import shlex
import subprocess
import sys

import htcondor2 as htcondor

TABLES = ["subrun_metrics", "subrun_status", "run_summary", "gain_constants", "calo_channel_status", "tracker_channel_status"]


def condor_args(value):
    """HTCondor's "new" argument syntax: a double-quoted string of arguments split on spaces,
    single quotes group, '' is a literal quote (enough for the paths written by plan)."""
    assert value.startswith('"') and value.endswith('"'), value
    return shlex.split(value[1:-1].replace("''", "'\\''"))


def run(cmd, cwd=None, ok=(0,)):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode not in ok:
        sys.exit(f"FAIL: {cmd} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    sim, one, campaign = (os.path.join(work, d) for d in ("sim", "one", "campaign"))
    run([binary, "-q", "simulate", "--out", sim, "--runs", "2", "--subruns", "9", "--seed", "31"])
    run([binary, "-q", "run", "--input", sim, "--out", one, "--tag", "t"], ok=(0, 1))
    run([binary, "-q", "plan", "--input", sim, "--shards", "3", "--out", campaign, "--tag", "t", "--mem", "2GB"], cwd=work)
    submit = os.path.join(campaign, "submit")

    shards = htcondor.Submit(open(os.path.join(submit, "shards.sub")).read())
    qargs = shards.getQArgs()
    assert qargs.split()[:2] == ["shard", "from"], qargs
    items = list(shards.itemdata())
    assert [i["shard"] for i in items] == ["0", "1", "2"], items
    assert shards["universe"] == "vanilla" and shards["request_memory"] == "2GB" and shards["should_transfer_files"] == "NO"
    assert os.path.samefile(shards["executable"], binary), shards["executable"]
    # Each queue item, as the schedd would expand it, run in its initialdir.
    for item in items:
        shards["shard"] = item["shard"]
        args = condor_args(shards.expand("arguments"))
        assert args[:4] == ["shard", campaign, "--index", item["shard"]], args
        assert shards.expand("output") == os.path.join(campaign, "logs", f"shard-{item['shard']}.log")
        run([shards.expand("executable")] + args, cwd=shards.expand("initialdir"))
    reduce = htcondor.Submit(open(os.path.join(submit, "reduce.sub")).read())
    assert reduce.getQArgs() in ("", None, "1"), reduce.getQArgs()
    args = condor_args(reduce.expand("arguments"))
    assert args[:2] == ["reduce", campaign] and "--tag" in args, args
    run([reduce.expand("executable")] + args, cwd=reduce.expand("initialdir"), ok=(0, 1))

    out = os.path.join(campaign, "out")
    failures = []
    for f in [t + ".parquet" for t in TABLES] + ["inputs.json", "errors.txt"]:
        if not filecmp.cmp(os.path.join(one, f), os.path.join(out, f), shallow=False):
            failures.append(f)
    merged = sorted(os.listdir(os.path.join(one, "merged")))
    assert merged and merged == sorted(os.listdir(os.path.join(out, "merged"))), merged
    failures += [m for m in merged if not filecmp.cmp(os.path.join(one, "merged", m), os.path.join(out, "merged", m), shallow=False)]
    dag = open(os.path.join(submit, "campaign.dag")).read().split("\n")
    assert f"JOB shards {os.path.join(submit, 'shards.sub')}" in dag and "PARENT shards CHILD reduce" in dag, dag
    if failures:
        sys.exit(f"FAIL: the campaign run through the HTCondor files differs from one run: {failures}")
    print(f"ok: HTCondor parsed {len(items)} shard jobs and the reduce; run as expanded, they give one run's bytes ({len(merged)} merged files, {len(TABLES)} tables)")


if __name__ == "__main__":
    main()
