package dev.omnicall.worker;

import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.TurnInput;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Headers;

import java.util.Objects;

/**
 * One turn inside the worker: where it came from (partition, offset, original bytes for a dead letter),
 * the attempt it runs as, its output sequence numbers and its timing stamps.
 */
public final class Turn {

    private final TurnRequest request;
    private final TurnInput input;
    private final TopicPartition partition;
    private final long offset;
    private final byte[] key;
    private final byte[] value;
    private final int attempt;
    final TurnTimings.Builder timings;
    EngineSession session;
    int textSeq;
    int audioSeq;
    int tokens;
    /** Length of the reply text sent so far (the concatenated TextDelta texts). */
    int textChars;
    boolean callerTextPublished;
    /** Reply audio handed to the output so far (µs of sound). */
    long audioUs;
    /** When its first audio went out (epoch µs, the scheduler's clock; 0: none yet): playback is taken to start then. */
    long playbackStartUs;
    /** How the turn ended, for one that waits in the scheduler's tail for its caller text. */
    TurnOutput.Outcome tailOutcome;
    /** When the scheduler got the turn (epoch µs, the scheduler's clock): its caller transcript is due maxDelay later. */
    long arrivalUs;
    /** When its caller transcript may first run (its first audio, or its tail), scheduler's clock; 0 before. */
    long eligibleUs;
    String cancelReason;
    /** Headers of its TurnRequest record: the trace context its first AudioChunk carries on (TurnTrace). */
    Headers requestHeaders;

    public Turn(TurnRequest request, TurnInput input, TopicPartition partition, long offset, byte[] key, byte[] value,
                int attempt) {
        this.request = Objects.requireNonNull(request, "request");
        this.input = Objects.requireNonNull(input, "input");
        this.partition = partition;
        this.offset = offset;
        this.key = key;
        this.value = value;
        this.attempt = attempt;
        // Copy the upstream stamps; the worker fills in its own as the turn runs.
        this.timings = request.getTimings() == null ? TurnTimings.newBuilder() : TurnTimings.newBuilder(request.getTimings());
    }

    public String callId() {
        return request.getCallId().toString();
    }

    public int turnId() {
        return request.getTurnId();
    }

    public int attempt() {
        return attempt;
    }

    public TurnRequest request() {
        return request;
    }

    public TurnInput input() {
        return input;
    }

    public TopicPartition partition() {
        return partition;
    }

    public long offset() {
        return offset;
    }

    public byte[] key() {
        return key;
    }

    public byte[] value() {
        return value;
    }

    /** Tokens generated so far. */
    public int tokens() {
        return tokens;
    }

    /** A copy of the stamps so far. */
    public TurnTimings timings() {
        return TurnTimings.newBuilder(timings).build();
    }

    @Override
    public String toString() {
        return "turn " + callId() + "/" + turnId() + " attempt " + attempt + " @" + partition + ":" + offset;
    }
}
