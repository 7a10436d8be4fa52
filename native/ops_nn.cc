// Neural-network building blocks composed from ATen ops (no hand-written kernels): embeddings, normalisation,
// the fused GRU, attention, convolution, and the losses.
#include "handles.h"
#include <cmath>

namespace cdmm {

static c10::optional<at::Tensor> Opt(const at::Tensor& t) { return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt; }

FN(Embedding) {
  ENV;
  return Guard(info, "embedding", [&]() -> Napi::Value {
    const auto& w = T(info, 0);
    const auto& idx = T(info, 1);
    return H(env, at::embedding(w, idx, info[2].IsNumber() ? ARGI(2) : -1));
  });
}

// embeddingBag(weight, indices, offsets, mode 0=sum 1=mean 2=max, perSampleWeights|-1)
FN(EmbeddingBag) {
  ENV;
  return Guard(info, "embeddingBag", [&]() -> Napi::Value {
    const auto& w = T(info, 0);
    const auto& idx = T(info, 1);
    const auto& off = T(info, 2);
    at::Tensor psw = OptT(info, 4);
    auto r = at::embedding_bag(w, idx, off, false, ARGI(3), false, Opt(psw), false);
    return H(env, std::get<0>(r));
  });
}

FN(LayerNorm) {
  ENV;
  return Guard(info, "layerNorm", [&]() -> Napi::Value {
    const auto& x = T(info, 0);
    auto shape = IntList(info[1]);
    at::Tensor w = OptT(info, 2), b = OptT(info, 3);
    return H(env, at::layer_norm(x, shape, Opt(w), Opt(b), ARGD(4)));
  });
}

FN(Dropout) { ENV; return Guard(info, "dropout", [&]() -> Napi::Value { return H(env, at::dropout(T(info, 0), ARGD(1), ARGB(2))); }); }

// gru(input, hx|-1, params[], hasBiases, numLayers, dropout, train, bidirectional, batchFirst) → [output, h_n]
FN(Gru) {
  ENV;
  return Guard(info, "gru", [&]() -> Napi::Value {
    const auto& x = T(info, 0);
    at::Tensor hx = OptT(info, 1);
    auto params = TensorList(info[2]);
    bool hasBiases = ARGB(3);
    int64_t layers = ARGI(4);
    bool bidir = ARGB(7), batchFirst = ARGB(8);
    if (x.dim() != 3) throw std::runtime_error("gru expects a 3-d input (batch, time, features)");
    int64_t hidden = params.at(1).size(1);
    if (!hx.defined()) hx = at::zeros({layers * (bidir ? 2 : 1), x.size(batchFirst ? 0 : 1), hidden}, x.options());
    auto r = at::gru(x, hx, params, hasBiases, layers, ARGD(5), ARGB(6), bidir, batchFirst);
    return HandleArray(env, {std::get<0>(r), std::get<1>(r)});
  });
}

// ---- attention ----
// Scaled dot-product attention over heads-split, batch-first tensors: q (B, L, H, Dh), k and v (B, S, H, Dh) →
// (B, L, H, Dh). keyPadding (B, S): true = ignore that key; attnMask (L, S) or (B·H, L, S): bool (true = not allowed,
// as in torch.nn.MultiheadAttention) or additive float. Ignored keys get −1e9, not −inf: a query whose every key is
// ignored gets uniform weights instead of NaN. *weights, when asked for, receives the head-averaged weights (B, L, S).
//
// Two evaluations of the same function, chosen by the number of keys S:
//  - S ≥ kMatmulKeys: libtorch's at::_scaled_dot_product_attention.
//  - fewer keys (cdmm's transformer fusion has one token per modality): broadcast products and sums over the
//    (B, L, S, H, Dh) grid. libtorch 1.13's CPU matmul gives each (batch, head) pair its own BLAS call for such
//    small matrices; at 4 keys that ran 2.5× slower forward and 2× slower forward + backward (native/README.md).
// Both are compositions of differentiable ATen ops, so autograd needs nothing more.
static constexpr int64_t kMatmulKeys = 8;

static at::Tensor Attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& kpm, const at::Tensor& am,
                            double p, bool train, at::Tensor* weights) {
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) throw std::runtime_error("attention expects (batch, length, heads, head dim) inputs");
  int64_t B = q.size(0), L = q.size(1), H = q.size(2), Dh = q.size(3), S = k.size(1);
  if (k.size(0) != B || v.size(0) != B || k.size(2) != H || v.size(2) != H || k.size(3) != Dh || v.size(1) != S)
    throw std::runtime_error("attention: query, key and value shapes do not match");
  if (kpm.defined() && (kpm.dim() != 2 || kpm.size(0) != B || kpm.size(1) != S))
    throw std::runtime_error("attention: the key padding mask must be (batch, keys)");
  const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
  const double dropout = train ? p : 0.0;
  // The attention mask as a (L, S) or (B, H, L, S) tensor; bool → additive.
  at::Tensor mask = am;
  if (mask.defined()) {
    if (mask.dim() == 3) mask = mask.view({B, H, L, S});
    else if (mask.dim() != 2) throw std::runtime_error("attention: the attention mask must be (L, S) or (batch·heads, L, S)");
    if (mask.scalar_type() == at::kBool) mask = at::zeros(mask.sizes(), q.options()).masked_fill(mask, -1e9);
  }
  if (S >= kMatmulKeys) {
    at::Tensor bias;  // (B, 1, 1, S) and/or the attention mask, one additive term
    if (kpm.defined()) bias = at::zeros({B, 1, 1, S}, q.options()).masked_fill(kpm.to(at::kBool).view({B, 1, 1, S}), -1e9);
    if (mask.defined()) bias = bias.defined() ? bias + mask : mask;
    auto r = at::_scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                               bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt, dropout, weights != nullptr, false);
    if (weights) *weights = std::get<1>(r).mean(1);
    return std::get<0>(r).transpose(1, 2);
  }
  // scores[b, l, s, h] = Σ_d q[b, l, h, d] k[b, s, h, d] / √Dh
  auto scores = (q.unsqueeze(2) * k.unsqueeze(1)).sum(-1).mul(scale);
  if (mask.defined()) scores = scores + (mask.dim() == 2 ? mask.view({1, L, S, 1}) : mask.permute({0, 2, 3, 1}));
  if (kpm.defined()) scores = scores.masked_fill(kpm.to(at::kBool).view({B, 1, S, 1}), -1e9);
  auto attn = at::softmax(scores, 2);
  if (dropout > 0) attn = at::dropout(attn, dropout, true);
  if (weights) *weights = attn.mean(3);
  return (attn.unsqueeze(-1) * v.unsqueeze(1)).sum(2);  // Σ_s a[b, l, s, h] v[b, s, h, :]
}

