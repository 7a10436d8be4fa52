// Tensor creation, conversion, shape and indexing ops, autograd controls, memory and global settings.
#include "handles.h"
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <cstring>
#include <dlfcn.h>
#include <torch/version.h>

namespace cdmm {

// OpenBLAS runs libtorch's matrix products on its own thread pool, which at::set_num_threads does not reach (the
// pthread build of Debian's libopenblas0 starts one thread per core). The thread setting must hold for it too.
using BlasSetThreads = void (*)(int);
using BlasGetThreads = int (*)();
static void* OpenBlas() {
  for (const char* lib : {"libopenblas.so.0", "libblas.so.3"}) {
    void* h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);  // only a library libtorch already loaded
    if (h && dlsym(h, "openblas_set_num_threads")) return h;
  }
  return nullptr;
}
void SetThreads(int n) {
  at::set_num_threads(n);
  static void* blas = OpenBlas();
  if (blas) reinterpret_cast<BlasSetThreads>(dlsym(blas, "openblas_set_num_threads"))(n);
}
static int BlasThreads() {
  static void* blas = OpenBlas();
  return blas ? reinterpret_cast<BlasGetThreads>(dlsym(blas, "openblas_get_num_threads"))() : -1;
}

static at::TensorOptions Opts(int code) { return at::TensorOptions().dtype(DType(code)); }

// fromBuffer(typedArray, shape, dtypeCode): copies the bytes; the typed array's element type must match dtype.
FN(FromBuffer) {
  ENV;
  return Guard(info, "fromBuffer", [&]() -> Napi::Value {
    auto ta = info[0].As<Napi::TypedArray>();
    auto shape = IntList(info[1]);
    auto dt = DType(info[2].As<Napi::Number>().Int32Value());
    auto t = at::empty(shape, at::TensorOptions().dtype(dt));
    size_t bytes = t.numel() * t.element_size();
    if (bytes != ta.ByteLength())
      throw std::runtime_error("data has " + std::to_string(ta.ByteLength()) + " bytes, shape needs " + std::to_string(bytes));
    auto buf = ta.ArrayBuffer();
    std::memcpy(t.data_ptr(), static_cast<uint8_t*>(buf.Data()) + ta.ByteOffset(), bytes);
    return H(env, t);
  });
}

// toBuffer(h): a fresh ArrayBuffer with the tensor's contiguous bytes, plus the dtype code.
FN(ToBuffer) {
  ENV;
  return Guard(info, "toBuffer", [&]() -> Napi::Value {
    auto t = T(info, 0).detach().contiguous();
    size_t bytes = t.numel() * t.element_size();
    auto ab = Napi::ArrayBuffer::New(env, bytes);
    if (bytes) std::memcpy(ab.Data(), t.data_ptr(), bytes);
    return ab;
  });
}

FN(Item) {
  ENV;
  return Guard(info, "item", [&]() -> Napi::Value {
    const auto& t = T(info, 0);
    if (t.numel() != 1) throw std::runtime_error("item() needs a tensor with one element, got " + std::to_string(t.numel()));
    if (t.scalar_type() == at::kBool) return Napi::Number::New(env, t.item<bool>() ? 1 : 0);
    return Napi::Number::New(env, t.item<double>());
  });
}

FN(Shape) {
  ENV;
  return Guard(info, "shape", [&]() -> Napi::Value {
    const auto& t = T(info, 0);
    auto a = Napi::Array::New(env, t.dim());
    for (int64_t i = 0; i < t.dim(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, t.size(i)));
    return a;
  });
}

FN(Dim) { ENV; return Guard(info, "dim", [&]() -> Napi::Value { return Napi::Number::New(env, T(info, 0).dim()); }); }
FN(Numel) { ENV; return Guard(info, "numel", [&]() -> Napi::Value { return Napi::Number::New(env, T(info, 0).numel()); }); }
FN(DTypeOf) { ENV; return Guard(info, "dtype", [&]() -> Napi::Value { return Napi::Number::New(env, DTypeCode(T(info, 0).scalar_type())); }); }

