package dev.omnicall.model.omni;

import dev.omnicall.model.stream.CallerDecoder;
import java.util.function.IntConsumer;

/**
 * A real {@link CallerDecoder.Run} with a hook before each token: tests count the tokens or inject a failure at the
 * n-th one (as a device error would), and everything else goes to the real run.
 */
public final class SteppedRun implements CallerDecoder.Run {
    private final CallerDecoder.Run run;
    private final IntConsumer beforeStep;
    private int steps;

    /** @param beforeStep called with the 1-based number of the token about to be decoded; may throw */
    public SteppedRun(CallerDecoder.Run run, IntConsumer beforeStep) {
        this.run = run;
        this.beforeStep = beforeStep;
    }

    /** A run that throws {@link IllegalStateException} at its {@code failAt}-th token. */
    public static SteppedRun failingAt(CallerDecoder.Run run, int failAt) {
        return new SteppedRun(run, n -> {
            if (n == failAt) {
                throw new IllegalStateException("injected decoder failure at token " + failAt);
            }
        });
    }

    @Override
    public boolean step() {
        beforeStep.accept(++steps);
        return run.step();
    }

    @Override public boolean isDone() { return run.isDone(); }
    @Override public String text() { return run.text(); }
    @Override public String language() { return run.language(); }
    @Override public int tokenCount() { return run.tokenCount(); }
    @Override public boolean truncated() { return run.truncated(); }
    @Override public void close() { run.close(); }
}
