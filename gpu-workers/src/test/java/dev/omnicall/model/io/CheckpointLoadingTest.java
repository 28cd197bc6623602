package dev.omnicall.model.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointLoadingTest {
    @TempDir
    Path tmp;

    private Path copyOfTiny() throws IOException {
        return TinyModels.copyCheckpoint(TinyModels.checkpointDir(), tmp.resolve("ckpt"));
    }

    /** Rewrites the shard holding name so that the tensor has another shape or dtype (or is gone). */
    private void replaceTensor(Path dir, String name, DType dtype, long[] shape) throws IOException {
        try (ShardedCheckpoint ckpt = ShardedCheckpoint.open(dir)) {
            Path shard = ckpt.info(name).file();
            SafeTensorsWriter w = new SafeTensorsWriter();
            try (SafeTensorsFile f = SafeTensorsFile.open(shard)) {
                for (String n : f.names()) {
                    TensorInfo info = f.info(n);
                    if (n.equals(name)) {
                        if (shape != null) {
                            long count = 1;
                            for (long d : shape) {
                                count *= d;
                            }
                            w.put(n, dtype, shape, new byte[(int) (count * dtype.bytes())]);
                        }
                        continue;
                    }
                    byte[] data = new byte[(int) info.length()];
                    try (var ch = java.nio.channels.FileChannel.open(shard)) {
                        ch.read(java.nio.ByteBuffer.wrap(data), info.offset());
                    }
                    w.put(n, info.dtype(), info.shape(), data);
                }
            }
            w.write(shard);
        }
    }

    @Test
    void shouldWriteAShardedFp16CheckpointWithAnIndexAndTheVocoder() {
        Path dir = TinyModels.checkpointDir();
        assertThat(dir.resolve("model.safetensors.index.json")).exists();
        assertThat(dir.resolve(ModelOptions.DEFAULT_VOCODER)).exists();
        assertThat(dir.resolve(ModelOptions.DEFAULT_VOCODER_CONFIG)).exists();
        try (ShardedCheckpoint ckpt = ShardedCheckpoint.open(dir)) {
            assertThat(ckpt.shardCount()).isGreaterThanOrEqualTo(2);
            assertThat(ckpt.info("model.layers.0.self_attn.q_proj.weight").dtype()).isEqualTo(DType.F16);
            assertThat(ckpt.names()).contains("model.speech_encoder.blocks.1.attn.key.weight",
                    "model.speech_projector.linear2.bias", "speech_generator.output_proj.weight", "lm_head.weight");
        }
    }

    @Test
    void shouldWriteByteIdenticalFilesForTheSameSeed() throws IOException {
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        TinyCheckpointWriter.writeIfAbsent(a, 99);
        TinyCheckpointWriter.writeIfAbsent(b, 99);
        assertThat(digests(a)).isEqualTo(digests(b));
    }

    private static Map<String, String> digests(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.filter(Files::isRegularFile).toList()) {
                try {
                    out.put(dir.relativize(p).toString(), HexFormat.of().formatHex(
                            MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p))));
                } catch (java.security.NoSuchAlgorithmException e) {
                    throw new IllegalStateException(e);
                }
            }
        }
        return out;
    }

    @Test
    void shouldNameTheTensorAndBothShapesWhenAShapeIsWrong() throws IOException {
        Path dir = copyOfTiny();
        replaceTensor(dir, "model.layers.1.mlp.down_proj.weight", DType.F16, new long[] {64, 127});
        assertThatThrownBy(() -> OmniModel.load(dir, ModelOptions.defaults()))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.layers.1.mlp.down_proj.weight")
                .hasMessageContaining("[64, 127]")
                .hasMessageContaining("[64, 128]");
    }

    @Test
    void shouldNameTheTensorWhenItIsMissing() throws IOException {
        Path dir = copyOfTiny();
        replaceTensor(dir, "speech_generator.layers.1.post_attention_layernorm.weight", DType.F16, null);
        // the index still lists it: the index check names the tensor and the shard
        assertThatThrownBy(() -> OmniModel.load(dir, ModelOptions.defaults()))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("speech_generator.layers.1.post_attention_layernorm.weight");
    }

    @Test
    void shouldNameTheTensorWhenItsDtypeIsNotFloat() throws IOException {
        Path dir = copyOfTiny();
        replaceTensor(dir, "model.norm.weight", DType.I64, new long[] {64});
        assertThatThrownBy(() -> OmniModel.load(dir, ModelOptions.defaults()))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.norm.weight").hasMessageContaining("I64");
    }

    @Test
    void shouldNameTheTensorWhenTheModelExpectsOneTheCheckpointLacks() {
        try (ShardedCheckpoint ckpt = ShardedCheckpoint.open(TinyModels.checkpointDir());
                NDManager m = NDManager.newBaseManager()) {
            assertThatThrownBy(() -> ckpt.load(m, "model.layers.9.self_attn.q_proj.weight", DataType.FLOAT32, 64, 64))
                    .isInstanceOf(CheckpointException.class)
                    .hasMessageContaining("model.layers.9.self_attn.q_proj.weight is missing")
                    .hasMessageContaining("[64, 64]");
        }
    }

    @Test
    void shouldWidenBf16InJavaToTheSameValues() throws IOException {
        // Given values exactly representable in bf16, written as BF16 and as F32
        float[] values = {1f, -2.5f, 0.15625f, Float.intBitsToFloat(0x7F000000), -Float.MIN_NORMAL, 0f, 65280f};
        Path file = tmp.resolve("bf16.safetensors");
        new SafeTensorsWriter().putFloats("x", DType.BF16, new long[] {7}, values).write(file);
        try (SafeTensorsFile f = SafeTensorsFile.open(file); NDManager m = NDManager.newBaseManager()) {
            // When loaded as float32 (DJL never sees a bf16 array)
            NDArray x = f.load(m, "x", DataType.FLOAT32, 7);
            System.gc();
            // Then every value survives exactly
            assertThat(x.getDataType()).isEqualTo(DataType.FLOAT32);
            assertThat(x.toFloatArray()).containsExactly(values);
            // and as float16 where in range
            NDArray h = f.load(m, "x", DataType.FLOAT16, 7);
            assertThat(h.toType(DataType.FLOAT32, false).getFloat(2)).isEqualTo(0.15625f);
        }
        assertThat(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(1.00390625f))).isEqualTo(1.0f); // ties to even
        assertThat(HalfFloats.halfToFloat(HalfFloats.floatToHalf(65504f))).isEqualTo(65504f);
        assertThat(HalfFloats.halfToFloat(HalfFloats.floatToHalf(5.96e-8f))).isEqualTo(0x1p-24f);
    }

    @Test
    void shouldLoadTheVocoderFromItsSafetensorsConversionToo() throws IOException {
        // Given the torch.save vocoder converted to safetensors (the documented alternative)
        Path dir = copyOfTiny();
        SafeTensorsWriter w = new SafeTensorsWriter();
        try (TorchCheckpoint t = TorchCheckpoint.open(dir.resolve(ModelOptions.DEFAULT_VOCODER), "generator");
                NDManager m = NDManager.newBaseManager()) {
            for (String n : t.names()) {
                TensorInfo info = t.info(n);
                w.putFloats(n, DType.F32, info.shape(), t.load(m, n, DataType.FLOAT32, info.shape()).toFloatArray());
            }
        }
        w.write(dir.resolve("vocoder/model.safetensors"));
        ModelOptions options = new ModelOptions("cpu", null, 0, "vocoder/model.safetensors", null);
        int[] units = {1, 2, 3, 4, 5};
        // When both load, Then they synthesise the same audio
        try (OmniModel converted = OmniModel.load(dir, options)) {
            float[] a = converted.vocoder().synthesize(units).audio();
            float[] b = TinyModels.model().vocoder().synthesize(units).audio();
            assertThat(a).containsExactly(b);
        }
    }
}
