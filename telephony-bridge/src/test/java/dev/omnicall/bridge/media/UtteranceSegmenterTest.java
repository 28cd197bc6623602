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

    private final List<String> speculation = new ArrayList<>();
    private final List<EndOfTurnEstimator.Decision> waits = new ArrayList<>();

    private UtteranceSegmenter segmenter(SegmenterConfig config) {
        return new UtteranceSegmenter(config, () -> now, segments::add, new UtteranceSegmenter.SpeculationListener() {
            @Override
            public void confirmed(int turnId, long tentativeEndUs, long confirmedUs) {
                speculation.add("confirmed " + turnId);
            }

            @Override
            public void cancelled(int turnId, long tentativeEndUs, long cancelledUs) {
                speculation.add("cancelled " + turnId);
            }

            @Override
            public void endOfTurn(int turnId, EndOfTurnEstimator.Decision decision) {
                waits.add(decision);
            }
        });
    }

    /** All samples of an utterance's segments, in seq order. */
    private List<Short> samplesOf(int utteranceId) {
        List<Short> out = new ArrayList<>();
        for (Segment seg : segments) {
            if (seg.utteranceId() == utteranceId) {
                for (int i = 0; i < seg.pcm().length; i += 2) {
                    out.add((short) ((seg.pcm()[i] & 0xFF) | (seg.pcm()[i + 1] << 8)));
                }
            }
        }
        return out;
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

    // ---- speculative turns ----------------------------------------------------------------------------

    @Test
    void shouldEndTentativelyAfterTheShortPauseThenConfirmAtTheFullSilence() {
        // Given speculation after 192 ms of silence, 600 ms to end a turn
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults().withSpeculativeSilenceMs(192));
        feed(s, 20, 0.01f);
        feed(s, 25, 0.95f);
        long speechEndUs = nextFrameUs;
        // When 6 silent frames (192 ms) follow
        feed(s, 6, 0.02f);
        // Then the utterance ended tentatively: its last segment is a speculative end with the turn's stamps
        Segment end = segments.get(segments.size() - 1);
        assertThat(end.endOfUtterance()).isTrue();
        assertThat(end.speculative()).isTrue();
        assertThat(end.speechEndUs()).isEqualTo(speechEndUs);
        assertThat(end.endOfTurnUs() - end.speechEndUs()).isBetween(192_000L, 224_000L);
        assertThat(s.tentative()).isTrue();
        int published = segments.size();
        // When the silence goes on to 600 ms
        feed(s, 13, 0.02f);
        // Then the turn is confirmed, nothing more is published, and the next speech is the next utterance
        assertThat(speculation).containsExactly("confirmed 0");
        assertThat(segments).hasSize(published);
        assertThat(s.inUtterance()).isFalse();
        feed(s, 10, 0.95f);
        assertThat(segments.get(segments.size() - 1).utteranceId()).isEqualTo(1);
        assertThat(segments.get(segments.size() - 1).replacesTurn()).isEqualTo(-1);
    }

    @Test
    void shouldCancelTheSpeculativeTurnWhenTheCallerGoesOnAndRepeatTheWholeUtteranceUnderTheNextNumber() {
        // Given speculation after 192 ms: a question with a 300 ms pause in the middle
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults().withSpeculativeSilenceMs(192));
        feed(s, 20, 0.01f);
        feed(s, 20, 0.95f);
        feed(s, 9, 0.02f);                 // 288 ms pause: tentative end at 192 ms
        List<Short> firstPart = samplesOf(0);
        assertThat(segments.get(segments.size() - 1).speculative()).isTrue();
        feed(s, 20, 0.95f);                // the caller goes on
        feed(s, 19, 0.02f);                // and stops for good
        // Then turn 0 was cancelled at the first voiced frame, utterance 1 replaces it and holds all of it
        assertThat(speculation).containsExactly("cancelled 0", "confirmed 1");
        List<Segment> second = segments.stream().filter(seg -> seg.utteranceId() == 1).toList();
        assertThat(second).allSatisfy(seg -> assertThat(seg.replacesTurn()).isEqualTo(0));
        for (int i = 0; i < second.size(); i++) {
            assertThat(second.get(i).seq()).isEqualTo(i);
        }
        assertThat(second.get(0).captureStartUs()).isEqualTo(segments.get(0).captureStartUs());
        List<Short> all = samplesOf(1);
        assertThat(all.subList(0, firstPart.size())).isEqualTo(firstPart);
        // the audio is contiguous: every sample from the first pre-roll sample on, in order (a running counter)
        for (int i = 1; i < all.size(); i++) {
            assertThat((short) (all.get(i) - all.get(i - 1))).isEqualTo((short) 1);
        }
        // speculative again at the final pause, then confirmed
        Segment end = second.get(second.size() - 1);
        assertThat(end.endOfUtterance()).isTrue();
        assertThat(end.speculative()).isTrue();
        assertThat(s.inUtterance()).isFalse();
    }

    @Test
    void shouldCutUtterancesWhereTheSegmenterWithoutSpeculationCutsThem() {
        // Given one random caller (speech and pauses of every length) fed to a segmenter with and without speculation
        java.util.Random random = new java.util.Random(15);
        List<Float> probabilities = new ArrayList<>();
        for (int run = 0; run < 200; run++) {
            float p = run % 2 == 0 ? 0.9f : 0.05f;
            int frames = 1 + random.nextInt(run % 2 == 0 ? 40 : 30);
            for (int i = 0; i < frames; i++) {
                probabilities.add(p);
            }
        }
        List<long[]> plain = utteranceSpans(SegmenterConfig.defaults(), probabilities);
        segments.clear();
        speculation.clear();
        List<long[]> speculative = utteranceSpans(SegmenterConfig.defaults().withSpeculativeSilenceMs(192), probabilities);
        // Then the utterances that were requested for good (not replaced) cover the same audio
        assertThat(plain).hasSizeGreaterThan(20);
        assertThat(speculative).hasSameSizeAs(plain);
        for (int i = 0; i < plain.size(); i++) {
            assertThat(speculative.get(i)[0]).isEqualTo(plain.get(i)[0]);
            assertThat(speculative.get(i)[1]).as("speech end of utterance %d", i).isEqualTo(plain.get(i)[1]);
        }
        assertThat(speculation.stream().filter(e -> e.startsWith("cancelled")).count()).isPositive();
        assertThat(speculation.stream().filter(e -> e.startsWith("confirmed")).count()).isEqualTo(plain.size());
    }

    // ---- adaptive end-of-turn wait ---------------------------------------------------------------------

    private static final AdaptiveEndOfTurn ADAPTIVE = AdaptiveEndOfTurn.between(400, 1000);

    /** Feeds real samples (a voice from {@link EndOfTurnEstimatorTest#voice}) at the given probability. */
    private void feedVoice(UtteranceSegmenter s, short[][] frames, float probability) {
        for (short[] frame : frames) {
            now = nextFrameUs + FRAME_US + 500;
            s.accept(frame, probability, nextFrameUs);
            nextFrameUs += FRAME_US;
        }
    }

    private long lastWaitUs() {
        Segment end = segments.stream().filter(Segment::endOfUtterance).reduce((a, b) -> b).orElseThrow();
        return end.endOfTurnUs() - end.speechEndUs();
    }

    @Test
    void shouldEndAFinishedSoundingUtteranceAfterTheShortestWait() {
        // Given 500 ms base, adaptive 400..1000, a phrase whose pitch falls at the end
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults().withEndOfUtteranceSilenceMs(500)
                .withAdaptiveEndOfTurn(ADAPTIVE));
        feed(s, 10, 0.01f);
        feedVoice(s, EndOfTurnEstimatorTest.voice(25, 180, 120), 0.95f);
        // When 13 silent frames (416 ms) follow
        feed(s, 13, 0.01f);
        // Then it has ended, 416 ms after the speech: before the base wait
        assertThat(segments.stream().filter(Segment::endOfUtterance)).hasSize(1);
        assertThat(lastWaitUs()).isBetween(416_000L, 417_000L);
        assertThat(waits).extracting(EndOfTurnEstimator.Decision::reason).containsExactly(EndOfTurnEstimator.Reason.FINISHED);
    }

    @Test
    void shouldWaitTheLongestAfterALevelVoiceInsteadOfEndingAtTheBaseWait() {
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults().withEndOfUtteranceSilenceMs(500)
                .withAdaptiveEndOfTurn(ADAPTIVE));
        feed(s, 10, 0.01f);
        feedVoice(s, EndOfTurnEstimatorTest.voice(25, 140, 140), 0.95f);
        feed(s, 25, 0.01f);                                           // 800 ms: over the base, under the longest
        assertThat(segments).noneMatch(Segment::endOfUtterance);
        feed(s, 7, 0.01f);                                            // 1024 ms
        assertThat(lastWaitUs()).isBetween(1_024_000L, 1_025_000L);
        assertThat(waits).extracting(EndOfTurnEstimator.Decision::reason).containsExactly(EndOfTurnEstimator.Reason.UNFINISHED);
    }

    @Test
    void shouldWaitTheLongestWhileTheCallerKeysDigits() {
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults().withEndOfUtteranceSilenceMs(500)
                .withAdaptiveEndOfTurn(ADAPTIVE));
        feed(s, 10, 0.01f);
        s.dtmf(now);
        feedVoice(s, EndOfTurnEstimatorTest.voice(25, 180, 120), 0.95f); // finished-sounding, but digits are coming
        feed(s, 25, 0.01f);
        assertThat(segments).noneMatch(Segment::endOfUtterance);
        feed(s, 7, 0.01f);
        assertThat(lastWaitUs()).isBetween(1_024_000L, 1_025_000L);
        assertThat(waits).extracting(EndOfTurnEstimator.Decision::reason).containsExactly(EndOfTurnEstimator.Reason.DTMF);
    }

    @Test
    void shouldNotCutACallerTwiceAtAPauseOfTheSameLength() {
        // Given a rising end (base wait 500 ms) and a caller who goes on 640 ms after the speech ended: cut once
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults().withEndOfUtteranceSilenceMs(500)
                .withAdaptiveEndOfTurn(ADAPTIVE));
        feed(s, 10, 0.01f);
        feedVoice(s, EndOfTurnEstimatorTest.voice(25, 120, 180), 0.95f);
        feed(s, 20, 0.01f);
        assertThat(segments.stream().filter(Segment::endOfUtterance)).hasSize(1);
        // When the next utterance has the same 640 ms pause, after the same rising end
        feedVoice(s, EndOfTurnEstimatorTest.voice(25, 120, 180), 0.95f);
        feed(s, 20, 0.01f);
        feedVoice(s, EndOfTurnEstimatorTest.voice(25, 180, 120), 0.95f);
        // Then that pause did not end it: it goes on until 640 + 150 ms of silence
        assertThat(segments.stream().filter(Segment::endOfUtterance)).hasSize(1);
        feed(s, 40, 0.01f);
        assertThat(segments.stream().filter(Segment::endOfUtterance)).hasSize(2);
        assertThat(lastWaitUs()).isBetween(800_000L, 801_000L);
        assertThat(waits).extracting(EndOfTurnEstimator.Decision::reason)
                .containsExactly(EndOfTurnEstimator.Reason.BASE, EndOfTurnEstimator.Reason.PAUSING);
        assertThat(waits.get(1).silenceMs()).isBetween(780, 800); // the resumed pause (whole frames) + 150
    }

    @Test
    void shouldEndEveryUtteranceAfterExactlyTheFixedSilenceWhenAdaptiveIsOff() {
        // Given one random caller with real voices (falling, level, rising ends), DTMF now and then, adaptive off
        java.util.Random random = new java.util.Random(151);
        UtteranceSegmenter s = segmenter(SegmenterConfig.defaults().withEndOfUtteranceSilenceMs(500));
        double[][] contours = {{180, 120}, {140, 140}, {120, 180}};
        for (int run = 0; run < 60; run++) {
            double[] c = contours[random.nextInt(3)];
            if (random.nextInt(4) == 0) {
                s.dtmf(now);
            }
            feedVoice(s, EndOfTurnEstimatorTest.voice(5 + random.nextInt(30), c[0], c[1]), 0.9f);
            feed(s, 1 + random.nextInt(35), 0.05f);
        }
        feed(s, 20, 0.0f);
        // Then every end came after the first whole frame at or over 500 ms of silence (16 frames, 512 ms), fixed
        List<Segment> ends = segments.stream().filter(Segment::endOfUtterance).toList();
        assertThat(ends).hasSizeGreaterThan(10);
        assertThat(ends).allSatisfy(e -> assertThat(e.endOfTurnUs() - e.speechEndUs()).isBetween(512_000L, 513_000L));
        assertThat(waits).hasSameSizeAs(ends).allSatisfy(w ->
                assertThat(w).isEqualTo(new EndOfTurnEstimator.Decision(500, EndOfTurnEstimator.Reason.FIXED)));
    }

    /** Feeds the probabilities; returns per final utterance (not cancelled) its capture start and speech end. */
    private List<long[]> utteranceSpans(SegmenterConfig config, List<Float> probabilities) {
        nextFrameUs = T0;
        UtteranceSegmenter s = segmenter(config);
        for (float p : probabilities) {
            feed(s, 1, p);
        }
        feed(s, 40, 0.0f);
        java.util.Set<Integer> cancelled = new java.util.HashSet<>();
        speculation.stream().filter(e -> e.startsWith("cancelled")).forEach(e -> cancelled.add(Integer.parseInt(e.substring(10))));
        List<long[]> spans = new ArrayList<>();
        java.util.Map<Integer, Long> starts = new java.util.HashMap<>();
        for (Segment seg : segments) {
            starts.putIfAbsent(seg.utteranceId(), seg.captureStartUs());
            if (seg.endOfUtterance() && !cancelled.contains(seg.utteranceId())) {
                spans.add(new long[] {starts.get(seg.utteranceId()), seg.speechEndUs()});
            }
        }
        return spans;
    }
}
