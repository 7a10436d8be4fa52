// Handle table: JS holds small integers, C++ holds the at::Tensor objects.
// Integers cross the N-API boundary far faster than wrapped objects, and release is explicit (no GC finalizers).
#pragma once
#define NAPI_CPP_EXCEPTIONS
#include <napi.h>
#include <ATen/ATen.h>
#include <string>
#include <vector>

namespace cdmm {

int32_t Put(at::Tensor t);
void Release(int32_t h);
void Replace(int32_t h, at::Tensor t);
size_t LiveCount();
size_t LiveBytes();
// Intra-op threads for libtorch and for OpenBLAS when that is the BLAS in use.
void SetThreads(int n);

// Fetches argument i as a tensor handle, remembering it so an error can name the shapes involved.
const at::Tensor& T(const Napi::CallbackInfo& info, size_t i);
// Like T, but -1 (or undefined/null) gives an undefined tensor (an absent optional input).
at::Tensor OptT(const Napi::CallbackInfo& info, size_t i);
void ResetArgs();
std::string DescribeArgs();

std::vector<int64_t> IntList(const Napi::Value& v);
std::vector<at::Tensor> TensorList(const Napi::Value& v);
at::ScalarType DType(int code);
int DTypeCode(at::ScalarType t);
const char* DTypeName(at::ScalarType t);
Napi::Value HandleArray(Napi::Env env, const std::vector<at::Tensor>& ts);

// Runs body, turning any libtorch error into a JS Error that names the op and its tensor arguments.
template <typename F>
Napi::Value Guard(const Napi::CallbackInfo& info, const char* op, F&& body) {
  ResetArgs();
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    auto nl = msg.find('\n');
    if (nl != std::string::npos && nl > 0) msg = msg.substr(0, nl);
    throw Napi::Error::New(info.Env(), std::string(op) + "(" + DescribeArgs() + "): " + msg);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + "(" + DescribeArgs() + "): " + e.what());
  }
}

// Shorthands for the binding functions: each takes the call info and reads typed arguments by position.
#define FN(name) static Napi::Value name(const Napi::CallbackInfo& info)
#define ENV Napi::Env env = info.Env()
#define ARGI(i) info[i].As<Napi::Number>().Int64Value()
#define ARGD(i) info[i].As<Napi::Number>().DoubleValue()
#define ARGB(i) info[i].As<Napi::Boolean>().Value()

inline Napi::Number H(Napi::Env env, at::Tensor t) { return Napi::Number::New(env, Put(std::move(t))); }

void RegisterTensor(Napi::Env env, Napi::Object exports);
void RegisterMath(Napi::Env env, Napi::Object exports);
void RegisterNN(Napi::Env env, Napi::Object exports);
void RegisterOptim(Napi::Env env, Napi::Object exports);

}  // namespace cdmm
