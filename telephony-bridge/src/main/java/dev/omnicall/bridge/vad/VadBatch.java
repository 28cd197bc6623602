package dev.omnicall.bridge.vad;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Lock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Silero frames due from many calls, run as one ONNX Runtime run ({@link SileroModel#speechProbabilities}) per
 * model and up to {@value #MAX_BATCH} calls. Each RTP receive thread owns one: while it works through the datagrams
 * of a turn of its selector, every call that completes a 512-sample frame the energy gate lets through queues it here
 * (at most one frame per call: a call that needs the answer before the next frame runs the batch first); at the end
 * of the turn the thread runs the batch and each call goes on with its probability (segmenter, barge-in), in its own
 * order. A call whose gate just opened first replays the skipped run-up to the onset ({@link BatchableVad#takeWarmUp});
 * those frames run batched as well, in rounds (round r: step r of every call that has one).
 *
 * <p>Not thread-safe: one receive thread's. {@code VadBatchTest} checks the probabilities and speech/silence
 * decisions against each call's own runs.
 */
public final class VadBatch {
    private static final Logger LOG = LoggerFactory.getLogger(VadBatch.class);
    static final int MAX_BATCH = 512;
    private static final ThreadLocal<VadBatch> CURRENT = new ThreadLocal<>();

    /** A call with a frame queued. */
    public interface Member {
        /** The call's lock, held while its frame runs and its answer is applied (a hold or hang-up waits). */
        Lock lock();

        /** The call's VAD; its {@link BatchableVad#gate} returned NaN for {@link #frame()}. */
        BatchableVad vad();

        /** The frame queued, or null when it was dropped (hold, close) after queueing. */
        short[] frame();

        /** The model's probability for the frame; the call goes on (under its lock). */
        void answered(float p);
    }

    private final int maxBatch;
    private final Runnable betweenRuns;
    private final List<Member> queued = new ArrayList<>();
    // written by the owning thread only; volatile so the benchmark can read them
    private volatile long runs;
    private volatile long frames;

    /** Batches of at most {@value #MAX_BATCH} calls, nothing between runs. */
    public VadBatch() {
        this(MAX_BATCH, () -> { });
    }

    /**
     * Batches of at most {@code maxBatch} calls; {@code betweenRuns} runs after each run of up to {@code maxBatch}
     * calls, holding none of their locks (a receive thread sends the pacer's overdue ticks there: a run of 512 frames
     * holds the thread ~17 ms at 8 kHz; a call that settles its own frame first still holds its own lock).
     */
    public VadBatch(int maxBatch, Runnable betweenRuns) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("a VAD batch holds at least one call, not " + maxBatch);
        }
        this.maxBatch = maxBatch;
        this.betweenRuns = betweenRuns;
    }

    /** System property {@code omnicall.vad.max-batch} (calls per Silero run), default {@value #MAX_BATCH}. */
    public static int maxBatchFromProperty() {
        return Integer.getInteger("omnicall.vad.max-batch", MAX_BATCH);
    }

    /** The batch of the current thread (a receive thread's), or null: then each call runs its own frames. */
    public static VadBatch current() {
        return CURRENT.get();
    }

    /** Makes {@code batch} the current thread's. */
    public static void bind(VadBatch batch) {
        CURRENT.set(batch);
    }

    public void add(Member m) {
        queued.add(m);
    }

    public boolean isEmpty() {
        return queued.isEmpty();
    }

    /** Runs every queued frame (one run per model and {@code maxBatch} calls) and gives each call its answer. */
    public void run() {
        while (!queued.isEmpty()) {
            // a member's answer may queue a frame again (a call that settles): take what is queued now
            List<Member> now = new ArrayList<>(queued);
            queued.clear();
            Map<SileroModel, List<Member>> byModel = new IdentityHashMap<>();
            Map<Member, Boolean> seen = new IdentityHashMap<>();
            for (Member m : now) {
                if (seen.put(m, Boolean.TRUE) != null) {
                    continue; // queued again after its frame was dropped (hold): one frame a call
                }
                byModel.computeIfAbsent(m.vad().silero().model(), k -> new ArrayList<>()).add(m);
            }
            for (Map.Entry<SileroModel, List<Member>> e : byModel.entrySet()) {
                List<Member> all = e.getValue();
                for (int from = 0; from < all.size(); from += maxBatch) {
                    runLocked(e.getKey(), all.subList(from, Math.min(all.size(), from + maxBatch)));
                    betweenRuns.run();
                }
            }
        }
    }

    private void runLocked(SileroModel model, List<Member> members) {
        List<Member> locked = new ArrayList<>(members.size());
        try {
            for (Member m : members) {
                m.lock().lock();
                locked.add(m);
            }
            List<Member> live = new ArrayList<>(members.size());
            for (Member m : members) {
                if (m.frame() != null) {
                    live.add(m);
                }
            }
            if (live.isEmpty()) {
                return;
            }
            // each call's steps: the run-up a gate that just opened replays, then the frame; round r runs step r of
            // every call that has one (most calls have one step; the last step's answer is the call's)
            int n = live.size();
            short[][][] steps = new short[n][][];
            int rounds = 0;
            for (int i = 0; i < n; i++) {
                short[][] warm = live.get(i).vad().takeWarmUp();
                steps[i] = java.util.Arrays.copyOf(warm, warm.length + 1);
                steps[i][warm.length] = live.get(i).frame();
                rounds = Math.max(rounds, steps[i].length);
            }
            float[] p = new float[n];
            boolean[] failed = new boolean[n];
            for (int round = 0; round < rounds; round++) {
                List<Integer> in = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    if (!failed[i] && steps[i].length > round) {
                        in.add(i);
                    }
                }
                if (in.isEmpty()) {
                    break;
                }
                SileroVad[] vads = new SileroVad[in.size()];
                short[][] frames = new short[in.size()][];
                for (int j = 0; j < vads.length; j++) {
                    vads[j] = live.get(in.get(j)).vad().silero();
                    frames[j] = steps[in.get(j)][round];
                }
                float[] out;
                try {
                    out = model.speechProbabilities(vads, frames);
                } catch (Exception | LinkageError e) {
                    // as one call's failed run: silence, and the state starts over (a VAD error must not stop calls)
                    LOG.warn("batched Silero run of {} calls failed; their frames count as silence: {}", vads.length,
                            e.toString());
                    out = new float[vads.length];
                    for (int j = 0; j < vads.length; j++) {
                        vads[j].batchFailed();
                        failed[in.get(j)] = true;
                    }
                }
                runs++;
                this.frames += vads.length;
                for (int j = 0; j < vads.length; j++) {
                    p[in.get(j)] = out[j];
                }
            }
            for (int i = 0; i < n; i++) {
                Member m = live.get(i);
                try {
                    m.answered(failed[i] ? 0f : p[i]);
                } catch (RuntimeException e) {
                    LOG.warn("a call failed on its VAD answer; the others go on", e);
                }
            }
        } finally {
            for (Member m : locked) {
                m.lock().unlock();
            }
        }
    }

    /** Model runs so far. */
    public long runs() {
        return runs;
    }

    /** Frames run so far (runs × calls per run). */
    public long frames() {
        return frames;
    }
}
