package dev.omnicall.model.omni;

import dev.omnicall.model.stream.AudioPiece;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Vocodes a turn chunk by chunk with smooth seams. Each chunk is synthesised behind the last few units
 * of the previous one (left context, with the durations those units already had, so the audio stays
 * aligned); the context's audio is not emitted again, except for a short stretch at its end that is
 * crossfaded with the tail the previous chunk held back. Every unit is voiced exactly once.
 */
public final class StreamingVocoder {
    private final UnitVocoder vocoder;
    private final int contextUnits;
    private final int fade;
    private int[] units = new int[0];
    private int[] durations = new int[0];
    private float[] heldBack = new float[0];
    private int seq;

    public StreamingVocoder(UnitVocoder vocoder, int contextUnits, int crossfadeSamples) {
        this.vocoder = vocoder;
        this.contextUnits = contextUnits;
        this.fade = contextUnits == 0 ? 0 : crossfadeSamples;
    }

    /** Durations (frames of hop samples) each vocoded unit got. */
    public int[] durations() {
        return durations.clone();
    }

    /** Units vocoded so far. */
    public int[] units() {
        return units.clone();
    }

    /** Vocodes newUnits (may be empty on the last call) and returns the audio that is final now. */
    public AudioPiece push(int[] newUnits, boolean last) {
        Job job = prepare(newUnits, last);
        return finish(job, job.input.length == 0 ? null : vocoder.synthesize(job.input, job.contextDurations));
    }

    /**
     * The pushes of several turns' vocoders (one step's due chunks) with their syntheses in one padded forward
     * ({@link UnitVocoder#synthesizeAll}); each piece as {@link #push} would give it (float32 rounding aside; tested).
     */
    public static List<AudioPiece> pushAll(List<StreamingVocoder> vocoders, List<int[]> newUnits, List<Boolean> last) {
        List<Job> jobs = new ArrayList<>(vocoders.size());
        List<int[]> inputs = new ArrayList<>();
        List<int[]> prefixes = new ArrayList<>();
        for (int i = 0; i < vocoders.size(); i++) {
            Job job = vocoders.get(i).prepare(newUnits.get(i), last.get(i));
            jobs.add(job);
            if (job.input.length > 0) {
                inputs.add(job.input);
                prefixes.add(job.contextDurations);
            }
        }
        // one sequence: the plain forward (no padding, no masks), as push does
        List<UnitVocoder.Synthesis> syn = inputs.isEmpty() ? List.of()
                : inputs.size() == 1 ? List.of(vocoders.get(0).vocoder.synthesize(inputs.get(0), prefixes.get(0)))
                : vocoders.get(0).vocoder.synthesizeAll(inputs, prefixes);
        List<AudioPiece> out = new ArrayList<>(jobs.size());
        int k = 0;
        for (int i = 0; i < jobs.size(); i++) {
            Job job = jobs.get(i);
            out.add(vocoders.get(i).finish(job, job.input.length == 0 ? null : syn.get(k++)));
        }
        return out;
    }

    /** One push's synthesis request: context + new units (empty: nothing to synthesise), the context's durations. */
    private record Job(int[] input, int[] contextDurations, int contextCount, int[] newUnits, boolean last) {
    }

    private Job prepare(int[] newUnits, boolean last) {
        if (newUnits.length == 0) {
            return new Job(new int[0], new int[0], 0, newUnits, last);
        }
        int contextCount = Math.min(contextUnits, units.length);
        int[] context = Arrays.copyOfRange(units, units.length - contextCount, units.length);
        int[] contextDurations = Arrays.copyOfRange(durations, durations.length - contextCount, durations.length);
        return new Job(concat(context, newUnits), contextDurations, contextCount, newUnits, last);
    }

    private AudioPiece finish(Job job, UnitVocoder.Synthesis syn) {
        int[] newUnits = job.newUnits();
        boolean last = job.last();
        float[] out;
        if (syn == null) {
            // nothing new: release the held-back tail
            out = heldBack;
            heldBack = new float[0];
        } else {
            int contextCount = job.contextCount();
            // context + new units were synthesised, context keeping its durations
            float[] wave = syn.audio();
            int contextSamples = syn.samplesOf(contextCount, vocoder.hop());
            // crossfade the held-back tail with the same stretch re-synthesised with right context
            int overlap = Math.min(heldBack.length, contextSamples);
            float[] faded = Arrays.copyOf(heldBack, heldBack.length);
            for (int j = 0; j < overlap; j++) {
                int k = heldBack.length - overlap + j;
                float r = (j + 0.5f) / overlap;
                faded[k] = heldBack[k] * (1 - r) + wave[contextSamples - overlap + j] * r;
            }
            // emit the new units' audio, holding back the last stretch unless this is the end
            int holdFrom = last ? wave.length : Math.max(contextSamples, wave.length - fade);
            out = concat(faded, Arrays.copyOfRange(wave, contextSamples, holdFrom));
            heldBack = Arrays.copyOfRange(wave, holdFrom, wave.length);
            units = concat(units, newUnits);
            durations = concat(durations, Arrays.copyOfRange(syn.durations(), contextCount, syn.durations().length));
        }
        if (last && heldBack.length > 0) {
            out = concat(out, heldBack);
            heldBack = new float[0];
        }
        return new AudioPiece(toPcm(out), vocoder.config().samplingRate(), newUnits.length, seq++, last);
    }

    static short[] toPcm(float[] audio) {
        short[] pcm = new short[audio.length];
        for (int i = 0; i < audio.length; i++) {
            float v = Math.max(-1f, Math.min(1f, audio[i]));
            pcm[i] = (short) Math.round(v * 32767f);
        }
        return pcm;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
