#include "handles.h"
#include <sstream>
#include <ATen/Parallel.h>

namespace cdmm {

static std::vector<at::Tensor> g_table;
static std::vector<int32_t> g_free;
static size_t g_live = 0;
static std::vector<const at::Tensor*> g_args;

int32_t Put(at::Tensor t) {
  g_live++;
  if (!g_free.empty()) {
    int32_t h = g_free.back();
    g_free.pop_back();
    g_table[h] = std::move(t);
    return h;
  }
  g_table.push_back(std::move(t));
  return static_cast<int32_t>(g_table.size() - 1);
}

void Release(int32_t h) {
  if (h < 0 || static_cast<size_t>(h) >= g_table.size() || !g_table[h].defined()) return;
  g_table[h].reset();
  g_free.push_back(h);
  g_live--;
}

void Replace(int32_t h, at::Tensor t) { g_table.at(h) = std::move(t); }

size_t LiveCount() { return g_live; }

size_t LiveBytes() {
  size_t total = 0;
  for (const auto& t : g_table)
    if (t.defined()) total += t.numel() * t.element_size();
  return total;
}

static const at::Tensor& Lookup(const Napi::Env& env, const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "expected a tensor");
  int32_t h = v.As<Napi::Number>().Int32Value();
  if (h < 0 || static_cast<size_t>(h) >= g_table.size() || !g_table[h].defined())
    throw Napi::Error::New(env, "tensor was disposed (or never existed)");
  return g_table[h];
}

const at::Tensor& T(const Napi::CallbackInfo& info, size_t i) {
  const at::Tensor& t = Lookup(info.Env(), info[i]);
  g_args.push_back(&t);
  return t;
}

at::Tensor OptT(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || info[i].IsUndefined() || info[i].IsNull()) return at::Tensor();
  if (info[i].IsNumber() && info[i].As<Napi::Number>().Int32Value() < 0) return at::Tensor();
  return T(info, i);
}

void ResetArgs() { g_args.clear(); }

const char* DTypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kBool: return "bool";
    default: return "other";
  }
}

std::string DescribeArgs() {
  std::ostringstream s;
  for (size_t i = 0; i < g_args.size(); i++) {
    if (i) s << ", ";
    const at::Tensor& t = *g_args[i];
    s << DTypeName(t.scalar_type()) << "[";
    for (int64_t d = 0; d < t.dim(); d++) s << (d ? "," : "") << t.size(d);
    s << "]";
  }
  return s.str();
}

std::vector<int64_t> IntList(const Napi::Value& v) {
  std::vector<int64_t> out;
  if (v.IsNumber()) { out.push_back(v.As<Napi::Number>().Int64Value()); return out; }
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "expected an array of integers");
  auto a = v.As<Napi::Array>();
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::Number>().Int64Value());
  return out;
}

std::vector<at::Tensor> TensorList(const Napi::Value& v) {
  auto a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    const at::Tensor& t = Lookup(v.Env(), a.Get(i));
    g_args.push_back(&t);
    out.push_back(t);
  }
  return out;
}

// Codes shared with src/engine/dtype.ts.
at::ScalarType DType(int code) {
  switch (code) {
    case 0: return at::kFloat;
    case 1: return at::kDouble;
    case 2: return at::kLong;
    case 3: return at::kBool;
    case 4: return at::kInt;
    default: throw std::runtime_error("unknown dtype code " + std::to_string(code));
  }
}

int DTypeCode(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return 0;
    case at::kDouble: return 1;
    case at::kLong: return 2;
    case at::kBool: return 3;
    case at::kInt: return 4;
    default: return -1;
  }
}

Napi::Value HandleArray(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto a = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) a.Set(i, ts[i].defined() ? Napi::Number::New(env, Put(ts[i])) : Napi::Number::New(env, -1));
  return a;
}

}  // namespace cdmm

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  cdmm::SetThreads(1);
  cdmm::RegisterTensor(env, exports);
  cdmm::RegisterMath(env, exports);
  cdmm::RegisterNN(env, exports);
  cdmm::RegisterOptim(env, exports);
  return exports;
}

NODE_API_MODULE(cdmm_native, Init)
