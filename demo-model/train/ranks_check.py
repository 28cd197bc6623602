"""asr.py in two training processes against one (C.run_ranks): a few steps of each from the same start, on this
work directory's features (`train.sh --smoke` runs it on the smoke data). Two processes split every batch's rows and
sum their gradients, so their updates must equal one process's up to the order of float sums; the check fails
when the two updates differ by more than TOLERANCE of the update's norm, or nothing moved. Prints the figures and a
key=value line."""
import os
import subprocess
import sys

import torch

import common as C

STEPS = int(os.environ.get("DEMO_RANKS_STEPS", "3"))
TOLERANCE = float(os.environ.get("DEMO_RANKS_TOLERANCE", "0.01"))


def trained(procs, steps):
    out = f"ranks_check_{procs}_{steps}.pt"
    env = dict(os.environ, DEMO_ASR_PROCS=str(procs), DEMO_ASR_STEPS=str(steps), DEMO_ASR_OUT=out,
               DEMO_ASR_EVAL="0")
    env.pop("DEMO_ASR_INIT", None)
    subprocess.run([sys.executable, "asr.py"], env=env, check=True)
    path = os.path.join(C.WORK, out)
    state = torch.load(path)
    os.remove(path)
    return state


def flat(state):
    return {f"{part}.{k}": v.float() for part in ("model", "intent_head", "ctc_head", "frame_head") if part in state
            for k, v in state[part].items()}


def main():
    one, two = flat(trained(1, STEPS)), flat(trained(2, STEPS))
    start = flat(trained(1, 0))  # the same seeded initialisation (C.setup seeds torch), no step taken
    assert one.keys() == two.keys() == start.keys()
    # Adam's first steps move every weight by about lr x sign(gradient): where a gradient is near Adam's eps the
    # order of the float sums can move that weight by a fair part of lr, so the check is on the whole update: the
    # norm of (1 process's update - 2 processes' update) over the norm of the update (a wrong sum, e.g. each process
    # updating on its own rows, differs in sign almost everywhere: a ratio near 1)
    num = sum(float(((one[k] - start[k]) - (two[k] - start[k])).double().pow(2).sum()) for k in one) ** 0.5
    den = sum(float((one[k] - start[k]).double().pow(2).sum()) for k in one) ** 0.5
    diff = num / max(den, 1e-30)
    worst = max((float((one[k] - two[k]).abs().max()), k) for k in one)
    C.log("ranks", f"{STEPS} steps: |update(1 process) - update(2 processes)| / |update| = {diff:.3g} "
                   f"(tolerance {TOLERANCE:g}); the largest one weight apart: {worst[0]:.3g} in {worst[1]}, "
                   f"update norm {den:.3g}")
    ok = diff <= TOLERANCE and den > 0
    print(f"ranks_check steps={STEPS} relative_update_diff={diff:.3g} ok={str(ok).lower()}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
