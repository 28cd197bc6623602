package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * Mel → 24 kHz audio for one reply, a chunk at a time, with the reference's caches
 * ({@code token2wav} in LLaMA-Omni2's flow_inference.py, CHECKPOINT-OMNI2.md "Streaming schedule"):
 * every call vocodes the previous call's last {@value #CACHE_FRAMES} mel frames again in front of the new
 * ones, cross-fades the first 3840 samples with the 3840 it held back last time (numpy's Hamming window of
 * 7680, as the reference), and holds back its own last 3840 samples (160 ms); {@link #finish} flushes.
 * Total: 480 samples per mel frame. The work per call is the cached plus the new frames.
 *
 * <p>Where this differs from the reference: the sine source is one continuous source across calls. The
 * reference restarts every call's phase sum at 0 and pastes the cached source over the head, so the phase
 * jumps one cache length in. Here each frame's source is made once, when its f0 is final (the f0
 * predictor's 5 convolutions k3 reach {@value #F0_REACH} frames either side: a frame is final once that
 * many frames follow it, or at the end), continuing the running phase of every harmonic (carried in
 * double) and the noise at the absolute sample; the few frames still waiting for their right context get a
 * provisional source that only reaches held-back audio. So the source equals the whole reply's source;
 * the audio differs from the whole reply's only around the seams (the decoder sees at most the cache on
 * the left, nothing beyond the chunk on the right, and the cross-fade mixes the two versions).
 */
public final class StreamingHift {
    /** Mel frames vocoded again at the start of each call (the reference's mel_cache_len). */
    public static final int CACHE_FRAMES = 8;
    /** Frames on either side that one f0 value depends on (5 convolutions of kernel 3). */
    public static final int F0_REACH = 5;
    /** Mel frames the f0 predictor sees before the new ones, so that the cached frames' f0 is final. */
    private static final int F0_HISTORY = Math.max(CACHE_FRAMES, 2 * F0_REACH);

    private final HiftVocoder hift;
    private final NDManager manager;
    private final int melBins;
    private final int perFrame;
    private final int overlap; // samples cross-faded and held back: CACHE_FRAMES · 480
    private final float[] fadeIn; // window[:overlap]
    private final float[] fadeOut; // window[overlap:]
    private final double[] phaseTurns; // each sine's running phase at the first frame without a final source
    private float[] history = new float[0]; // the last ≤ F0_HISTORY mel frames, [melBins, historyFrames]
    private int historyFrames;
    private float[] pending = new float[0]; // frames waiting for a call big enough to run
    private int pendingFrames;
    private long frames; // mel frames vocoded so far
    private long sourceFrames; // frames whose source is final
    private float[] finalSource = new float[0]; // the final source of frames [frames − CACHE_FRAMES, sourceFrames)
    private float[] heldTail = new float[0];
    private boolean finished;
    private int lastFrames;

    public StreamingHift(HiftVocoder hift, NDManager manager) {
        this.hift = hift;
        this.manager = manager;
        this.melBins = hift.config().melBins();
        this.perFrame = hift.config().samplesPerFrame();
        this.overlap = CACHE_FRAMES * perFrame;
        double[] window = hamming(2 * overlap);
        fadeIn = new float[overlap];
        fadeOut = new float[overlap];
        for (int i = 0; i < overlap; i++) {
            fadeIn[i] = (float) window[i];
            fadeOut[i] = (float) window[overlap + i];
        }
        phaseTurns = new double[hift.config().harmonics() + 1];
    }

    /** numpy.hamming(n): 0.54 − 0.46·cos(2πi/(n − 1)), symmetric. */
    static double[] hamming(int n) {
        double[] w = new double[n];
        for (int i = 0; i < n; i++) {
            w[i] = 0.54 - 0.46 * Math.cos(2 * Math.PI * i / (n - 1));
        }
        return w;
    }

    /** New mel [melBins, n] row-major → the audio that is ready (may be empty). */
    public float[] push(float[] mel, int n) {
        queue(mel, n);
        if (pendingFrames < CACHE_FRAMES) {
            // too short to hold a tail back: wait for more (the reference would break here)
            lastFrames = 0;
            return new float[0];
        }
        return run(false);
    }

