package dev.omnicall.model.omni;

import dev.omnicall.model.stream.TranscriptionOptions;

/**
 * Streaming settings. schedule: Ω per chunk. maxNewTokens: hard stop for a reply. vocoderContextUnits:
 * units of the previous chunk re-synthesised (with their old durations) in front of a new chunk so the
 * convolutions see left context. crossfadeSamples: the tail of each chunk held back and crossfaded with
 * the same stretch re-synthesised by the next chunk (0 with no context). transcription: the caller's words
 * from the turn's encoder output (needs a {@link dev.omnicall.model.stream.CallerDecoder}). Defaults: Ω 10,20,40,80; 512 tokens;
 * 4 units; 320 samples (20 ms); transcription off.
 */
public record GenerationOptions(ChunkSchedule schedule, int maxNewTokens, int vocoderContextUnits,
        int crossfadeSamples, TranscriptionOptions transcription) {

    public GenerationOptions(ChunkSchedule schedule, int maxNewTokens, int vocoderContextUnits, int crossfadeSamples) {
        this(schedule, maxNewTokens, vocoderContextUnits, crossfadeSamples, TranscriptionOptions.off());
    }

    public GenerationOptions {
        if (transcription == null) {
            transcription = TranscriptionOptions.off();
        }
        if (schedule == null) {
            throw new IllegalArgumentException("schedule is required");
        }
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("maxNewTokens must be >= 1, got " + maxNewTokens);
        }
        if (vocoderContextUnits < 0 || crossfadeSamples < 0) {
            throw new IllegalArgumentException("vocoderContextUnits and crossfadeSamples must be >= 0");
        }
        if (crossfadeSamples > 0 && vocoderContextUnits == 0) {
            throw new IllegalArgumentException("crossfadeSamples needs vocoderContextUnits >= 1 (the crossfade "
                    + "overlaps re-synthesised context)");
        }
    }

    public static GenerationOptions defaults() {
        return new GenerationOptions(ChunkSchedule.parse("10,20,40,80"), 512, 4, 320);
    }

    public GenerationOptions withSchedule(ChunkSchedule s) {
        return new GenerationOptions(s, maxNewTokens, vocoderContextUnits, crossfadeSamples, transcription);
    }

    public GenerationOptions withMaxNewTokens(int n) {
        return new GenerationOptions(schedule, n, vocoderContextUnits, crossfadeSamples, transcription);
    }

    public GenerationOptions withSeams(int contextUnits, int fadeSamples) {
        return new GenerationOptions(schedule, maxNewTokens, contextUnits, fadeSamples, transcription);
    }

    public GenerationOptions withTranscription(TranscriptionOptions t) {
        return new GenerationOptions(schedule, maxNewTokens, vocoderContextUnits, crossfadeSamples, t);
    }
}