FN(Release_) {
  if (info[0].IsNumber()) Release(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}
FN(ReleaseMany) {
  auto a = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) Release(a.Get(i).As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}
FN(Memory) {
  ENV;
  auto o = Napi::Object::New(env);
  o.Set("tensors", Napi::Number::New(env, static_cast<double>(LiveCount())));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(LiveBytes())));
  return o;
}
FN(ManualSeed) { at::manual_seed(static_cast<uint64_t>(ARGI(0))); return info.Env().Undefined(); }
FN(SetNumThreads) { SetThreads(static_cast<int>(ARGI(0))); return info.Env().Undefined(); }
FN(BlasThreads_) { return Napi::Number::New(info.Env(), BlasThreads()); }
FN(GetNumThreads) { return Napi::Number::New(info.Env(), at::get_num_threads()); }
FN(Version) {
  return Napi::String::New(info.Env(), std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH));
}

// ---- creation ----
FN(Zeros) { ENV; return Guard(info, "zeros", [&]() -> Napi::Value { return H(env, at::zeros(IntList(info[0]), Opts(ARGI(1)))); }); }
FN(Ones) { ENV; return Guard(info, "ones", [&]() -> Napi::Value { return H(env, at::ones(IntList(info[0]), Opts(ARGI(1)))); }); }
FN(Full) { ENV; return Guard(info, "full", [&]() -> Napi::Value { return H(env, at::full(IntList(info[0]), ARGD(1), Opts(ARGI(2)))); }); }
FN(Arange) { ENV; return Guard(info, "arange", [&]() -> Napi::Value { return H(env, at::arange(ARGD(0), ARGD(1), ARGD(2), Opts(ARGI(3)))); }); }
FN(Eye) { ENV; return Guard(info, "eye", [&]() -> Napi::Value { return H(env, at::eye(ARGI(0), ARGI(1), Opts(ARGI(2)))); }); }
FN(Rand) { ENV; return Guard(info, "rand", [&]() -> Napi::Value { return H(env, at::rand(IntList(info[0]), Opts(ARGI(1)))); }); }
FN(Randn) { ENV; return Guard(info, "randn", [&]() -> Napi::Value { return H(env, at::randn(IntList(info[0]), Opts(ARGI(1)))); }); }
FN(Randint) { ENV; return Guard(info, "randint", [&]() -> Napi::Value { return H(env, at::randint(ARGI(0), ARGI(1), IntList(info[2]), Opts(2))); }); }
FN(Randperm) { ENV; return Guard(info, "randperm", [&]() -> Napi::Value { return H(env, at::randperm(ARGI(0), Opts(2))); }); }
FN(Bernoulli) { ENV; return Guard(info, "bernoulli", [&]() -> Napi::Value { return H(env, at::bernoulli(T(info, 0))); }); }
FN(BernoulliP) { ENV; return Guard(info, "bernoulli", [&]() -> Napi::Value { return H(env, at::empty(IntList(info[0]), Opts(ARGI(2))).bernoulli_(ARGD(1))); }); }

// ---- dtype, copies ----
FN(To) { ENV; return Guard(info, "to", [&]() -> Napi::Value { return H(env, T(info, 0).to(DType(ARGI(1)))); }); }
FN(Clone) { ENV; return Guard(info, "clone", [&]() -> Napi::Value { return H(env, T(info, 0).clone()); }); }
FN(Contiguous) { ENV; return Guard(info, "contiguous", [&]() -> Napi::Value { return H(env, T(info, 0).contiguous()); }); }

