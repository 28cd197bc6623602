package dev.omnicall.bridge.rtp;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class JitterBufferTest {
    private final List<JitterBuffer.Slot> out = new ArrayList<>();

    private static RtpPacket packet(int seq, byte fill) {
        byte[] payload = new byte[160];
        java.util.Arrays.fill(payload, fill);
        return RtpPacket.of(false, 0, seq & 0xFFFF, (seq * 160L) & 0xFFFF_FFFFL, 1, payload);
    }

    private List<Integer> seqs() {
        return out.stream().map(s -> s.packet().sequenceNumber()).toList();
    }

    @Test
    void shouldPassInOrderPacketsWithoutDelay() {
        JitterBuffer jb = new JitterBuffer(3, JitterBuffer.Concealment.SILENCE, (byte) 0xFF, out::add);
        jb.offer(packet(10, (byte) 1));
        assertThat(seqs()).containsExactly(10);
        jb.offer(packet(11, (byte) 1));
        assertThat(seqs()).containsExactly(10, 11);
        assertThat(jb.held()).isZero();
    }

    @Test
    void shouldReorderSwappedPackets() {
        JitterBuffer jb = new JitterBuffer(3, JitterBuffer.Concealment.SILENCE, (byte) 0xFF, out::add);
        jb.offer(packet(1, (byte) 1));
        jb.offer(packet(3, (byte) 3));
        jb.offer(packet(2, (byte) 2));
        assertThat(seqs()).containsExactly(1, 2, 3);
        assertThat(jb.lost()).isZero();
    }

    @Test
    void shouldReorderAcrossSequenceWrapPerRfc3550Section5_1() {
        JitterBuffer jb = new JitterBuffer(3, JitterBuffer.Concealment.SILENCE, (byte) 0xFF, out::add);
        jb.offer(packet(65534, (byte) 1));
        jb.offer(packet(0, (byte) 1));
        jb.offer(packet(65535, (byte) 1));
        jb.offer(packet(1, (byte) 1));
        assertThat(seqs()).containsExactly(65534, 65535, 0, 1);
    }

    @Test
    void shouldConcealLossWithSilenceOnceDepthPacketsWait() {
        JitterBuffer jb = new JitterBuffer(2, JitterBuffer.Concealment.SILENCE, (byte) 0xFF, out::add);
        jb.offer(packet(1, (byte) 1));
        jb.offer(packet(3, (byte) 3)); // 2 missing: one held, not yet lost
        assertThat(seqs()).containsExactly(1);
        jb.offer(packet(4, (byte) 4)); // two held: 2 is declared lost
        assertThat(seqs()).containsExactly(1, 2, 3, 4);
        JitterBuffer.Slot concealed = out.get(1);
        assertThat(concealed.concealed()).isTrue();
        assertThat(concealed.packet().payload()).hasSize(160).containsOnly((byte) 0xFF);
        assertThat(concealed.packet().timestamp()).isEqualTo(320); // previous + 160
        assertThat(jb.lost()).isEqualTo(1);
    }

    @Test
    void shouldConcealLossByRepeatingPreviousPayload() {
        JitterBuffer jb = new JitterBuffer(1, JitterBuffer.Concealment.REPEAT, (byte) 0xFF, out::add);
        jb.offer(packet(1, (byte) 7));
        jb.offer(packet(3, (byte) 3));
        assertThat(out.get(1).concealed()).isTrue();
        assertThat(out.get(1).packet().payload()).containsOnly((byte) 7);
    }

    @Test
    void shouldDropAndCountLatePacketAfterItsSlotWasReleased() {
        JitterBuffer jb = new JitterBuffer(1, JitterBuffer.Concealment.SILENCE, (byte) 0xFF, out::add);
        jb.offer(packet(1, (byte) 1));
        jb.offer(packet(3, (byte) 3)); // depth 1: 2 concealed at once
        jb.offer(packet(2, (byte) 2)); // too late
        assertThat(seqs()).containsExactly(1, 2, 3);
        assertThat(out.get(1).concealed()).isTrue();
        assertThat(jb.late()).isEqualTo(1);
    }

    @Test
    void shouldCountDuplicatesOnce() {
        JitterBuffer jb = new JitterBuffer(3, JitterBuffer.Concealment.SILENCE, (byte) 0xFF, out::add);
        jb.offer(packet(1, (byte) 1));
        jb.offer(packet(3, (byte) 3));
        jb.offer(packet(3, (byte) 3));
        assertThat(jb.duplicates()).isEqualTo(1);
        assertThat(jb.held()).isEqualTo(1);
    }

    @Test
    void shouldNeverHoldMoreThanDepthPackets() {
        JitterBuffer jb = new JitterBuffer(4, JitterBuffer.Concealment.SILENCE, (byte) 0xFF, out::add);
        jb.offer(packet(0, (byte) 1));
        for (int seq = 2; seq < 40; seq++) { // 1 never comes
            jb.offer(packet(seq, (byte) 1));
            assertThat(jb.held()).isLessThan(4);
        }
        assertThat(jb.lost()).isEqualTo(1);
    }

    @Test
    void shouldRestartOnHugeSequenceJumpInsteadOfConcealingThousands() {
        JitterBuffer jb = new JitterBuffer(3, JitterBuffer.Concealment.SILENCE, (byte) 0xFF, out::add);
        jb.offer(packet(100, (byte) 1));
        jb.offer(packet(30_000, (byte) 1)); // a new stream
        jb.offer(packet(30_001, (byte) 1));
        assertThat(seqs()).containsExactly(100, 30_000, 30_001);
        assertThat(jb.lost()).isZero();
        assertThat(jb.resyncs()).isEqualTo(1);
    }

    @Test
    void shouldReleaseHeldPacketsOnFlush() {
        JitterBuffer jb = new JitterBuffer(5, JitterBuffer.Concealment.SILENCE, (byte) 0xFF, out::add);
        jb.offer(packet(1, (byte) 1));
        jb.offer(packet(4, (byte) 1));
        jb.flush();
        assertThat(seqs()).containsExactly(1, 2, 3, 4);
        assertThat(jb.lost()).isEqualTo(2);
    }
}