    /** The last mel of the reply (maybe none) → everything not emitted yet. */
    public float[] finish(float[] mel, int n) {
        queue(mel, n);
        float[] out = pendingFrames == 0 ? flushTail() : run(true);
        finished = true;
        return out;
    }

    /** Mel frames the last call vocoded (cached + new; 0 when it only queued). */
    public int lastFrames() {
        return lastFrames;
    }

    private void queue(float[] mel, int n) {
        if (finished) {
            throw new IllegalStateException("the reply was finished; start a new stream");
        }
        if (mel.length != (long) melBins * n) {
            throw new IllegalArgumentException(mel.length + " mel values for " + n + " frames of " + melBins + " bins");
        }
        pending = concatFrames(pending, pendingFrames, mel, n);
        pendingFrames += n;
    }

    private float[] flushTail() {
        float[] out = heldTail;
        heldTail = new float[0];
        lastFrames = 0;
        return out;
    }

    private float[] run(boolean last) {
        int n = pendingFrames;
        float[] mel = pending;
        pending = new float[0];
        pendingFrames = 0;
        try (NDManager scope = manager.newSubManager()) {
            // f0 over [history | new]; a frame's f0 is final with F0_REACH frames after it (or at the end)
            NDArray withHistory = scope.create(concatFrames(history, historyFrames, mel, n),
                    new Shape(melBins, historyFrames + n));
            NDArray f0 = hift.predictF0(withHistory);
            long end = frames + n;
            long finalEnd = last ? end : end - F0_REACH;
            long historyStart = frames - historyFrames;
            // the source: final for [sourceFrames, finalEnd) continuing the phase, provisional after it
            NDArray fresh = hift.source(f0.get(new NDIndex("{}:{}", sourceFrames - historyStart, finalEnd - historyStart)),
                    sourceFrames * perFrame, phaseTurns);
            float[] freshValues = fresh.toFloatArray();
            float[] provisional = new float[0];
            if (finalEnd < end) {
                provisional = hift.source(f0.get(new NDIndex("{}:", finalEnd - historyStart)), finalEnd * perFrame,
                        phaseTurns.clone()).toFloatArray();
            }
            // vocode [cache | new] with the source of those frames
            int cached = (int) Math.min(CACHE_FRAMES, frames);
            float[] decodeMel = concatFrames(lastFrames(history, historyFrames, cached), cached, mel, n);
            float[] source = concat(concat(finalSource, freshValues), provisional);
            float[] audio = hift.decode(scope.create(decodeMel, new Shape(melBins, cached + n)),
                    scope.create(source)).toFloatArray();
            return settle(audio, mel, n, cached, freshValues, finalEnd, last);
        }
    }

    /** After a call vocoded [cache | new]: cross-fade, hold the tail back, keep what the next call needs. */
    private float[] settle(float[] audio, float[] mel, int n, int cached, float[] freshValues, long finalEnd,
            boolean last) {
        long end = frames + n;
        lastFrames = cached + n;
        // cross-fade the head with the held tail
        if (heldTail.length > 0) {
            for (int i = 0; i < overlap; i++) {
                audio[i] = audio[i] * fadeIn[i] + heldTail[i] * fadeOut[i];
            }
        }
        frames = end;
        if (last) {
            heldTail = new float[0];
            return audio;
        }
        // keep what the next call needs
        float[] allFinal = concat(finalSource, freshValues);
        long keepFrom = Math.max(0, end - CACHE_FRAMES); // the next call's first frame
        finalSource = Arrays.copyOfRange(allFinal, (int) ((keepFrom - (end - n - cached)) * perFrame),
                allFinal.length);
        sourceFrames = finalEnd;
        float[] all = concatFrames(history, historyFrames, mel, n);
        int keep = (int) Math.min(F0_HISTORY, historyFrames + n);
        history = lastFrames(all, historyFrames + n, keep);
        historyFrames = keep;
        heldTail = Arrays.copyOfRange(audio, audio.length - overlap, audio.length);
        return Arrays.copyOf(audio, audio.length - overlap);
    }

