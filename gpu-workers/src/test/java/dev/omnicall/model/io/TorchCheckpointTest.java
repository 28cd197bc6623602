package dev.omnicall.model.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.PythonOracle;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TorchCheckpointTest {
    @TempDir
    Path tmp;

    @Test
    void shouldReadBackWhatTheWriterWrote() throws IOException {
        Path file = tmp.resolve("g_test");
        new TorchCheckpointWriter().put("a.weight_v", new long[] {2, 3, 1}, new float[] {1, 2, 3, 4, 5, 6})
                .put("a.bias", new long[] {2}, new float[] {-1, 0.5f}).write(file, "generator");
        try (TorchCheckpoint t = TorchCheckpoint.open(file, "generator"); NDManager m = NDManager.newBaseManager()) {
            assertThat(t.names()).containsExactly("a.weight_v", "a.bias");
            assertThat(t.load(m, "a.weight_v", DataType.FLOAT32, 2, 3, 1).toFloatArray())
                    .containsExactly(1, 2, 3, 4, 5, 6);
            assertThat(t.load(m, "a.bias", DataType.FLOAT32, 2).toFloatArray()).containsExactly(-1, 0.5f);
        }
    }

    @Test
    void shouldReadAFileWrittenByTorchSaveOfDebianPyTorch() throws Exception {
        // Given a fairseq-like checkpoint written by torch.save (fp32 and fp16 tensors, a nested dict,
        // a Namespace-like object and an optimizer-ish list beside the generator)
        Assumptions.assumeTrue(PythonOracle.torchAvailable(), "Debian /usr/bin/python3 with torch is not available");
        Path file = tmp.resolve("g_00000001");
        PythonOracle.run("""
                import torch, argparse, collections, sys
                g = collections.OrderedDict()
                g['dict.weight'] = torch.arange(12, dtype=torch.float32).reshape(4, 3)
                g['conv_pre.weight_g'] = torch.tensor([[[0.5]], [[2.0]]])
                g['half'] = torch.tensor([1.5, -2.25], dtype=torch.float16)
                g['bf'] = torch.tensor([3.0, -0.5], dtype=torch.bfloat16)
                g['slice'] = torch.arange(10, dtype=torch.float32)[4:7]
                torch.save({'generator': g, 'args': argparse.Namespace(lr=0.1, name='x'),
                            'optim': [{'step': 3, 'betas': (0.9, 0.99)}], 'steps': 500000, 'ok': True, 'none': None},
                           sys.argv[1])
                """, file.toString());
        // When read with the Java reader
        try (TorchCheckpoint t = TorchCheckpoint.open(file, "generator"); NDManager m = NDManager.newBaseManager()) {
            // Then names, shapes, dtypes and values are torch's
            assertThat(t.names()).containsExactly("dict.weight", "conv_pre.weight_g", "half", "bf", "slice");
            assertThat(t.load(m, "dict.weight", DataType.FLOAT32, 4, 3).toFloatArray())
                    .containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
            assertThat(t.load(m, "conv_pre.weight_g", DataType.FLOAT32, 2, 1, 1).toFloatArray()).containsExactly(0.5f, 2f);
            assertThat(t.info("half").dtype()).isEqualTo(DType.F16);
            assertThat(t.load(m, "half", DataType.FLOAT32, 2).toFloatArray()).containsExactly(1.5f, -2.25f);
            assertThat(t.load(m, "bf", DataType.FLOAT32, 2).toFloatArray()).containsExactly(3.0f, -0.5f);
            // a view into a larger storage keeps its offset
            assertThat(t.load(m, "slice", DataType.FLOAT32, 3).toFloatArray()).containsExactly(4, 5, 6);
        }
        assertThat(TorchCheckpoint.readRoot(file)).containsKeys("generator", "args", "optim", "steps");
    }

    @Test
    void shouldSayHowToConvertWhenGivenALegacyFile() throws IOException {
        Path file = tmp.resolve("legacy.pt");
        Files.write(file, new byte[] {(byte) 0x80, 2, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc});
        assertThatThrownBy(() -> TorchCheckpoint.open(file, "generator")).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("legacy").hasMessageContaining("torch.save(torch.load(");
    }
}
