"""`conv_bilstm_attn`: convolutional blocks, a bidirectional LSTM and additive attention over time.

The layout of the multi-centre acute-MI study: convolution blocks extract local waveform features and shorten
the sequence (each block halves it), a bidirectional LSTM reads the shortened sequence in both directions, and
additive attention pools the LSTM states into one vector, weighting the moments that matter (e.g. ST-T
segments). Age and sex join late, at the task heads (see `shared.models.heads`). The DP variant swaps
`nn.LSTM` for Opacus' `DPLSTM`, whose gates are plain linear layers with per-sample gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from shared.models.heads import ECGBackbone
from shared.models.normalization import norm1d


class AdditiveAttentionPooling(nn.Module):
    """Pools `(batch, time, features)` into `(batch, features)` with learned softmax weights over time.

    score_t = v . tanh(W h_t + b); the weights are softmax(score) over time, computed per sample.
    """

    def __init__(self, features: int, attention_width: int) -> None:
        super().__init__()
        self.project = nn.Linear(features, attention_width)
        self.score = nn.Linear(attention_width, 1, bias=False)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(torch.tanh(self.project(states))), dim=1)
        return (weights * states).sum(dim=1)


class ConvBiLSTMAttention(ECGBackbone):
    """Backbone mapping signals `(batch, leads, samples)` to features `(batch, out_features)`."""

    def __init__(
        self,
        *,
        dp: bool = False,
        leads: int = 12,
        conv_widths: Sequence[int] = (32, 64, 96, 128),
        kernel_size: int = 7,
        lstm_hidden: int = 96,
        lstm_layers: int = 1,
        attention_width: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = leads
        for width in conv_widths:
            layers += [
                nn.Conv1d(in_channels, width, kernel_size, padding=kernel_size // 2, bias=False),
                norm1d(width, dp),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            in_channels = width
        self.convolutions = nn.Sequential(*layers)
        lstm_type: type[nn.Module] = nn.LSTM
        if dp:  # Opacus is imported only when needed: it slows the start of every process that imports it
            from opacus.layers import DPLSTM

            lstm_type = DPLSTM
        self.lstm = lstm_type(
            in_channels,
            lstm_hidden,
            num_layers=lstm_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if lstm_layers > 1 else 0.0,
        )
        self.attention = AdditiveAttentionPooling(2 * lstm_hidden, attention_width)
        self.dropout = nn.Dropout(dropout)
        self.out_features = 2 * lstm_hidden

    def forward(self, signals: torch.Tensor) -> torch.Tensor:
        sequence = self.convolutions(signals).transpose(1, 2)  # (batch, time, channels) for the LSTM
        states, _ = self.lstm(sequence)
        return self.dropout(self.attention(states))
