package dev.omnicall.worker.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.omnicall.model.TinyModels;
import dev.omnicall.model.stream.TranscriptionOptions;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.worker.WorkerConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The worker's engine with a newcomer's prompt rows riding in the decode steps ({@value OmniTurnEngine#FUSED_PREFILL}
 * on, the default) against the same engine with each prompt slice a forward of its own (off, the reference): two turns
 * speak, a third starts, the driver loops as the scheduler does (one advance of the starting turn, then one step of the
 * speaking ones), and every turn's whole reply is the same: text (its tokens), units per step, and audio to within 1 of
 * 32767 per sample.
 */
class FusedPrefillEngineTest {

    /** One turn's whole reply: text, units vocoded per step, and audio bytes. */
    private record Reply(String text, List<Integer> units, byte[] audio) {
    }

    private static final class Collected {
        final StringBuilder text = new StringBuilder();
        final List<Integer> units = new ArrayList<>();
        final java.io.ByteArrayOutputStream audio = new java.io.ByteArrayOutputStream();
        boolean done;

        /** A step's output, up to the reply's end (a finished turn's later steps are empty, and may be more or fewer). */
        void add(StepOutput o) {
            if (done) {
                return;
            }
            done = o.done();
            text.append(o.text());
            units.add(o.newUnits());
            o.audio().forEach(p -> audio.writeBytes(p.pcm()));
        }

        Reply reply() {
            return new Reply(text.toString(), units, audio.toByteArray());
        }
    }

    private static short[] speech(int samples, double f) {
        short[] pcm = new short[samples];
        for (int i = 0; i < pcm.length; i++) {
            pcm[i] = (short) (3000 * Math.sin(i * f) + 500 * Math.sin(i * 0.31));
        }
        return pcm;
    }

    /** The run: two speaking turns, a newcomer begun after 3 steps; returns the three replies and the rows carried. */
    private static List<Reply> run(String fused, int[] rowsCarried) {
        WorkerConfig config = WorkerConfig.defaults(KafkaSettings.of("127.0.0.1:9"), TinyModels.checkpointDir())
                .withEncoderPaddedSeconds(0).withLimits(48, Duration.ofSeconds(10), 64L << 20)
                .withTranscription(TranscriptionOptions.off());
        System.setProperty(OmniTurnEngine.PREFILL_SLICE_ROWS, "8");
        System.setProperty(OmniTurnEngine.FUSED_PREFILL, fused);
        try (OmniTurnEngine engine = OmniTurnEngine.load(config)) {
            System.clearProperty(OmniTurnEngine.PREFILL_SLICE_ROWS);
            System.clearProperty(OmniTurnEngine.FUSED_PREFILL);
            List<EngineSession> speaking = new ArrayList<>();
            List<Collected> out = new ArrayList<>();
            for (double f : new double[] {0.03, 0.05}) {
                speaking.add(engine.start(new TurnInput("c" + f, speech(8000, f), List.of()), null));
                out.add(new Collected());
            }
            for (int s = 0; s < 3; s++) {
                step(engine, speaking, out, rowsCarried);
            }
            // the newcomer: one advance, then one step, as the scheduler's loop
            TurnEngine.StartingSession starting = engine.begin(new TurnInput("new", speech(12000, 0.02), List.of()), null);
            while (!starting.ready()) {
                if (starting.advance()) {
                    break;
                }
                step(engine, speaking, out, rowsCarried);
            }
            speaking.add(starting.session());
            out.add(new Collected());
            while (speaking.stream().anyMatch(s -> !s.done())) {
                step(engine, speaking, out, rowsCarried);
            }
            speaking.forEach(EngineSession::close);
            assertThat(engine.generator().pool().running()).isZero();
            return out.stream().map(Collected::reply).toList();
        } finally {
            System.clearProperty(OmniTurnEngine.PREFILL_SLICE_ROWS);
            System.clearProperty(OmniTurnEngine.FUSED_PREFILL);
        }
    }

    private static void step(OmniTurnEngine engine, List<EngineSession> sessions, List<Collected> out, int[] carried) {
        List<StepOutput> outs = engine.step(sessions);
        carried[0] += engine.generator().lastFusedRows();
        carried[1] = Math.max(carried[1], engine.generator().lastFusedRows());
        for (int i = 0; i < outs.size(); i++) {
            out.get(i).add(outs.get(i));
        }
    }

    /**
     * The same samples within 1 (of 32767): a turn's chunks are vocoded in one padded forward with the other turns'
     * chunks due in the same step, and the newcomer joins one step later when its last rows ride in a step, so its
     * chunks meet other partners (VocoderBatchTest's tolerance).
     */
    private static void assertSameAudio(byte[] actual, byte[] expected, int turn) {
        assertThat(actual.length).as("audio bytes of turn %d", turn).isEqualTo(expected.length);
        java.nio.ShortBuffer a = java.nio.ByteBuffer.wrap(actual).order(java.nio.ByteOrder.LITTLE_ENDIAN).asShortBuffer();
        java.nio.ShortBuffer e = java.nio.ByteBuffer.wrap(expected).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .asShortBuffer();
        for (int j = 0; j < e.limit(); j++) {
            assertThat(Math.abs(a.get(j) - e.get(j))).as("sample %d of turn %d", j, turn).isLessThanOrEqualTo(1);
        }
    }

    @Test
    void shouldGiveEveryTurnTheSameReplyWhenANewcomersPromptRidesInTheDecodeSteps() {
        // Given the reference: prompt slices of 8 rows, each a forward of its own between the steps
        int[] apart = new int[2];
        List<Reply> expected = run("off", apart);
        assertThat(apart[0]).as("rows carried with fused prefill off").isZero();
        // When the same prompt rows ride along in the speaking turns' decode steps, 8 at a time
        int[] carried = new int[2];
        List<Reply> actual = run("on", carried);
        // Then rows did ride along (the whole prompt but what a step without speakers took), and every reply is the same
        assertThat(carried[0]).as("prompt rows carried in decode steps").isGreaterThan(16);
        assertThat(carried[1]).as("most rows in one step").isEqualTo(8);
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.size(); i++) {
            assertThat(actual.get(i).text()).as("text of turn %d", i).isEqualTo(expected.get(i).text());
            assertThat(actual.get(i).units()).as("units of turn %d", i).isEqualTo(expected.get(i).units());
            assertSameAudio(actual.get(i).audio(), expected.get(i).audio(), i);
        }
        assertThat(expected.get(2).text()).as("the newcomer's reply").isNotEmpty();
        assertThatThrownBy(() -> OmniTurnEngine.fusedPrefill("sometimes")).hasMessageContaining("'sometimes'");
    }
}
