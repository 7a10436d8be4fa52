// Optimizers: libtorch's own Adam, AdamW and SGD, held in a table and stepped with one call per batch.
#include "handles.h"
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/nn/utils/clip_grad.h>
#include <memory>

namespace cdmm {

static std::vector<std::unique_ptr<torch::optim::Optimizer>> g_optims;

static torch::optim::Optimizer& Get(const Napi::CallbackInfo& info) {
  int64_t id = ARGI(0);
  if (id < 0 || static_cast<size_t>(id) >= g_optims.size() || !g_optims[id]) throw std::runtime_error("optimizer was freed");
  return *g_optims[id];
}

// optimCreate(kind 0=adam 1=adamw 2=sgd, params[], {lr, beta1, beta2, eps, weightDecay, momentum, nesterov, amsgrad})
FN(OptimCreate) {
  ENV;
  return Guard(info, "optimizer", [&]() -> Napi::Value {
    int kind = info[0].As<Napi::Number>().Int32Value();
    auto params = TensorList(info[1]);
    auto o = info[2].As<Napi::Object>();
    auto num = [&](const char* k, double d) { auto v = o.Get(k); return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : d; };
    auto flag = [&](const char* k) { auto v = o.Get(k); return v.IsBoolean() && v.As<Napi::Boolean>().Value(); };
    std::unique_ptr<torch::optim::Optimizer> opt;
    if (kind == 0) {
      opt = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(num("lr", 1e-3))
          .betas({num("beta1", 0.9), num("beta2", 0.999)}).eps(num("eps", 1e-8)).weight_decay(num("weightDecay", 0)).amsgrad(flag("amsgrad")));
    } else if (kind == 1) {
      opt = std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(num("lr", 1e-3))
          .betas({num("beta1", 0.9), num("beta2", 0.999)}).eps(num("eps", 1e-8)).weight_decay(num("weightDecay", 1e-2)).amsgrad(flag("amsgrad")));
    } else if (kind == 2) {
      opt = std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(num("lr", 1e-2))
          .momentum(num("momentum", 0)).weight_decay(num("weightDecay", 0)).nesterov(flag("nesterov")));
    } else {
      throw std::runtime_error("unknown optimizer kind");
    }
    g_optims.push_back(std::move(opt));
    return Napi::Number::New(env, static_cast<double>(g_optims.size() - 1));
  });
}

FN(OptimStep) { ENV; return Guard(info, "optimizer.step", [&]() -> Napi::Value { Get(info).step(); return env.Undefined(); }); }
FN(OptimZeroGrad) {
  ENV;
  return Guard(info, "optimizer.zeroGrad", [&]() -> Napi::Value {
    // Like PyTorch's set_to_none=True: frees the gradients instead of filling them with zeros.
    for (auto& g : Get(info).param_groups())
      for (auto& p : g.params()) p.mutable_grad().reset();
    return env.Undefined();
  });
}
FN(OptimSetLr) {
  ENV;
  return Guard(info, "optimizer.setLr", [&]() -> Napi::Value {
    for (auto& g : Get(info).param_groups()) g.options().set_lr(ARGD(1));
    return env.Undefined();
  });
}
FN(OptimFree) {
  int64_t id = ARGI(0);
  if (id >= 0 && static_cast<size_t>(id) < g_optims.size()) g_optims[id].reset();
  return info.Env().Undefined();
}

FN(ClipGradNorm) {
  ENV;
  return Guard(info, "clipGradNorm", [&]() -> Napi::Value {
    auto params = TensorList(info[0]);
    return Napi::Number::New(env, torch::nn::utils::clip_grad_norm_(params, ARGD(1), 2.0));
  });
}

void RegisterOptim(Napi::Env env, Napi::Object e) {
#define REG(js, fn) e.Set(js, Napi::Function::New(env, fn, js))
  REG("optimCreate", OptimCreate); REG("optimStep", OptimStep); REG("optimZeroGrad", OptimZeroGrad);
  REG("optimSetLr", OptimSetLr); REG("optimFree", OptimFree); REG("clipGradNorm", ClipGradNorm);
#undef REG
}

}  // namespace cdmm