// attention(q, k, v, keyPadding|-1, attnMask|-1, dropout, train) → out, all (batch, length, heads, head dim).
FN(AttentionOp) {
  ENV;
  return Guard(info, "attention", [&]() -> Napi::Value {
    const auto& q = T(info, 0);
    const auto& k = T(info, 1);
    const auto& v = T(info, 2);
    return H(env, Attention(q, k, v, OptT(info, 3), OptT(info, 4), ARGD(5), ARGB(6), nullptr));
  });
}

// Multi-head attention, batch first: mha(q, k, v, heads, inW[3E,E], inB|-1, outW, outB|-1, keyPadding|-1 (bool, true = ignore),
// attnMask|-1 (additive float or bool), dropout, train, needWeights) → [out, weights|-1]
FN(Mha) {
  ENV;
  return Guard(info, "multiheadAttention", [&]() -> Napi::Value {
    const auto& q = T(info, 0);
    const auto& k = T(info, 1);
    const auto& v = T(info, 2);
    int64_t heads = ARGI(3);
    const auto& inW = T(info, 4);
    at::Tensor inB = OptT(info, 5);
    const auto& outW = T(info, 6);
    at::Tensor outB = OptT(info, 7);
    at::Tensor kpm = OptT(info, 8);
    at::Tensor am = OptT(info, 9);
    double p = ARGD(10);
    bool train = ARGB(11), needWeights = ARGB(12);
    if (q.dim() != 3) throw std::runtime_error("attention expects (batch, length, embed) inputs");
    int64_t B = q.size(0), L = q.size(1), E = q.size(2), S = k.size(1);
    if (E % heads != 0) throw std::runtime_error("embed dim " + std::to_string(E) + " not divisible by heads " + std::to_string(heads));
    int64_t Dh = E / heads;
    at::Tensor qp, kp, vp;
    if (q.is_same(k) && k.is_same(v)) {  // self-attention: one packed projection
      auto qkv = at::linear(q, inW, Opt(inB)).chunk(3, -1);
      qp = qkv[0]; kp = qkv[1]; vp = qkv[2];
    } else {
      auto ws = inW.chunk(3, 0);
      std::vector<at::Tensor> bs = inB.defined() ? inB.chunk(3, 0) : std::vector<at::Tensor>{at::Tensor(), at::Tensor(), at::Tensor()};
      qp = at::linear(q, ws[0], Opt(bs[0]));
      kp = at::linear(k, ws[1], Opt(bs[1]));
      vp = at::linear(v, ws[2], Opt(bs[2]));
    }
    at::Tensor w;
    auto out = Attention(qp.reshape({B, L, heads, Dh}), kp.reshape({B, S, heads, Dh}), vp.reshape({B, S, heads, Dh}), kpm, am, p, train,
                         needWeights ? &w : nullptr);
    out = at::linear(out.reshape({B, L, E}), outW, Opt(outB));
    return HandleArray(env, {out, w});
  });
}

