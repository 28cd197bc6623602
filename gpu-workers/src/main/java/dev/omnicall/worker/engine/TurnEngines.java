package dev.omnicall.worker.engine;

import dev.omnicall.model.ModelFamily;
import dev.omnicall.worker.WorkerConfig;
import dev.omnicall.worker.engine.omni2.Omni2TurnEngine;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opens the worker's model: the family comes from the checkpoint's config.json {@code model_type}
 * ({@link ModelFamily}), and each family has its engine behind {@link TurnEngine}: LLaMA-Omni's
 * {@link OmniTurnEngine}, LLaMA-Omni2's {@link Omni2TurnEngine}.
 */
public final class TurnEngines {
    private static final Logger LOG = LoggerFactory.getLogger(TurnEngines.class);

    private TurnEngines() {
    }

    /**
     * The engine for {@code config.modelDir()}; {@code speechEncoder}: openai's Whisper file for checkpoints whose
     * shards hold no encoder (null: config.json's {@code speech_encoder}). A config.json without a known
     * {@code model_type} is one error naming the field, the value and the two known values.
     */
    public static TurnEngine load(WorkerConfig config, Path speechEncoder) {
        ModelFamily family = ModelFamily.of(config.modelDir());
        LOG.info("model family {} ({} {} in {})", family, ModelFamily.FIELD, family.modelType(),
                config.modelDir().resolve("config.json"));
        return switch (family) {
            case LLAMA_OMNI -> OmniTurnEngine.load(config, speechEncoder);
            case LLAMA_OMNI2 -> Omni2TurnEngine.load(config, speechEncoder);
        };
    }
}
