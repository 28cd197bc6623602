package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/**
 * What the speech stream tests share: the tiny flow, in the attention layout a test class names, and the tiny HiFT,
 * written to a temporary folder and loaded once per test class on one manager.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class TinySpeechFixture {
    private final FlowEncoderConfig encoder;
    private final FlowEstimator.Config estimator;

    NDManager manager;
    FlowMatching flow;
    HiftVocoder hift;

    /** The flow's layout: {@link StreamingFlowTest#CAUSAL_ENCODER} or {@link StreamingFlowTest#CHUNKED_ENCODER}, etc. */
    TinySpeechFixture(FlowEncoderConfig encoder, FlowEstimator.Config estimator) {
        this.encoder = encoder;
        this.estimator = estimator;
    }

    @BeforeAll
    void load() throws Exception {
        manager = NDManager.newBaseManager();
        Path tmp = Files.createTempDirectory("tiny-speech");
        flow = FlowMatching.load(StreamingFlowTest.writeTinyFlow(tmp), manager, encoder, estimator,
                FlowMatching.DEFAULT_NOISE_SEED);
        TinyHiftWriter.write(tmp.resolve("hift.pt"), HiftVocoderTest.SEED);
        hift = HiftVocoder.load(tmp.resolve("hift.pt"), manager, SourcePins.defaults());
    }

    @AfterAll
    void close() {
        manager.close();
    }
}