// ---- shape and indexing ----
FN(Reshape) { ENV; return Guard(info, "reshape", [&]() -> Napi::Value { return H(env, T(info, 0).reshape(IntList(info[1]))); }); }
FN(View) { ENV; return Guard(info, "view", [&]() -> Napi::Value { return H(env, T(info, 0).view(IntList(info[1]))); }); }
FN(Transpose) { ENV; return Guard(info, "transpose", [&]() -> Napi::Value { return H(env, T(info, 0).transpose(ARGI(1), ARGI(2))); }); }
FN(Permute) { ENV; return Guard(info, "permute", [&]() -> Napi::Value { return H(env, T(info, 0).permute(IntList(info[1]))); }); }
FN(Squeeze) {
  ENV;
  return Guard(info, "squeeze", [&]() -> Napi::Value {
    const auto& t = T(info, 0);
    return H(env, info.Length() > 1 && info[1].IsNumber() ? t.squeeze(ARGI(1)) : t.squeeze());
  });
}
FN(Unsqueeze) { ENV; return Guard(info, "unsqueeze", [&]() -> Napi::Value { return H(env, T(info, 0).unsqueeze(ARGI(1))); }); }
FN(Expand) { ENV; return Guard(info, "expand", [&]() -> Napi::Value { return H(env, T(info, 0).expand(IntList(info[1]))); }); }
FN(Repeat) { ENV; return Guard(info, "repeat", [&]() -> Napi::Value { return H(env, T(info, 0).repeat(IntList(info[1]))); }); }
FN(Flip) { ENV; return Guard(info, "flip", [&]() -> Napi::Value { return H(env, T(info, 0).flip(IntList(info[1]))); }); }
FN(Flatten) { ENV; return Guard(info, "flatten", [&]() -> Napi::Value { return H(env, T(info, 0).flatten(ARGI(1), ARGI(2))); }); }
FN(Slice) {
  ENV;
  return Guard(info, "slice", [&]() -> Napi::Value {
    const auto& t = T(info, 0);
    c10::optional<int64_t> start, end;
    if (info[2].IsNumber()) start = ARGI(2);
    if (info[3].IsNumber()) end = ARGI(3);
    return H(env, t.slice(ARGI(1), start, end, ARGI(4)));
  });
}
FN(Narrow) { ENV; return Guard(info, "narrow", [&]() -> Napi::Value { return H(env, T(info, 0).narrow(ARGI(1), ARGI(2), ARGI(3))); }); }
FN(Select) { ENV; return Guard(info, "select", [&]() -> Napi::Value { return H(env, T(info, 0).select(ARGI(1), ARGI(2))); }); }
FN(IndexSelect) { ENV; return Guard(info, "indexSelect", [&]() -> Napi::Value { const auto& t = T(info, 0); return H(env, t.index_select(ARGI(1), T(info, 2))); }); }
FN(Gather) { ENV; return Guard(info, "gather", [&]() -> Napi::Value { const auto& t = T(info, 0); return H(env, t.gather(ARGI(1), T(info, 2))); }); }
FN(Scatter) {
  ENV;
  return Guard(info, "scatter", [&]() -> Napi::Value {
    const auto& t = T(info, 0);
    const auto& idx = T(info, 2);
    return H(env, t.scatter(ARGI(1), idx, T(info, 3)));
  });
}
FN(ScatterAdd) {
  ENV;
  return Guard(info, "scatterAdd", [&]() -> Napi::Value {
    const auto& t = T(info, 0);
    const auto& idx = T(info, 2);
    return H(env, t.scatter_add(ARGI(1), idx, T(info, 3)));
  });
}
FN(MaskedFill) { ENV; return Guard(info, "maskedFill", [&]() -> Napi::Value { const auto& t = T(info, 0); return H(env, t.masked_fill(T(info, 1), ARGD(2))); }); }
FN(Where) {
  ENV;
  return Guard(info, "where", [&]() -> Napi::Value {
    const auto& c = T(info, 0);
    const auto& a = T(info, 1);
    return H(env, at::where(c, a, T(info, 2)));
  });
}
FN(Cat) { ENV; return Guard(info, "cat", [&]() -> Napi::Value { return H(env, at::cat(TensorList(info[0]), ARGI(1))); }); }
FN(Stack) { ENV; return Guard(info, "stack", [&]() -> Napi::Value { return H(env, at::stack(TensorList(info[0]), ARGI(1))); }); }
FN(Split) {
  ENV;
  return Guard(info, "split", [&]() -> Napi::Value {
    const auto& t = T(info, 0);
    if (info[1].IsArray()) return HandleArray(env, t.split_with_sizes(IntList(info[1]), ARGI(2)));
    return HandleArray(env, t.split(ARGI(1), ARGI(2)));
  });
}

// ---- autograd ----
FN(SetRequiresGrad) { ENV; return Guard(info, "requiresGrad", [&]() -> Napi::Value { auto t = T(info, 0); t.set_requires_grad(ARGB(1)); return env.Undefined(); }); }
FN(RequiresGrad) { ENV; return Guard(info, "requiresGrad", [&]() -> Napi::Value { return Napi::Boolean::New(env, T(info, 0).requires_grad()); }); }
FN(Backward) {
  ENV;
  return Guard(info, "backward", [&]() -> Napi::Value {
    const auto& t = T(info, 0);
    at::Tensor g = OptT(info, 1);
    bool retain = info.Length() > 2 && info[2].IsBoolean() && ARGB(2);
    t.backward(g, retain);
    return env.Undefined();
  });
}
FN(Grad) {
  ENV;
  return Guard(info, "grad", [&]() -> Napi::Value {
    const auto& g = T(info, 0).grad();
    return Napi::Number::New(env, g.defined() ? Put(g) : -1);
  });
}
FN(ZeroGrad) {
  ENV;
  return Guard(info, "zeroGrad", [&]() -> Napi::Value {
    auto t = T(info, 0);
    t.mutable_grad().reset();
    return env.Undefined();
  });
}
FN(Detach) { ENV; return Guard(info, "detach", [&]() -> Napi::Value { return H(env, T(info, 0).detach()); }); }
FN(SetGradEnabled) {
  bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(ARGB(0));
  return Napi::Boolean::New(info.Env(), prev);
}
FN(IsGradEnabled) { return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); }