// ---- convolution and padding ----
// conv1d(x (B, Cin, T), w (Cout, Cin/groups, K), b|-1, stride, padding, dilation, groups)
FN(Conv1d) {
  ENV;
  return Guard(info, "conv1d", [&]() -> Napi::Value {
    const auto& x = T(info, 0);
    const auto& w = T(info, 1);
    at::Tensor b = OptT(info, 2);
    return H(env, at::conv1d(x, w, Opt(b), {ARGI(3)}, {ARGI(4)}, {ARGI(5)}, ARGI(6)));
  });
}

// pad(x, pads, value): constant padding, pads as in torch.nn.functional.pad (last dim first: [left, right, ...]).
FN(Pad) {
  ENV;
  return Guard(info, "pad", [&]() -> Napi::Value { return H(env, at::constant_pad_nd(T(info, 0), IntList(info[1]), ARGD(2))); });
}

// Losses. reduction: 0 none, 1 mean, 2 sum (at::Reduction's values).
FN(Bce) {
  ENV;
  return Guard(info, "bce", [&]() -> Napi::Value {
    const auto& p = T(info, 0);
    const auto& y = T(info, 1);
    at::Tensor w = OptT(info, 2);
    return H(env, at::binary_cross_entropy(p, y, Opt(w), ARGI(3)));
  });
}
FN(BceWithLogits) {
  ENV;
  return Guard(info, "bceWithLogits", [&]() -> Napi::Value {
    const auto& x = T(info, 0);
    const auto& y = T(info, 1);
    at::Tensor w = OptT(info, 2), pw = OptT(info, 3);
    return H(env, at::binary_cross_entropy_with_logits(x, y, Opt(w), Opt(pw), ARGI(4)));
  });
}
FN(CrossEntropy) {
  ENV;
  return Guard(info, "crossEntropy", [&]() -> Napi::Value {
    const auto& x = T(info, 0);
    const auto& y = T(info, 1);
    at::Tensor w = OptT(info, 2);
    return H(env, at::cross_entropy_loss(x, y, Opt(w), ARGI(3), -100, ARGD(4)));
  });
}
FN(Mse) {
  ENV;
  return Guard(info, "mse", [&]() -> Napi::Value {
    const auto& a = T(info, 0);
    return H(env, at::mse_loss(a, T(info, 1), ARGI(2)));
  });
}

void RegisterNN(Napi::Env env, Napi::Object e) {
#define REG(js, fn) e.Set(js, Napi::Function::New(env, fn, js))
  REG("embedding", Embedding); REG("embeddingBag", EmbeddingBag); REG("layerNorm", LayerNorm); REG("dropout", Dropout);
  REG("gru", Gru); REG("attention", AttentionOp); REG("mha", Mha); REG("conv1d", Conv1d); REG("pad", Pad); REG("bce", Bce); REG("bceWithLogits", BceWithLogits); REG("crossEntropy", CrossEntropy);
  REG("mse", Mse);
#undef REG
}

}  // namespace cdmm
