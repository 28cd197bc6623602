package dev.omnicall.bridge.media;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class UtteranceSegmenterTest {
    private static final int FRAME = 512;          // 32 ms at 16 kHz
    private static final long FRAME_US = 32_000;
    private static final long T0 = 1_700_000_000_000_000L;

    private final List<Segment> segments = new ArrayList<>();
    private long now = T0;
    private long nextFrameUs = T0;
    private short marker;

    private UtteranceSegmenter segmenter(SegmenterConfig config) {
        return new UtteranceSegmenter(config, () -> now, segments::add);
    }

    /** Feeds frames whose samples are a running counter, so segment contents can be traced back. */
    private void feed(UtteranceSegmenter s, int frames, float probability) {
        for (int i = 0; i < frames; i++) {
            short[] frame = new short[FRAME];
            for (int j = 0; j < FRAME; j++) {
                frame[j] = marker++;
            }
            now = nextFrameUs + FRAME_US + 500; // decisions happen just after the frame is complete
            s.accept(frame, probability, nextFrameUs);
            nextFrameUs += FRAME_US;
        }
    }

    private static short firstSample(Segment s) {
        return (short) ((s.pcm()[0] & 0xFF) | (s.pcm()[1] << 8));
    }

    @Test
    void shouldPublishNothingForSilence() {
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults());
        feed(s, 100, 0.01f);
        assertThat(segments).isEmpty();
    }

    @Test
    void shouldCutUtteranceIntoFixedSegmentsEndingWithEndOfUtterance() {
        // Given 160 ms segments, 300 ms pre-roll, 600 ms end silence
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults());
        feed(s, 20, 0.01f);               // 640 ms of silence
        long speechStartUs = nextFrameUs;
        feed(s, 25, 0.95f);               // 800 ms of speech
        long speechEndUs = nextFrameUs;
        feed(s, 19, 0.02f);               // 608 ms of silence: ends it
        // Then
        assertThat(segments).isNotEmpty();
        assertThat(segments).extracting(Segment::utteranceId).containsOnly(0);
        for (int i = 0; i < segments.size(); i++) {
            assertThat(segments.get(i).seq()).isEqualTo(i);
        }
        Segment last = segments.get(segments.size() - 1);
        assertThat(last.endOfUtterance()).isTrue();
        assertThat(segments.subList(0, segments.size() - 1)).allSatisfy(seg -> {
            assertThat(seg.endOfUtterance()).isFalse();
            assertThat(seg.samples()).isEqualTo(2560);
            assertThat(seg.speechEndUs()).isNull();
        });
        // capture times are contiguous
        for (int i = 1; i < segments.size(); i++) {
            assertThat(segments.get(i).captureStartUs()).isEqualTo(segments.get(i - 1).captureEndUs());
        }
        // pre-roll: the utterance starts ~300 ms (whole frames) before the speech did
        long preRollUs = speechStartUs - segments.get(0).captureStartUs();
        assertThat(preRollUs).isBetween(288_000L, 320_000L);
        // the stamps of the turn
        assertThat(last.speechEndUs()).isEqualTo(speechEndUs);
        assertThat(last.endOfTurnUs()).isEqualTo(now);
        assertThat(last.endOfTurnUs() - last.speechEndUs()).isBetween(600_000L, 640_000L);
        // all audio from pre-roll start to the end decision is there, in order
        int total = segments.stream().mapToInt(Segment::samples).sum();
        assertThat((long) total * 1_000_000 / 16_000).isEqualTo(last.captureEndUs() - segments.get(0).captureStartUs());
        assertThat(firstSample(segments.get(1)) - firstSample(segments.get(0))).isEqualTo(2560);
    }

    @Test
    void shouldMarkSegmentsVoicedAndCarryTheirHighestProbability() {
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults());
        feed(s, 10, 0.01f);
        feed(s, 10, 0.8f);
        feed(s, 5, 0.99f);
        feed(s, 25, 0.01f);
        assertThat(segments).anySatisfy(seg -> assertThat(seg.speechProbability()).isEqualTo(0.99f));
        Segment last = segments.get(segments.size() - 1);
        assertThat(segments.get(0).voiced()).isFalse(); // pre-roll silence
        assertThat(last.voiced()).isFalse();            // trailing silence
        assertThat(segments).anySatisfy(seg -> assertThat(seg.voiced()).isTrue());
    }

    @Test
    void shouldNumberUtterancesOfACallFromZero() {
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults());
        feed(s, 10, 0.9f);
        feed(s, 25, 0.0f);
        feed(s, 10, 0.9f);
        feed(s, 25, 0.0f);
        assertThat(segments.stream().filter(Segment::endOfUtterance)).extracting(Segment::utteranceId)
                .containsExactly(0, 1);
        assertThat(segments.stream().filter(seg -> seg.utteranceId() == 1).findFirst().orElseThrow().seq()).isZero();
    }

    @Test
    void shouldIgnoreAClickShorterThanMinimumSpeech() {
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults()); // 64 ms = 2 frames
        feed(s, 10, 0.0f);
        feed(s, 1, 0.99f);
        feed(s, 40, 0.0f);
        assertThat(segments).isEmpty();
    }

    @Test
    void shouldNotEndUtteranceOnAPauseShorterThanTheEndSilence() {
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults());
        feed(s, 10, 0.9f);
        feed(s, 15, 0.0f); // 480 ms < 600 ms
        feed(s, 10, 0.9f);
        assertThat(segments).noneMatch(Segment::endOfUtterance);
        feed(s, 19, 0.0f);
        assertThat(segments.stream().filter(Segment::endOfUtterance)).hasSize(1);
        assertThat(segments).extracting(Segment::utteranceId).containsOnly(0);
    }

    @Test
    void shouldTreatProbabilityBetweenThresholdsAsContinuingSpeech() {
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults()); // start 0.5, end 0.35
        feed(s, 5, 0.9f);
        feed(s, 40, 0.4f); // hysteresis: still speech
        assertThat(segments).noneMatch(Segment::endOfUtterance);
    }

    @Test
    void shouldEndAnUtteranceThatReachesMaximumLength() {
        SegmenterConfig config = new SegmenterConfig(200, 0, 600, 0.5f, 0.35f, 0, 1000);
        UtteranceSegmenter s = segmenter(config);
        feed(s, 40, 0.9f);
        Segment eou = segments.stream().filter(Segment::endOfUtterance).findFirst().orElseThrow();
        assertThat(eou.captureEndUs() - segments.get(0).captureStartUs()).isBetween(1_000_000L, 1_032_000L);
    }

    @Test
    void shouldDropPartialUtteranceOnReset() {
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults());
        feed(s, 10, 0.9f);
        int before = segments.size();
        s.reset();
        feed(s, 30, 0.0f);
        assertThat(segments).hasSize(before);
        assertThat(s.inUtterance()).isFalse();
    }
}