    /**
     * {@link #push} for several replies at once (same vocoder): → each reply's audio, as its own push would give
     * (within float rounding); the calls that run go through one padded f0 predictor, one source batch (the final
     * and the provisional pieces of all) and one padded decode.
     */
    public static List<float[]> pushAll(List<StreamingHift> hifts, List<float[]> mels) {
        return pushAll(hifts, mels, LengthGroups.single());
    }

    /**
     * {@link #pushAll} with the calls that run cut into batches of similar length ({@code groups}, by the frames each
     * decodes: the cached and the new): the three stages once per batch.
     */
    public static List<float[]> pushAll(List<StreamingHift> hifts, List<float[]> mels, LengthGroups groups) {
        List<float[]> out = new ArrayList<>(Collections.nCopies(hifts.size(), new float[0]));
        List<Integer> rows = new ArrayList<>();
        for (int i = 0; i < hifts.size(); i++) {
            StreamingHift h = hifts.get(i);
            h.queue(mels.get(i), mels.get(i).length / h.melBins);
            if (h.pendingFrames < CACHE_FRAMES) {
                h.lastFrames = 0; // too short to hold a tail back: wait for more
            } else {
                rows.add(i);
            }
        }
        runAll(hifts, rows, false, out, groups);
        return out;
    }

    /** {@link #finish} for several replies at once, batched as {@link #pushAll}. */
    public static List<float[]> finishAll(List<StreamingHift> hifts, List<float[]> mels) {
        return finishAll(hifts, mels, LengthGroups.single());
    }

    /** {@link #finishAll} with the calls that run cut into batches of similar length, as {@link #pushAll}. */
    public static List<float[]> finishAll(List<StreamingHift> hifts, List<float[]> mels, LengthGroups groups) {
        List<float[]> out = new ArrayList<>(Collections.nCopies(hifts.size(), new float[0]));
        List<Integer> rows = new ArrayList<>();
        for (int i = 0; i < hifts.size(); i++) {
            StreamingHift h = hifts.get(i);
            h.queue(mels.get(i), mels.get(i).length / h.melBins);
            if (h.pendingFrames == 0) {
                out.set(i, h.flushTail());
            } else {
                rows.add(i);
            }
        }
        runAll(hifts, rows, true, out, groups);
        hifts.forEach(h -> h.finished = true);
        return out;
    }

    /**
     * {@link #run} for the given rows in the batches {@code groups} cuts them into by the frames each decodes (cached
     * + new); each row's audio into {@code out}.
     */
    private static void runAll(List<StreamingHift> hifts, List<Integer> rows, boolean last, List<float[]> out,
            LengthGroups groups) {
        int[] lengths = new int[rows.size()];
        for (int r = 0; r < lengths.length; r++) {
            StreamingHift h = hifts.get(rows.get(r));
            lengths[r] = (int) Math.min(CACHE_FRAMES, h.frames) + h.pendingFrames;
        }
        for (int[] batch : groups.split(lengths)) {
            List<Integer> batchRows = new ArrayList<>(batch.length);
            for (int r : batch) {
                batchRows.add(rows.get(r));
            }
            runBatch(hifts, batchRows, last, out);
        }
    }

