package dev.omnicall.bridge.media;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class BargeInDetectorTest {
    private static final long FRAME_US = 32_000;

    @Test
    void shouldFireOnceAfterMinimumSpeechOverPlayback() {
        BargeInDetector d = new BargeInDetector(0.5f, 96);
        assertThat(d.onFrame(0.9f, FRAME_US, true)).isFalse();
        assertThat(d.onFrame(0.9f, FRAME_US, true)).isFalse();
        assertThat(d.onFrame(0.9f, FRAME_US, true)).isTrue();
        assertThat(d.onFrame(0.9f, FRAME_US, true)).isFalse();
    }

    @Test
    void shouldNotFireWithoutPlayback() {
        BargeInDetector d = new BargeInDetector(0.5f, 64);
        for (int i = 0; i < 10; i++) {
            assertThat(d.onFrame(0.99f, FRAME_US, false)).isFalse();
        }
    }

    @Test
    void shouldRequireConsecutiveSpeechFrames() {
        BargeInDetector d = new BargeInDetector(0.5f, 96);
        for (int i = 0; i < 10; i++) {
            assertThat(d.onFrame(i % 2 == 0 ? 0.9f : 0.1f, FRAME_US, true)).isFalse();
        }
    }

    @Test
    void shouldRearmWhenPlaybackGoesIdle() {
        BargeInDetector d = new BargeInDetector(0.5f, 32);
        assertThat(d.onFrame(0.9f, FRAME_US, true)).isTrue();
        d.onFrame(0.9f, FRAME_US, false);
        assertThat(d.onFrame(0.9f, FRAME_US, true)).isTrue();
    }
}
