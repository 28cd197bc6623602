package dev.omnicall.model.omni;

import com.google.gson.JsonObject;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.OmniTokenizer;
import dev.omnicall.model.TinyBpeTokenizer;
import dev.omnicall.model.TinySharedBlocks;
import dev.omnicall.model.WhisperDecoder;
import dev.omnicall.model.WhisperEncoder;
import dev.omnicall.model.WhisperTokenizer;
import dev.omnicall.model.config.Json;
import dev.omnicall.model.config.RopeScaling;
import dev.omnicall.model.config.SpeechBlocksConfig;
import dev.omnicall.model.config.SpeechDecoderConfig;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.SafeTensorsWriter;
import dev.omnicall.model.io.ShardedCheckpoint;
import dev.omnicall.model.io.TorchCheckpointWriter;
import dev.omnicall.model.io.WhisperCheckpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a small random checkpoint in exactly the published layout: config.json, three fp16 safetensors
 * shards with model.safetensors.index.json, the same tensor names with tiny dimensions, a byte-level
 * BPE tokenizer.json carrying the Llama-3 special tokens, and a fairseq-style vocoder (torch.save zip
 * with weight-norm pairs under "generator", plus its config.json). For the caller transcriber it adds a
 * tiny Whisper text decoder (2 blocks, 64 wide, 4 heads, 448 positions; {@code model.speech_decoder.*} in the
 * shards with config.json {@code speech_decoder_num_layers}/{@code _num_heads}, or {@code decoder.*} in the
 * openai file) and a tiny tiktoken vocabulary ({@code multilingual.tiktoken} beside the decoder's weights). The
 * blocks both families share (Whisper, adaptor, transformer) come from {@link TinySharedBlocks}, LLaMA-Omni's own
 * (CTC unit decoder, CodeHiFiGAN) are written here, all from one seeded stream. Deterministic for a seed; takes
 * well under a second. Tests use it, and so does the zero-setup run.
 */
public final class TinyCheckpointWriter {
    /** Special tokens after the 256 byte tokens, in this order. */
    public static final List<String> SPECIALS = List.of("<|begin_of_text|>", "<|end_of_text|>",
            "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>");
    public static final int BOS = 256;
    public static final int END_OF_TEXT = 257;
    public static final int EOM = 260;
    public static final int EOT = 261;
    private static final String COMPLETE_MARKER = ".tiny-checkpoint-complete";
    /**
     * The marker's second line: a complete directory with another (older) format is rewritten.
     * 2 = with the Whisper text decoder and its tiktoken vocabulary.
     */
    private static final String FORMAT = "format=2 whisper-decoder";
    /** Where {@link EncoderLayout#OPENAI_FILE} puts openai's Whisper file, relative to the checkpoint dir. */
    public static final String OPENAI_ENCODER_FILE = "speech_encoder/large-v3.pt";

    /** Where the Whisper encoder's weights go. */
    public enum EncoderLayout {
        /** Inside the safetensors shards under {@code model.speech_encoder.} (the default). */
        IN_SHARDS,
        /**
         * In a separate openai-format file ({@link #OPENAI_ENCODER_FILE}: {@code {"dims", "model_state_dict"}}
         * with {@code encoder.*} and the tiny Whisper decoder's {@code decoder.*} tensors, fp16) that config.json
         * {@code speech_encoder} names, as the reference code loads it, and the vocabulary beside it
         * ({@code speech_encoder/multilingual.tiktoken}); none of them in the shards.
         */
        OPENAI_FILE
    }

    /** Tiny dimensions; the tensor names and the wiring are those of the real model. */
    public static OmniConfig tinyConfig() {
        return new OmniConfig("omni_speech2s_llama", 64, 128, 4, 2, 2, 1e-5, 500000,
                RopeScaling.llama3(8, 1, 4, 8192), 264, 4096, BOS, List.of(END_OF_TEXT, EOM, EOT), false,
                "float16", "whisper", 5, 64, 4, 2, "linear", 96, "ctc", "(2,48,4,96)", 25, 100);
    }

    public static VocoderConfig tinyVocoderConfig() {
        return new VocoderConfig(List.of(5, 4, 4, 2, 2), List.of(11, 8, 8, 4, 4), 32, "1", List.of(3, 7, 11),
                List.of(List.of(1, 3, 5), List.of(1, 3, 5), List.of(1, 3, 5)), 16, 100, 16, 320, 16000,
                new VocoderConfig.DurationPredictorParams(16, 16, 3, 0.5));
    }

    /** The marker's third line of a checkpoint written by {@link #writeEndlessIfAbsent}. */
    private static final String ENDLESS = "endless: lm_head rows of the eos tokens are zero";

    private final TinySharedBlocks blocks;
    private final EncoderLayout layout;
    private final boolean endless;

    private TinyCheckpointWriter(long seed, EncoderLayout layout, boolean endless) {
        this.blocks = new TinySharedBlocks(seed);
        this.layout = layout;
        this.endless = endless;
    }

    /** Writes the tiny checkpoint into dir unless a complete one is already there; returns dir. */
    public static Path writeIfAbsent(Path dir, long seed) {
        return writeIfAbsent(dir, seed, EncoderLayout.IN_SHARDS);
    }

    /**
     * The same, with the encoder in the given layout; for one seed both layouts hold the same weights
     * (the Whisper decoder's come from a random stream of their own, the same in both layouts). A complete
     * directory written by an older version of this writer (its marker lacks the current format line, e.g.
     * one without the Whisper decoder) is replaced.
     */
    public static Path writeIfAbsent(Path dir, long seed, EncoderLayout layout) {
        return writeIfAbsent(dir, seed, layout, false);
    }

    /**
     * The same checkpoint (every tensor as {@link #writeIfAbsent(Path, long)} writes it for the seed) except that
     * the LLM never ends a reply: the {@code lm_head} rows of the eos tokens are zero, so their logits are 0 and
     * the greedy choice, the largest of 264 logits of which the other 261 are random, is never one of them. A
     * reply then runs to the token cap, for tests whose premise is a turn still generating when something
     * happens (a hang-up, a crash): the random model otherwise ends a reply now and then, wherever its greedy
     * walk reaches an eos token, which depends on the audio the call carried.
     */
    public static Path writeEndlessIfAbsent(Path dir, long seed) {
        return writeIfAbsent(dir, seed, EncoderLayout.IN_SHARDS, true);
    }

    private static Path writeIfAbsent(Path dir, long seed, EncoderLayout layout, boolean endless) {
        Path marker = dir.resolve(COMPLETE_MARKER);
        String stamp = "seed=" + seed + "\n" + FORMAT + "\n" + (endless ? ENDLESS + "\n" : "");
        try {
            if (Files.isRegularFile(marker)) {
                if (Files.readString(marker).equals(stamp)) {
                    return dir;
                }
                // written by an older version of this writer (e.g. without the Whisper decoder): replace it
                Path old = dir.resolveSibling(dir.getFileName() + ".old-" + System.nanoTime());
                try {
                    Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
                    deleteTree(old);
                } catch (IOException movedByAnother) {
                    if (Files.isRegularFile(marker) && Files.readString(marker).equals(stamp)) {
                        return dir;
                    }
                }
            }
            Files.createDirectories(dir.toAbsolutePath().getParent());
            Path staging = Files.createTempDirectory(dir.toAbsolutePath().getParent(), ".tiny-");
            new TinyCheckpointWriter(seed, layout, endless).write(staging, tinyConfig(), tinyVocoderConfig());
            Files.writeString(staging.resolve(COMPLETE_MARKER), stamp);
            try {
                Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                if (!Files.isRegularFile(marker)) {
                    throw raced;
                }
                deleteTree(staging);
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the tiny checkpoint to " + dir, e);
        }
    }

    /** Writes a checkpoint with the given (small) dimensions into an empty or new dir. */
    public static void write(Path dir, long seed, OmniConfig config, VocoderConfig vocoder) throws IOException {
        write(dir, seed, config, vocoder, EncoderLayout.IN_SHARDS);
    }

    /** The same, with the encoder in the given layout. */
    public static void write(Path dir, long seed, OmniConfig config, VocoderConfig vocoder, EncoderLayout layout)
            throws IOException {
        new TinyCheckpointWriter(seed, layout, false).write(dir, config, vocoder);
    }

    private void write(Path dir, OmniConfig c, VocoderConfig vc) throws IOException {
        Files.createDirectories(dir);
        OmniConfig written = layout == EncoderLayout.OPENAI_FILE ? c.withSpeechEncoder(OPENAI_ENCODER_FILE) : c;
        JsonObject configJson = com.google.gson.JsonParser.parseString(Json.write(written)).getAsJsonObject();
        if (layout == EncoderLayout.IN_SHARDS) {
            // the decoder in the shards: its layers and heads in config.json (openai's file carries its own dims)
            configJson.addProperty(SpeechDecoderConfig.NUM_LAYERS_KEY, TinySharedBlocks.TEXT_LAYERS);
            configJson.addProperty(SpeechDecoderConfig.NUM_HEADS_KEY, c.speechEncoderNumHeads());
        }
        Files.writeString(dir.resolve(OmniConfig.FILE_NAME), new com.google.gson.GsonBuilder().setPrettyPrinting()
                .disableHtmlEscaping().create().toJson(configJson));
        // the Whisper vocabulary at its default place: beside the decoder's weights
        Path vocabulary = layout == EncoderLayout.IN_SHARDS ? dir.resolve(WhisperTokenizer.FILE_NAME)
                : dir.resolve(OPENAI_ENCODER_FILE).resolveSibling(WhisperTokenizer.FILE_NAME);
        TinySharedBlocks.whisperVocabulary(vocabulary);
        // shard 1: speech encoder and adaptor; shard 2: LLM; shard 3: speech generator
        Map<String, SafeTensorsWriter> shards = new LinkedHashMap<>();
        String s1 = "model-00001-of-00003.safetensors";
        String s2 = "model-00002-of-00003.safetensors";
        String s3 = "model-00003-of-00003.safetensors";
        shards.put(s1, speechEncoderAndAdaptor(c.speechBlocks(), dir));
        shards.put(s2, llm(c));
        shards.put(s3, speechGenerator(c));
        JsonObject weightMap = new JsonObject();
        long total = 0;
        for (Map.Entry<String, SafeTensorsWriter> e : shards.entrySet()) {
            e.getValue().metadata("format", "pt");
            e.getValue().write(dir.resolve(e.getKey()));
            total += e.getValue().dataBytes();
        }
        for (Map.Entry<String, SafeTensorsWriter> e : shards.entrySet()) {
            for (String name : dev.omnicall.model.io.SafeTensorsFile.open(dir.resolve(e.getKey())).names()) {
                weightMap.addProperty(name, e.getKey());
            }
        }
        JsonObject index = new JsonObject();
        JsonObject meta = new JsonObject();
        meta.addProperty("total_size", total);
        index.add("metadata", meta);
        index.add("weight_map", weightMap);
        Files.writeString(dir.resolve(ShardedCheckpoint.INDEX_FILE), index.toString());
        Files.writeString(dir.resolve(OmniTokenizer.FILE_NAME), tokenizerJson(c.vocabSize()));
        writeVocoder(dir, vc);
    }

    /**
     * The Whisper encoder and decoder (in the shards, or in openai's file with its dims for
     * {@link EncoderLayout#OPENAI_FILE}) and the adaptor; the shard's writer.
     */
    private SafeTensorsWriter speechEncoderAndAdaptor(SpeechBlocksConfig c, Path dir) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        if (layout == EncoderLayout.IN_SHARDS) {
            blocks.whisperEncoder(c, (name, shape, values) -> w.putFloats(WhisperEncoder.PREFIX + name, DType.F16,
                    shape, values));
            blocks.whisperDecoder(c, (name, shape, values) -> w.putFloats(WhisperDecoder.PREFIX + name, DType.F16,
                    shape, values));
        } else {
            TorchCheckpointWriter pt = new TorchCheckpointWriter();
            blocks.whisperEncoder(c, (name, shape, values) -> pt.put(WhisperCheckpoint.ENCODER_PREFIX + name, shape,
                    values, DType.F16));
            blocks.whisperDecoder(c, (name, shape, values) -> pt.put(WhisperCheckpoint.DECODER_PREFIX + name, shape,
                    values, DType.F16));
            pt.write(dir.resolve(OPENAI_ENCODER_FILE), WhisperCheckpoint.STATE_KEY,
                    Map.of(WhisperCheckpoint.DIMS_KEY, TinySharedBlocks.whisperDims(c)));
        }
        blocks.adaptor(w, c);
        return w;
    }

    private SafeTensorsWriter llm(OmniConfig c) {
        SafeTensorsWriter w = new SafeTensorsWriter();
        blocks.transformer(w, c.llmSpec());
        if (endless) {
            w.zeroRows(c.llmSpec().prefix() + "lm_head.weight", c.eosTokenId().stream().mapToInt(Integer::intValue).toArray());
        }
        return w;
    }

    private SafeTensorsWriter speechGenerator(OmniConfig c) {
        SafeTensorsWriter w = new SafeTensorsWriter();
        var spec = c.ctcDecoder();
        String p = CtcUnitDecoder.PREFIX;
        blocks.linear(w, p + "input_proj.weight", spec.dim(), c.hiddenSize(), new long[] {spec.dim(), c.hiddenSize()});
        blocks.bias(w, p + "input_proj.bias", spec.dim());
        for (int i = 0; i < spec.layers(); i++) {
            blocks.llamaLayer(w, p + "layers." + i + ".", spec.dim(), spec.heads(), spec.heads(), spec.ffn(), false);
        }
        // a larger output scale makes greedy labels decisive, as a trained decoder's are
        long classes = c.unitVocabSize() + 1L;
        w.putFloats(p + "output_proj.weight", DType.F16, new long[] {classes, spec.dim()},
                blocks.gaussian((int) (classes * spec.dim()), 3.0 / Math.sqrt(spec.dim())));
        blocks.bias(w, p + "output_proj.bias", (int) classes);
        return w;
    }

    private void writeVocoder(Path dir, VocoderConfig vc) throws IOException {
        TorchCheckpointWriter w = new TorchCheckpointWriter();
        int emb = vc.embeddingDim();
        var dp = vc.durPredictorParams();
        int h = dp.varPredHiddenDim();
        int k = dp.varPredKernelSize();
        w.put("dict.weight", new long[] {vc.numEmbeddings(), emb}, blocks.gaussian(vc.numEmbeddings() * emb, 1.0));
        w.put("dur_predictor.conv1.0.weight", new long[] {h, emb, k},
                blocks.gaussian(h * emb * k, 1 / Math.sqrt(emb * k)));
        w.put("dur_predictor.conv1.0.bias", new long[] {h}, blocks.gaussian(h, 0.02));
        w.put("dur_predictor.ln1.weight", new long[] {h}, blocks.nearOnes(h));
        w.put("dur_predictor.ln1.bias", new long[] {h}, blocks.gaussian(h, 0.02));
        w.put("dur_predictor.conv2.0.weight", new long[] {h, h, k}, blocks.gaussian(h * h * k, 1 / Math.sqrt(h * k)));
        w.put("dur_predictor.conv2.0.bias", new long[] {h}, blocks.gaussian(h, 0.02));
        w.put("dur_predictor.ln2.weight", new long[] {h}, blocks.nearOnes(h));
        w.put("dur_predictor.ln2.bias", new long[] {h}, blocks.gaussian(h, 0.02));
        // log-durations around 1.1: one to three frames per unit
        w.put("dur_predictor.proj.weight", new long[] {1, h}, blocks.gaussian(h, 0.3 / Math.sqrt(h)));
        w.put("dur_predictor.proj.bias", new long[] {1}, new float[] {1.1f});
        int c0 = vc.upsampleInitialChannel();
        weightNorm(w, "conv_pre", c0, emb, 7);
        w.put("conv_pre.bias", new long[] {c0}, blocks.gaussian(c0, 0.02));
        int kernels = vc.resblockKernelSizes().size();
        for (int i = 0; i < vc.upsampleRates().size(); i++) {
            int in = c0 >> i;
            int out = c0 >> (i + 1);
            weightNorm(w, "ups." + i, in, out, vc.upsampleKernelSizes().get(i));
            w.put("ups." + i + ".bias", new long[] {out}, blocks.gaussian(out, 0.02));
            for (int j = 0; j < kernels; j++) {
                String rb = "resblocks." + (i * kernels + j) + ".";
                int kk = vc.resblockKernelSizes().get(j);
                for (int m = 0; m < vc.resblockDilationSizes().get(j).size(); m++) {
                    for (String conv : List.of("convs1.", "convs2.")) {
                        weightNorm(w, rb + conv + m, out, out, kk);
                        w.put(rb + conv + m + ".bias", new long[] {out}, blocks.gaussian(out, 0.02));
                    }
                }
            }
        }
        int last = c0 >> vc.upsampleRates().size();
        weightNorm(w, "conv_post", 1, last, 7);
        w.put("conv_post.bias", new long[] {1}, blocks.gaussian(1, 0.02));
        w.write(dir.resolve(ModelOptions.DEFAULT_VOCODER), "generator");
        Files.writeString(dir.resolve(ModelOptions.DEFAULT_VOCODER_CONFIG), Json.write(vc));
    }

    /** weight_v random, weight_g around 1 per dim-0 slice (so each output channel has unit norm). */
    private void weightNorm(TorchCheckpointWriter w, String p, int d0, int d1, int k) {
        w.put(p + ".weight_v", new long[] {d0, d1, k}, blocks.gaussian(d0 * d1 * k, 1.0));
        float[] g = new float[d0];
        for (int i = 0; i < d0; i++) {
            g[i] = (float) (1.0 + 0.1 * blocks.nextGaussian());
        }
        w.put(p + ".weight_g", new long[] {d0, 1, 1}, g);
    }

    /**
     * A byte-level BPE tokenizer (GPT-2 byte alphabet, ids 0-255, no merges) with the Llama-3 special
     * tokens at 256.. and, like the real Llama-3 tokenizer.json, a post-processor that prepends
     * <|begin_of_text|> (which the runtime must not use).
     */
    static String tokenizerJson(int vocabSize) {
        return TinyBpeTokenizer.json(vocabSize, SPECIALS, "<|begin_of_text|>");
    }

    private static void deleteTree(Path root) throws IOException {
        try (var paths = Files.walk(root)) {
            List<Path> all = new ArrayList<>(paths.toList());
            java.util.Collections.reverse(all);
            for (Path p : all) {
                Files.deleteIfExists(p);
            }
        }
    }
}
