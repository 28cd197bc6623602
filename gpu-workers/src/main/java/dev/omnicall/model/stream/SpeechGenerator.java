package dev.omnicall.model.stream;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import dev.omnicall.model.ChatPrompt.HistoryTurn;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.OmniModel;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Streaming speech-to-speech generation after the paper's Algorithm 1, for a worker to drive step by
 * step: {@link #start} prefills one turn (log-mel, encoder, adaptor, prompt, LLM prefill) and returns
 * its {@link TurnGenerator}; {@link TurnGenerator#step()} advances one turn by one token;
 * {@link #stepAll} advances several turns with one batched LLM forward (continuous batching: turns may
 * join and leave between calls). Single-threaded by design.
 */
public final class SpeechGenerator {
    private static final AtomicLong SPEECH_KEYS = new AtomicLong();

    private final OmniModel model;
    private final GenerationOptions options;

    public SpeechGenerator(OmniModel model, GenerationOptions options) {
        this.model = model;
        this.options = options;
    }

    public OmniModel model() {
        return model;
    }

    public GenerationOptions options() {
        return options;
    }

    /** Starts a turn from 16 kHz signed 16-bit PCM. */
    public TurnGenerator start(short[] pcm16k, List<HistoryTurn> history, CallCache reuse) {
        return start(OmniModel.pcmToFloat(pcm16k), history, reuse);
    }

    /**
     * Starts a turn from 16 kHz audio in [-1, 1] with the call's earlier turns as text. reuse (nullable)
     * is the call's cache from its previous turn; the turn takes it over (and closes it if unusable).
     */
    public TurnGenerator start(float[] audio16k, List<HistoryTurn> history, CallCache reuse) {
        long startUs = nowUs();
        LlamaModel llm = model.llm();
        KvCache cache = reuse == null ? null : reuse.take();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // speech embeddings: log-mel -> encoder -> adaptor
            NDArray speech = model.encodeSpeech(audio16k);
            // the chat prompt with the speech spliced in
            long speechKey = -1 - SPEECH_KEYS.getAndIncrement() * 100_000L;
            OmniModel.Prompt prompt = model.prompt(speech, history, speechKey);
            int total = prompt.keys().length;
            // reuse the cached prefix of this prompt, if any
            int reused = 0;
            if (cache != null && !cache.isClosed()) {
                reused = Math.min(commonPrefix(cache.positionKeys(), prompt.keys()), total - 1);
                cache.truncate(reused);
            } else {
                cache = llm.newCache(total + options.maxNewTokens() + 1L);
            }
            // prefill the rest
            long[] keys = java.util.Arrays.copyOfRange(prompt.keys(), reused, total);
            NDArray inputs = prompt.embeddings().get(new NDIndex("{}:", reused));
            LlamaModel.Output out = llm.forward(inputs, cache, keys);
            long first = out.lastLogits().argMax().getLong();
            NDArray state = out.hidden().get(keys.length - 1).duplicate();
            NDScope.unregister(state);
            return new TurnGenerator(this, cache, first, state, startUs, reused);
        } catch (RuntimeException e) {
            if (cache != null) {
                cache.close();
            }
            throw e;
        }
    }

    /**
     * One step for each turn: text, units and audio of every turn's pending token, then one LLM forward
     * over all turns still running. Finished turns in the list answer with an empty, done result.
     */
    public List<StepResult> stepAll(List<TurnGenerator> turns) {
        List<StepResult> results = new ArrayList<>(turns.size());
        List<TurnGenerator> running = new ArrayList<>();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // per turn: emit the pending token's text, units and audio
            for (TurnGenerator t : turns) {
                if (t.isDone()) {
                    results.add(StepResult.finished(t.isCancelled()));
                    continue;
                }
                StepResult r = t.emitPending();
                results.add(r);
                if (!r.done()) {
                    running.add(t);
                }
            }
            if (running.isEmpty()) {
                return results;
            }
            // one batched LLM forward for every turn still running
            long[] tokens = running.stream().mapToLong(TurnGenerator::pendingToken).toArray();
            List<KvCache> caches = running.stream().map(TurnGenerator::cache).toList();
            LlamaModel.Output out = model.llm().decodeBatch(tokens, caches);
            long[] next = out.lastLogits().argMax(-1).toLongArray();
            for (int i = 0; i < running.size(); i++) {
                NDArray state = out.hidden().get(i).duplicate();
                NDScope.unregister(state);
                running.get(i).acceptNext(next[i], state);
            }
        }
        return results;
    }

    static int commonPrefix(long[] a, long[] b) {
        int n = Math.min(a.length, b.length);
        int i = 0;
        while (i < n && a[i] == b[i]) {
            i++;
        }
        return i;
    }

    static long nowUs() {
        Instant now = Instant.now();
        return ChronoUnit.MICROS.between(Instant.EPOCH, now);
    }
}
