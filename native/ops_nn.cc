// Neural-network building blocks composed from ATen ops (no hand-written kernels): embeddings, normalisation,
// the fused GRU, multi-head attention, and the losses.
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
    bool self = q.is_same(k) && k.is_same(v);
    if (self) {
      auto qkv = at::linear(q, inW, Opt(inB)).chunk(3, -1);
      qp = qkv[0]; kp = qkv[1]; vp = qkv[2];
    } else {
      auto ws = inW.chunk(3, 0);
      std::vector<at::Tensor> bs = inB.defined() ? inB.chunk(3, 0) : std::vector<at::Tensor>{at::Tensor(), at::Tensor(), at::Tensor()};
      qp = at::linear(q, ws[0], Opt(bs[0]));
      kp = at::linear(k, ws[1], Opt(bs[1]));
      vp = at::linear(v, ws[2], Opt(bs[2]));
    }
    // (B, L, E) → (B·H, L, Dh)
    auto heads_of = [&](const at::Tensor& t, int64_t len) { return t.reshape({B, len, heads, Dh}).transpose(1, 2).reshape({B * heads, len, Dh}); };
    qp = heads_of(qp, L) * (1.0 / std::sqrt(static_cast<double>(Dh)));
    kp = heads_of(kp, S);
    vp = heads_of(vp, S);
    auto scores = at::bmm(qp, kp.transpose(1, 2));  // (B·H, L, S)
    if (am.defined()) {
      if (am.scalar_type() == at::kBool) scores = scores.masked_fill(am, -1e9);
      else scores = scores + am;
    }
    if (kpm.defined()) {
      // A large finite value rather than -inf: a row with every key masked gets uniform weights instead of NaN.
      auto m = kpm.to(at::kBool).view({B, 1, 1, S}).expand({B, heads, L, S}).reshape({B * heads, L, S});
      scores = scores.masked_fill(m, -1e9);
    }
    auto attn = at::softmax(scores, -1);
    if (p > 0 && train) attn = at::dropout(attn, p, true);
    auto out = at::bmm(attn, vp).reshape({B, heads, L, Dh}).transpose(1, 2).reshape({B, L, E});
    out = at::linear(out, outW, Opt(outB));
    at::Tensor w;
    if (needWeights) w = attn.view({B, heads, L, S}).mean(1);
    return HandleArray(env, {out, w});
  });
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
  REG("gru", Gru); REG("mha", Mha); REG("bce", Bce); REG("bceWithLogits", BceWithLogits); REG("crossEntropy", CrossEntropy);
  REG("mse", Mse);
#undef REG
}

}  // namespace cdmm
