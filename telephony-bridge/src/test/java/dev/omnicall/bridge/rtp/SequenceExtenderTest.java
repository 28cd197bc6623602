package dev.omnicall.bridge.rtp;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SequenceExtenderTest {

    @Test
    void shouldKeepCountingAcrossSequenceWrapPerRfc3550AppendixA1() {
        SequenceExtender x = new SequenceExtender();
        assertThat(x.extend(65534)).isEqualTo(65534);
        assertThat(x.extend(65535)).isEqualTo(65535);
        assertThat(x.extend(0)).isEqualTo(65536);
        assertThat(x.extend(1)).isEqualTo(65537);
        assertThat(x.highest()).isEqualTo(65537);
    }

    @Test
    void shouldPlaceReorderedPacketBeforeTheWrap() {
        SequenceExtender x = new SequenceExtender();
        x.extend(65535);
        x.extend(1);        // 65537; 0 is late
        assertThat(x.extend(0)).isEqualTo(65536);
        assertThat(x.highest()).isEqualTo(65537);
    }
}
