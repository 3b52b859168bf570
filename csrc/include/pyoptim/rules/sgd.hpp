// Stochastic gradient descent with momentum, dampening, Nesterov momentum,
// weight decay and maximize: torch.optim.SGD's update, element by element.
// With classic_momentum, the buffer holds the velocity v = momentum v - lr g
// and p += v (Sutskever et al., 2013; Keras), which differs from torch's form
// only when lr changes between steps.
#pragma once

#include "../common.hpp"
#include "decayed_gradient.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct SGD {
  static constexpr const char* name = "sgd";

  enum class Option : int {
    lr,
    momentum,
    dampening,
    weight_decay,
    nesterov,
    maximize,
    // 1 when the momentum buffer holds no history yet (torch creates it from
    // the first gradient instead of decaying zeros).
    momentum_buffer_is_new,
    classic_momentum,
    count
  };
  static constexpr const char* option_names[] = {
      "lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize",
      "momentum_buffer_is_new", "classic_momentum"};
  static constexpr int n_options = int(Option::count);

  enum State : int { momentum_buffer, n_state };
  static constexpr const char* state_names[] = {"momentum_buffer"};

  static bool uses_state(const double* options, int /*state*/) {
    return Options<Option>(options)[Option::momentum] != 0.0;
  }

  // Per-step scalars: formed once per step in double, rounded once to T.
  template <class T>
  struct Step {
    DecayedGradient<T> gradient;
    T neg_lr, momentum, one_minus_dampening, neg_lr_undamped;
    bool use_momentum, nesterov, buffer_is_new, classic;

    Step(Options<Option> o, std::int64_t /*step*/)
        : gradient(o[Option::weight_decay], o.flag(Option::maximize)),
          neg_lr(T(-o[Option::lr])),
          momentum(T(o[Option::momentum])),
          one_minus_dampening(T(1.0 - o[Option::dampening])),
          neg_lr_undamped(T(-o[Option::lr] * (1.0 - o[Option::dampening]))),
          use_momentum(o.flag(Option::momentum)),
          nesterov(o.flag(Option::nesterov)),
          buffer_is_new(o.flag(Option::momentum_buffer_is_new)),
          classic(o.flag(Option::classic_momentum)) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT buf = state[momentum_buffer];
    const bool has_momentum = s.use_momentum;
    with_flags({s.gradient.coupled, has_momentum, s.nesterov && has_momentum, s.classic && has_momentum},
               [&](auto decay, auto use_momentum, auto nesterov, auto classic) {
                 PYOPTIM_SIMD
                 for (std::size_t i = 0; i < n; ++i) {
                   T d = s.gradient.template read<decay>(in, grad[i], param[i]);
                   if constexpr (classic) {
                     const T v = buf[i] * s.momentum + s.neg_lr_undamped * d;
                     buf[i] = v;
                     param[i] = param[i] + (nesterov ? s.momentum * v + s.neg_lr * d : v);
                     continue;
                   }
                   if constexpr (use_momentum) {
                     const T b = s.buffer_is_new ? d : buf[i] * s.momentum + s.one_minus_dampening * d;
                     buf[i] = b;
                     d = nesterov ? d + s.momentum * b : b;
                   }
                   param[i] = param[i] + s.neg_lr * d;
                 }
               });
  }
};

PYOPTIM_END_NAMESPACE