// ---- in-place (used by initialisers, optimizers written in TS, and loading weights) ----
FN(Copy_) {
  ENV;
  return Guard(info, "copy_", [&]() -> Napi::Value {
    at::NoGradGuard ng;
    auto dst = T(info, 0);
    dst.copy_(T(info, 1));
    return env.Undefined();
  });
}
// retype_(h, dtype): swaps the tensor behind a handle for a converted leaf, keeping requires_grad (Module.to).
FN(Retype_) {
  ENV;
  return Guard(info, "retype_", [&]() -> Napi::Value {
    at::Tensor t = T(info, 0);
    bool rg = t.requires_grad();
    auto n = t.detach().to(DType(info[1].As<Napi::Number>().Int32Value())).set_requires_grad(rg);
    Replace(info[0].As<Napi::Number>().Int32Value(), n);
    return env.Undefined();
  });
}
FN(Uniform_) { ENV; return Guard(info, "uniform_", [&]() -> Napi::Value { at::NoGradGuard ng; auto t = T(info, 0); t.uniform_(ARGD(1), ARGD(2)); return env.Undefined(); }); }
FN(Normal_) { ENV; return Guard(info, "normal_", [&]() -> Napi::Value { at::NoGradGuard ng; auto t = T(info, 0); t.normal_(ARGD(1), ARGD(2)); return env.Undefined(); }); }
FN(Fill_) { ENV; return Guard(info, "fill_", [&]() -> Napi::Value { at::NoGradGuard ng; auto t = T(info, 0); t.fill_(ARGD(1)); return env.Undefined(); }); }

void RegisterTensor(Napi::Env env, Napi::Object e) {
#define REG(js, fn) e.Set(js, Napi::Function::New(env, fn, js))
  REG("fromBuffer", FromBuffer); REG("toBuffer", ToBuffer); REG("item", Item); REG("shape", Shape); REG("dim", Dim);
  REG("numel", Numel); REG("dtype", DTypeOf); REG("release", Release_); REG("releaseMany", ReleaseMany);
  REG("memory", Memory); REG("manualSeed", ManualSeed); REG("setNumThreads", SetNumThreads);
  REG("getNumThreads", GetNumThreads); REG("blasThreads", BlasThreads_); REG("version", Version);
  REG("zeros", Zeros); REG("ones", Ones); REG("full", Full); REG("arange", Arange); REG("eye", Eye); REG("rand", Rand);
  REG("randn", Randn); REG("randint", Randint); REG("randperm", Randperm); REG("bernoulli", Bernoulli); REG("bernoulliP", BernoulliP);
  REG("to", To); REG("clone", Clone); REG("contiguous", Contiguous);
  REG("reshape", Reshape); REG("view", View); REG("transpose", Transpose); REG("permute", Permute); REG("squeeze", Squeeze);
  REG("unsqueeze", Unsqueeze); REG("expand", Expand); REG("repeat", Repeat); REG("flatten", Flatten); REG("flip", Flip); REG("slice", Slice);
  REG("narrow", Narrow); REG("select", Select); REG("indexSelect", IndexSelect); REG("gather", Gather); REG("scatter", Scatter);
  REG("scatterAdd", ScatterAdd); REG("maskedFill", MaskedFill); REG("where", Where); REG("cat", Cat); REG("stack", Stack); REG("split", Split);
  REG("setRequiresGrad", SetRequiresGrad); REG("requiresGrad", RequiresGrad); REG("backward", Backward); REG("grad", Grad);
  REG("zeroGrad", ZeroGrad); REG("detach", Detach); REG("setGradEnabled", SetGradEnabled); REG("isGradEnabled", IsGradEnabled);
  REG("copy_", Copy_); REG("retype_", Retype_); REG("uniform_", Uniform_); REG("normal_", Normal_); REG("fill_", Fill_);
#undef REG
}

}  // namespace cdmm