    /** {@link #run} for the given rows as one padded batch per stage; each row's audio into {@code out}. */
    private static void runBatch(List<StreamingHift> hifts, List<Integer> rows, boolean last, List<float[]> out) {
        StreamingHift lead = hifts.get(rows.get(0));
        HiftVocoder hift = lead.hift;
        int b = rows.size();
        int perFrame = lead.perFrame;
        float[][] mel = new float[b][];
        int[] n = new int[b];
        List<float[]> withHistory = new ArrayList<>(b);
        int[] historyLengths = new int[b];
        for (int r = 0; r < b; r++) {
            StreamingHift h = hifts.get(rows.get(r));
            if (h.hift != hift) {
                throw new IllegalArgumentException("streams of different vocoders cannot share a batch");
            }
            n[r] = h.pendingFrames;
            mel[r] = h.pending;
            h.pending = new float[0];
            h.pendingFrames = 0;
            withHistory.add(h.concatFrames(h.history, h.historyFrames, mel[r], n[r]));
            historyLengths[r] = h.historyFrames + n[r];
        }
        try (NDManager scope = lead.manager.newSubManager()) {
            // f0 over [history | new] of every row; a frame's f0 is final with F0_REACH frames after it (or at the end)
            float[] f0 = hift.predictF0All(scope, withHistory, historyLengths).toFloatArray();
            int f0Width = Arrays.stream(historyLengths).max().orElseThrow();
            // the sources: final for [sourceFrames, finalEnd) continuing the phase, provisional after it
            List<float[]> pieces = new ArrayList<>(2 * b);
            List<double[]> starts = new ArrayList<>(2 * b);
            long[] firstSamples = new long[2 * b];
            int[] provisionalAt = new int[b];
            long[] finalEnds = new long[b];
            for (int r = 0; r < b; r++) {
                StreamingHift h = hifts.get(rows.get(r));
                long end = h.frames + n[r];
                finalEnds[r] = last ? end : end - F0_REACH;
                long historyStart = h.frames - h.historyFrames;
                int rowStart = r * f0Width;
                float[] fresh = Arrays.copyOfRange(f0, rowStart + (int) (h.sourceFrames - historyStart),
                        rowStart + (int) (finalEnds[r] - historyStart));
                firstSamples[pieces.size()] = h.sourceFrames * perFrame;
                starts.add(h.phaseTurns.clone());
                pieces.add(fresh);
                hift.advance(h.phaseTurns, fresh, perFrame);
                provisionalAt[r] = -1;
                if (finalEnds[r] < end) {
                    provisionalAt[r] = pieces.size();
                    firstSamples[pieces.size()] = finalEnds[r] * perFrame;
                    starts.add(h.phaseTurns.clone());
                    pieces.add(Arrays.copyOfRange(f0, rowStart + (int) (finalEnds[r] - historyStart),
                            rowStart + historyLengths[r]));
                }
            }
            float[][] sources = hift.sourceAll(scope, pieces, Arrays.copyOf(firstSamples, pieces.size()), starts);
            // vocode [cache | new] of every row with the source of those frames
            List<float[]> decodeMels = new ArrayList<>(b);
            List<float[]> decodeSources = new ArrayList<>(b);
            int[] cached = new int[b];
            int[] decodeFrames = new int[b];
            float[][] freshValues = new float[b][];
            int piece = 0;
            for (int r = 0; r < b; r++) {
                StreamingHift h = hifts.get(rows.get(r));
                cached[r] = (int) Math.min(CACHE_FRAMES, h.frames);
                decodeFrames[r] = cached[r] + n[r];
                decodeMels.add(h.concatFrames(h.lastFrames(h.history, h.historyFrames, cached[r]), cached[r], mel[r],
                        n[r]));
                freshValues[r] = sources[piece++];
                float[] provisional = provisionalAt[r] < 0 ? new float[0] : sources[piece++];
                decodeSources.add(concat(concat(h.finalSource, freshValues[r]), provisional));
            }
            float[][] audio = hift.decodeAll(scope, decodeMels, decodeSources, decodeFrames);
            for (int r = 0; r < b; r++) {
                StreamingHift h = hifts.get(rows.get(r));
                out.set(rows.get(r), h.settle(audio[r], mel[r], n[r], cached[r], freshValues[r], finalEnds[r], last));
            }
        }
    }

    /** [melBins, a] | [melBins, b] → [melBins, a + b], row-major. */
    private float[] concatFrames(float[] a, int aFrames, float[] b, int bFrames) {
        int total = aFrames + bFrames;
        float[] out = new float[melBins * total];
        for (int bin = 0; bin < melBins; bin++) {
            System.arraycopy(a, bin * aFrames, out, bin * total, aFrames);
            System.arraycopy(b, bin * bFrames, out, bin * total + aFrames, bFrames);
        }
        return out;
    }

    /** The last {@code keep} frames of [melBins, frames]. */
    private float[] lastFrames(float[] x, int xFrames, int keep) {
        float[] out = new float[melBins * keep];
        for (int bin = 0; bin < melBins; bin++) {
            System.arraycopy(x, bin * xFrames + xFrames - keep, out, bin * keep, keep);
        }
        return out;
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
