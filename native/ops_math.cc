// Elementwise math, reductions and linear algebra. Ops are selected by small integer codes shared with
// src/engine/native.ts, so one N-API entry point serves a whole family.
#include "handles.h"

namespace cdmm {

static const char* kUnaryNames[] = {"neg", "exp", "log", "sqrt", "abs", "sigmoid", "tanh", "relu", "gelu", "logSigmoid",
                                    "softplus", "reciprocal", "square", "log1p", "sign", "floor", "ceil", "round", "logicalNot",
                                    "isnan", "sin", "cos", "isfinite", "rsqrt", "expm1"};

static at::Tensor UnaryOp(int op, const at::Tensor& x) {
  switch (op) {
    case 0: return x.neg();
    case 1: return x.exp();
    case 2: return x.log();
    case 3: return x.sqrt();
    case 4: return x.abs();
    case 5: return x.sigmoid();
    case 6: return x.tanh();
    case 7: return x.relu();
    case 8: return at::gelu(x);
    case 9: return at::log_sigmoid(x);
    case 10: return at::softplus(x);
    case 11: return x.reciprocal();
    case 12: return x.square();
    case 13: return x.log1p();
    case 14: return x.sign();
    case 15: return x.floor();
    case 16: return x.ceil();
    case 17: return x.round();
    case 18: return x.logical_not();
    case 19: return x.isnan();
    case 20: return x.sin();
    case 21: return x.cos();
    case 22: return x.isfinite();
    case 23: return x.rsqrt();
    case 24: return x.expm1();
  }
  throw std::runtime_error("unknown unary op");
}

FN(Unary) {
  ENV;
  int op = info[0].As<Napi::Number>().Int32Value();
  const char* name = op >= 0 && op < 25 ? kUnaryNames[op] : "unary";
  return Guard(info, name, [&]() -> Napi::Value { return H(env, UnaryOp(op, T(info, 1))); });
}

static const char* kBinaryNames[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
                                     "logicalAnd", "logicalOr", "rsub", "remainder", "atan2"};

template <typename B>
static at::Tensor BinaryOp(int op, const at::Tensor& a, const B& b) {
  switch (op) {
    case 0: return at::add(a, b);
    case 1: return at::sub(a, b);
    case 2: return at::mul(a, b);
    case 3: return at::div(a, b);
    case 4: return at::pow(a, b);
    case 7: return at::eq(a, b);
    case 8: return at::ne(a, b);
    case 9: return at::lt(a, b);
    case 10: return at::le(a, b);
    case 11: return at::gt(a, b);
    case 12: return at::ge(a, b);
    case 16: return at::remainder(a, b);
  }
  throw std::runtime_error("op not available for this operand kind");
}

FN(Binary) {
  ENV;
  int op = info[0].As<Napi::Number>().Int32Value();
  const char* name = op >= 0 && op < 18 ? kBinaryNames[op] : "binary";
  return Guard(info, name, [&]() -> Napi::Value {
    const auto& a = T(info, 1);
    const auto& b = T(info, 2);
    switch (op) {
      case 5: return H(env, at::maximum(a, b));
      case 6: return H(env, at::minimum(a, b));
      case 13: return H(env, at::logical_and(a, b));
      case 14: return H(env, at::logical_or(a, b));
      case 15: return H(env, at::sub(b, a));
      case 17: return H(env, at::atan2(a, b));
    }
    return H(env, BinaryOp(op, a, b));
  });
}

FN(BinaryScalar) {
  ENV;
  int op = info[0].As<Napi::Number>().Int32Value();
  const char* name = op >= 0 && op < 18 ? kBinaryNames[op] : "binary";
  return Guard(info, name, [&]() -> Napi::Value {
    const auto& a = T(info, 1);
    at::Scalar s(ARGD(2));
    switch (op) {
      case 5: return H(env, at::clamp_min(a, s));
      case 6: return H(env, at::clamp_max(a, s));
      case 15: return H(env, at::rsub(a, s));
    }
    return H(env, BinaryOp(op, a, s));
  });
}

FN(Clamp) {
  ENV;
  return Guard(info, "clamp", [&]() -> Napi::Value {
    c10::optional<at::Scalar> lo, hi;
    if (info[1].IsNumber()) lo = at::Scalar(ARGD(1));
    if (info[2].IsNumber()) hi = at::Scalar(ARGD(2));
    return H(env, at::clamp(T(info, 0), lo, hi));
  });
}

static const char* kReduceNames[] = {"sum", "mean", "max", "min", "argmax", "argmin", "logsumexp", "std", "var", "prod", "all", "any", "median", "norm"};

// reduce(op, h, dims|null, keepdim, unbiased)
FN(Reduce) {
  ENV;
  int op = info[0].As<Napi::Number>().Int32Value();
  const char* name = op >= 0 && op < 14 ? kReduceNames[op] : "reduce";
  return Guard(info, name, [&]() -> Napi::Value {
    const auto& x = T(info, 1);
    bool all = !(info[2].IsArray() || info[2].IsNumber());
    std::vector<int64_t> dims = all ? std::vector<int64_t>{} : IntList(info[2]);
    bool keep = info[3].IsBoolean() && ARGB(3);
    bool unbiased = !(info.Length() > 4 && info[4].IsBoolean()) || ARGB(4);
    auto single = [&]() -> int64_t {
      if (dims.size() != 1) throw std::runtime_error(std::string(name) + " takes exactly one dim");
      return dims[0];
    };
    switch (op) {
      case 0: return H(env, all ? x.sum() : x.sum(dims, keep));
      case 1: return H(env, all ? x.mean() : x.mean(dims, keep));
      case 2: return H(env, all ? x.max() : x.amax(dims, keep));
      case 3: return H(env, all ? x.min() : x.amin(dims, keep));
      case 4: return H(env, all ? x.argmax() : x.argmax(single(), keep));
      case 5: return H(env, all ? x.argmin() : x.argmin(single(), keep));
      case 6: {
        if (all) return H(env, x.flatten().logsumexp(0));
        return H(env, x.logsumexp(dims, keep));
      }
      case 7: return H(env, all ? x.std(unbiased) : x.std(dims, unbiased, keep));
      case 8: return H(env, all ? x.var(unbiased) : x.var(dims, unbiased, keep));
      case 9: return H(env, all ? x.prod() : x.prod(single(), keep));
      case 10: return H(env, all ? x.all() : x.all(single(), keep));
      case 11: return H(env, all ? x.any() : x.any(single(), keep));
      case 12: {
        if (all) return H(env, x.median());
        return H(env, std::get<0>(x.median(single(), keep)));
      }
      case 13: return H(env, all ? x.norm() : at::norm(x, 2, dims, keep));
    }
    throw std::runtime_error("unknown reduction");
  });
}

FN(Matmul) { ENV; return Guard(info, "matmul", [&]() -> Napi::Value { const auto& a = T(info, 0); return H(env, at::matmul(a, T(info, 1))); }); }
FN(Bmm) { ENV; return Guard(info, "bmm", [&]() -> Napi::Value { const auto& a = T(info, 0); return H(env, at::bmm(a, T(info, 1))); }); }
FN(Linear) {
  ENV;
  return Guard(info, "linear", [&]() -> Napi::Value {
    const auto& x = T(info, 0);
    const auto& w = T(info, 1);
    at::Tensor b = OptT(info, 2);
    return H(env, at::linear(x, w, b.defined() ? c10::optional<at::Tensor>(b) : c10::nullopt));
  });
}
FN(Cdist) { ENV; return Guard(info, "cdist", [&]() -> Napi::Value { const auto& a = T(info, 0); return H(env, at::cdist(a, T(info, 1), ARGD(2))); }); }
FN(Softmax) { ENV; return Guard(info, "softmax", [&]() -> Napi::Value { return H(env, at::softmax(T(info, 0), ARGI(1))); }); }
FN(LogSoftmax) { ENV; return Guard(info, "logSoftmax", [&]() -> Napi::Value { return H(env, at::log_softmax(T(info, 0), ARGI(1))); }); }
FN(Trace) { ENV; return Guard(info, "trace", [&]() -> Napi::Value { return H(env, at::trace(T(info, 0))); }); }
FN(Outer) { ENV; return Guard(info, "outer", [&]() -> Napi::Value { const auto& a = T(info, 0); return H(env, at::outer(a, T(info, 1))); }); }
FN(Cumsum) { ENV; return Guard(info, "cumsum", [&]() -> Napi::Value { return H(env, at::cumsum(T(info, 0), ARGI(1))); }); }
FN(Sort) {
  ENV;
  return Guard(info, "sort", [&]() -> Napi::Value {
    auto r = at::sort(T(info, 0), ARGI(1), ARGB(2));
    return HandleArray(env, {std::get<0>(r), std::get<1>(r)});
  });
}
FN(Topk) {
  ENV;
  return Guard(info, "topk", [&]() -> Napi::Value {
    auto r = at::topk(T(info, 0), ARGI(1), ARGI(2), ARGB(3));
    return HandleArray(env, {std::get<0>(r), std::get<1>(r)});
  });
}
FN(Allclose) {
  ENV;
  return Guard(info, "allclose", [&]() -> Napi::Value {
    const auto& a = T(info, 0);
    return Napi::Boolean::New(env, at::allclose(a, T(info, 1), ARGD(2), ARGD(3)));
  });
}
FN(Equal) { ENV; return Guard(info, "equal", [&]() -> Napi::Value { const auto& a = T(info, 0); return Napi::Boolean::New(env, at::equal(a, T(info, 1))); }); }

void RegisterMath(Napi::Env env, Napi::Object e) {
#define REG(js, fn) e.Set(js, Napi::Function::New(env, fn, js))
  REG("unary", Unary); REG("binary", Binary); REG("binaryScalar", BinaryScalar); REG("clamp", Clamp); REG("reduce", Reduce);
  REG("matmul", Matmul); REG("bmm", Bmm); REG("linear", Linear); REG("cdist", Cdist); REG("softmax", Softmax);
  REG("logSoftmax", LogSoftmax); REG("trace", Trace); REG("outer", Outer); REG("cumsum", Cumsum); REG("sort", Sort);
  REG("topk", Topk); REG("allclose", Allclose); REG("equal", Equal);
#undef REG
}

}  // namespace cdmm
