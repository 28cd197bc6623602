package dev.omnicall.kafka;

import dev.omnicall.events.DeadLetter;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Builds {@link DeadLetter} records: the original bytes and the error, so nothing is lost silently. */
public final class DeadLetters {

    /** Longest error message kept; a stack of causes can be long and the record must stay small. */
    static final int MAX_MESSAGE_CHARS = 2000;

    private DeadLetters() {
    }

    public static DeadLetter of(String sourceTopic, int partition, long offset, byte[] key, byte[] value,
                                String stage, Throwable error, String application) {
        return DeadLetter.newBuilder()
                .setSourceTopic(sourceTopic)
                .setPartition(partition)
                .setOffset(offset)
                .setKey(key == null ? null : ByteBuffer.wrap(key))
                .setValue(value == null ? null : ByteBuffer.wrap(value))
                .setStage(stage)
                .setErrorClass(error.getClass().getName())
                .setErrorMessage(describe(error))
                .setApplication(application == null ? "" : application)
                .setOccurredUs(Clock.nowMicros())
                .build();
    }

    /** The Kafka key of a dead letter: the original key when it is a readable call ID, else none. */
    public static String keyOf(byte[] originalKey) {
        if (originalKey == null || originalKey.length == 0 || originalKey.length > 256) {
            return null;
        }
        String s = new String(originalKey, StandardCharsets.UTF_8);
        return s.chars().allMatch(c -> c >= 0x20 && c < 0x7f) ? s : null;
    }

    /** The error and its causes in one line. */
    public static String describe(Throwable error) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = error; t != null && sb.length() < MAX_MESSAGE_CHARS; t = t.getCause()) {
            if (sb.length() > 0) {
                sb.append(" <- caused by ");
            }
            sb.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
            if (t.getCause() == t) {
                break;
            }
        }
        return sb.length() > MAX_MESSAGE_CHARS ? sb.substring(0, MAX_MESSAGE_CHARS) : sb.toString();
    }
}
