package dev.omnicall.worker;

import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.worker.engine.TurnInput;
import org.apache.kafka.common.serialization.Deserializer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a TurnRequest from its raw bytes and checks it before any model work: the worker consumes bytes
 * so that a record it cannot read becomes a dead letter with its original bytes, never a stuck consumer.
 */
public final class TurnRequests {

    /** The sample rate the model's log-mel frontend takes. */
    public static final int SAMPLE_RATE = 16_000;

    private final Deserializer<TurnRequest> deserializer;
    private final long maxAudioSamples;

    /**
     * @param maxAudioSeconds longest utterance accepted (the reference model reads at most 30 s; longer
     *                        audio is cut by the encoder, far longer audio is a bug upstream)
     */
    public TurnRequests(Deserializer<TurnRequest> deserializer, double maxAudioSeconds) {
        if (!(maxAudioSeconds > 0)) {
            throw new IllegalArgumentException("max audio seconds must be > 0, got " + maxAudioSeconds);
        }
        this.deserializer = deserializer;
        this.maxAudioSamples = (long) Math.floor(maxAudioSeconds * SAMPLE_RATE);
    }

    /** Decodes and validates; throws {@link BadTurnRequestException} with a reason word and a message. */
    public TurnRequest read(String topic, byte[] key, byte[] value) {
        if (value == null) {
            throw new BadTurnRequestException("undecodable", "the record has no value (a tombstone?)");
        }
        TurnRequest request;
        try {
            request = deserializer.deserialize(topic, value);
        } catch (RuntimeException e) {
            throw new BadTurnRequestException("undecodable", "cannot decode a TurnRequest from " + value.length
                    + " bytes: " + e.getMessage(), e);
        }
        if (request == null) {
            throw new BadTurnRequestException("undecodable", "the deserializer returned no TurnRequest");
        }
        validate(request, key);
        return request;
    }

    void validate(TurnRequest r, byte[] key) {
        String callId = r.getCallId() == null ? "" : r.getCallId().toString();
        if (callId.isBlank()) {
            throw new BadTurnRequestException("no-call-id", "turn " + r.getTurnId() + " has no call ID");
        }
        if (key != null && !callId.equals(new String(key, StandardCharsets.UTF_8))) {
            throw new BadTurnRequestException("key-mismatch", "record key '" + new String(key, StandardCharsets.UTF_8)
                    + "' is not the request's call ID '" + callId + "'; call-keyed co-partitioning would break");
        }
        if (r.getSampleRate() != SAMPLE_RATE) {
            throw new BadTurnRequestException("sample-rate", "call " + callId + " turn " + r.getTurnId() + ": audio is "
                    + r.getSampleRate() + " Hz but the model takes " + SAMPLE_RATE + " Hz (the bridge resamples)");
        }
        ByteBuffer audio = r.getAudio();
        int bytes = audio == null ? 0 : audio.remaining();
        if (bytes == 0) {
            throw new BadTurnRequestException("no-audio", "call " + callId + " turn " + r.getTurnId() + " has no audio");
        }
        if (bytes % 2 != 0) {
            throw new BadTurnRequestException("odd-length", "call " + callId + " turn " + r.getTurnId() + ": "
                    + bytes + " audio bytes is not a whole number of 16-bit samples");
        }
        if (bytes / 2 > maxAudioSamples) {
            throw new BadTurnRequestException("oversized", String.format("call %s turn %d: %.1f s of audio exceeds"
                    + " the cap of %.1f s", callId, r.getTurnId(), bytes / 2.0 / SAMPLE_RATE,
                    maxAudioSamples / (double) SAMPLE_RATE));
        }
    }

    /** The engine's view of a valid request. */
    public static TurnInput toInput(TurnRequest r) {
        List<TurnInput.PastTurn> history = new ArrayList<>(r.getHistory().size());
        for (ConversationTurn t : r.getHistory()) {
            history.add(new TurnInput.PastTurn(t.getTurnId(),
                    t.getUserText() == null ? null : t.getUserText().toString(),
                    t.getUserAudio() == null ? null : samples(t.getUserAudio()),
                    t.getAssistantText().toString()));
        }
        return new TurnInput(r.getCallId().toString(), samples(r.getAudio()), history);
    }

    /** Little-endian signed 16-bit PCM to samples; the buffer's position is left alone. */
    public static short[] samples(ByteBuffer pcm) {
        ByteBuffer b = pcm.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        short[] out = new short[b.remaining() / 2];
        b.asShortBuffer().get(out);
        return out;
    }
}
