package dev.omnicall.model.io;

/** A checkpoint file or tensor that cannot be used: the message names the file or tensor and says why. */
public final class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
