"""asr.py in two training processes against one (C.run_ranks), and its bfloat16 autocast (asr.AMP, the default)
against float32: a few steps of each from the same start, on this work directory's features (`train.sh --smoke` runs
it on the smoke data). Two processes split every batch's rows and sum their gradients, so their updates must equal
one process's up to the order of float sums (and, under autocast, bfloat16 rounding of products over other row
splits: 0.0085 of the update's norm after 3 steps in session 31, float32 3.7e-05); the autocast forward must update as
float32 does up to bfloat16 rounding (0.049 after 3 steps). A check fails when two updates differ by more than its
tolerance of the update's norm, or nothing moved; a wrong sum or a broken cast differs in sign almost everywhere (a
ratio near 1). Prints the figures and a key=value line."""
import os
import subprocess
import sys

import torch

import common as C

STEPS = int(os.environ.get("DEMO_RANKS_STEPS", "3"))
AMP = os.environ.get("DEMO_ASR_AMP", "1")
TOLERANCE = float(os.environ.get("DEMO_RANKS_TOLERANCE", "0.03" if AMP == "1" else "0.01"))
AMP_TOLERANCE = float(os.environ.get("DEMO_RANKS_AMP_TOLERANCE", "0.15"))


def trained(procs, steps, amp=AMP):
    out = f"ranks_check_{procs}_{steps}_{amp}.pt"
    env = dict(os.environ, DEMO_ASR_PROCS=str(procs), DEMO_ASR_STEPS=str(steps), DEMO_ASR_OUT=out,
               DEMO_ASR_EVAL="0", DEMO_ASR_AMP=amp)
    env.pop("DEMO_ASR_INIT", None)
    subprocess.run([sys.executable, "asr.py"], env=env, check=True)
    path = os.path.join(C.WORK, out)
    state = torch.load(path)
    os.remove(path)
    return state


def flat(state):
    return {f"{part}.{k}": v.float() for part in ("model", "intent_head", "ctc_head", "frame_head") if part in state
            for k, v in state[part].items()}


def apart(a, b, start):
    """|update a - update b| / |update a| over every weight, the largest one weight apart (value, name), |update a|."""
    num = sum(float(((a[k] - start[k]) - (b[k] - start[k])).double().pow(2).sum()) for k in a) ** 0.5
    den = sum(float((a[k] - start[k]).double().pow(2).sum()) for k in a) ** 0.5
    worst = max((float((a[k] - b[k]).abs().max()), k) for k in a)
    return num / max(den, 1e-30), worst, den


def main():
    one, two = flat(trained(1, STEPS)), flat(trained(2, STEPS))
    start = flat(trained(1, 0))  # the same seeded initialisation (C.setup seeds torch), no step taken
    assert one.keys() == two.keys() == start.keys()
    # Adam's first steps move every weight by about lr x sign(gradient): where a gradient is near Adam's eps the
    # order of the float sums can move that weight by a fair part of lr, so the check is on the whole update
    diff, worst, den = apart(one, two, start)
    C.log("ranks", f"{STEPS} steps: |update(1 process) - update(2 processes)| / |update| = {diff:.3g} "
                   f"(tolerance {TOLERANCE:g}); the largest one weight apart: {worst[0]:.3g} in {worst[1]}, "
                   f"update norm {den:.3g}")
    ok = diff <= TOLERANCE and den > 0
    amp_diff = 0.0
    if AMP == "1":
        f32 = flat(trained(1, STEPS, amp="0"))
        amp_diff, worst, f32_den = apart(f32, one, start)
        C.log("ranks", f"{STEPS} steps: |update(float32) - update(bfloat16 autocast)| / |update| = {amp_diff:.3g} "
                       f"(tolerance {AMP_TOLERANCE:g}); the largest one weight apart: {worst[0]:.3g} in {worst[1]}")
        ok = ok and amp_diff <= AMP_TOLERANCE and f32_den > 0
    print(f"ranks_check steps={STEPS} relative_update_diff={diff:.3g} amp={AMP} amp_relative_update_diff={amp_diff:.3g} "
          f"ok={str(ok).lower()}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
