"""The CodeHiFiGAN unit vocoder in fairseq's layout (the names the Java UnitVocoder loads).

dict (unit embedding) -> dur_predictor (VariancePredictor, trained on log(1 + duration) so that
clamp(round(exp(out) - 1), min 1) inverts it) -> units repeated by duration -> conv_pre -> per stage:
leaky_relu(0.1), ConvTranspose1d upsampling, mean of MRF ResBlock1s -> leaky_relu(0.01) -> conv_post -> tanh.
Weight norm stays as weight_g / weight_v parameters (torch.nn.utils.weight_norm), as in fairseq's files.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import weight_norm

LRELU_SLOPE = 0.1


def default_config(num_units=200, channels=256, embedding_dim=128):
    return {
        "resblock": "1",
        "upsample_rates": [5, 4, 4, 2, 2],
        "upsample_kernel_sizes": [11, 8, 8, 4, 4],
        "upsample_initial_channel": channels,
        "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "model_in_dim": embedding_dim,
        "num_embeddings": num_units,
        "embedding_dim": embedding_dim,
        "code_hop_size": 320,
        "sampling_rate": 16000,
        "dur_predictor_params": {"encoder_embed_dim": embedding_dim, "var_pred_hidden_dim": embedding_dim,
                                 "var_pred_kernel_size": 3, "var_pred_dropout": 0.5},
    }


def _init(m):
    if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
        m.weight.data.normal_(0.0, 0.01)


class ResBlock1(nn.Module):
    def __init__(self, ch, k, dilations):
        super().__init__()
        self.dilations = dilations
        self.convs1 = nn.ModuleList(
            [weight_norm(nn.Conv1d(ch, ch, k, 1, dilation=d, padding=(k * d - d) // 2)) for d in dilations])
        self.convs2 = nn.ModuleList(
            [weight_norm(nn.Conv1d(ch, ch, k, 1, dilation=1, padding=(k - 1) // 2)) for _ in dilations])

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
            x = xt + x
        return x


class VariancePredictor(nn.Module):
    """fairseq VariancePredictor: conv1.0 / ln1 / conv2.0 / ln2 / proj."""

    def __init__(self, emb, hidden, k, dropout):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv1d(emb, hidden, k, padding=(k - 1) // 2), nn.ReLU())
        self.ln1 = nn.LayerNorm(hidden)
        self.dropout_module = nn.Dropout(dropout)
        self.conv2 = nn.Sequential(nn.Conv1d(hidden, hidden, k, padding=(k - 1) // 2), nn.ReLU())
        self.ln2 = nn.LayerNorm(hidden)
        self.proj = nn.Linear(hidden, 1)

    def forward(self, x):
        # x [B, T, emb] -> log(1 + duration) [B, T]
        x = self.conv1(x.transpose(1, 2)).transpose(1, 2)
        x = self.dropout_module(self.ln1(x))
        x = self.conv2(x.transpose(1, 2)).transpose(1, 2)
        x = self.dropout_module(self.ln2(x))
        return self.proj(x).squeeze(-1)


class CodeHiFiGAN(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        emb = cfg["embedding_dim"]
        c0 = cfg["upsample_initial_channel"]
        dp = cfg["dur_predictor_params"]
        self.dict = nn.Embedding(cfg["num_embeddings"], emb)
        self.dur_predictor = VariancePredictor(emb, dp["var_pred_hidden_dim"], dp["var_pred_kernel_size"],
                                               dp["var_pred_dropout"])
        self.conv_pre = weight_norm(nn.Conv1d(emb, c0, 7, 1, padding=3))
        self.num_kernels = len(cfg["resblock_kernel_sizes"])
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (u, k) in enumerate(zip(cfg["upsample_rates"], cfg["upsample_kernel_sizes"])):
            self.ups.append(weight_norm(nn.ConvTranspose1d(c0 >> i, c0 >> (i + 1), k, u, padding=(k - u) // 2)))
            for rk, rd in zip(cfg["resblock_kernel_sizes"], cfg["resblock_dilation_sizes"]):
                self.resblocks.append(ResBlock1(c0 >> (i + 1), rk, rd))
        self.conv_post = weight_norm(nn.Conv1d(c0 >> len(cfg["upsample_rates"]), 1, 7, 1, padding=3))
        self.init_variance_preserving()

    def init_variance_preserving(self):
        """Weight-norm gains so that activations keep their scale (HiFi-GAN's N(0, 0.01) init shrinks the signal
        ~1000x through the stack, and Adam needs thousands of steps to grow the gains back; this budget has
        not got them): conv_pre 1, ups sqrt(rate) (leaky ReLU before, channels halve), resblock convs1 sqrt(2),
        convs2 0.5 (residual branches start small), conv_post 0.5; biases zero."""
        def set_gain(conv, g):
            conv.weight_v.data.normal_(0.0, 1.0)
            conv.weight_g.data.fill_(g)
            conv.bias.data.zero_()
        set_gain(self.conv_pre, 1.0)
        for up, u in zip(self.ups, self.cfg["upsample_rates"]):
            set_gain(up, u ** 0.5)
        for rb in self.resblocks:
            for c in rb.convs1:
                set_gain(c, 2 ** 0.5)
            for c in rb.convs2:
                set_gain(c, 0.5)
        set_gain(self.conv_post, 0.5)

    def generate(self, frame_units):
        """frame-level (already expanded) units [B, T] -> waveform [B, T * hop]."""
        x = self.conv_pre(self.dict(frame_units).transpose(1, 2))
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            xs = None
            for j in range(self.num_kernels):
                r = self.resblocks[i * self.num_kernels + j](x)
                xs = r if xs is None else xs + r
            x = xs / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))  # PyTorch's default slope 0.01, as fairseq
        return torch.tanh(x).squeeze(1)

    def log_durations(self, units):
        """collapsed units [B, L] -> predicted log(1 + duration) [B, L]."""
        return self.dur_predictor(self.dict(units))

    @torch.no_grad()
    def predict_durations(self, units):
        """fairseq's inference rule: clamp(round(exp(out) - 1), min 1) (torch.round is half-to-even)."""
        return torch.clamp(torch.round(torch.exp(self.log_durations(units)) - 1), min=1).long()

    @torch.no_grad()
    def synthesize(self, units, durations=None):
        """collapsed units (list) -> (waveform [S], durations used); durations predicted when None."""
        u = torch.tensor([x for x in units if x >= 0], dtype=torch.long)
        if durations is None:
            durations = self.predict_durations(u[None])[0]
        else:
            durations = torch.as_tensor(durations, dtype=torch.long)
        frames = torch.repeat_interleave(u, durations)
        return self.generate(frames[None])[0], durations
