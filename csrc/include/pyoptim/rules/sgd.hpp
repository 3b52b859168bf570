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

  enum Option : int {
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
    n_options
  };
  static constexpr const char* option_names[n_options] = {
      "lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize",
      "momentum_buffer_is_new", "classic_momentum"};

  enum State : int { momentum_buffer, n_state };
  static constexpr const char* state_names[n_state] = {"momentum_buffer"};

  static bool uses_state(const double* options, int /*state*/) {
    return options[momentum] != 0.0;
  }

  // Per-step scalars: formed once per step in double, rounded once to T.
  template <class T>
  struct Step {
    DecayedGradient<T> gradient;
    T neg_lr, momentum, one_minus_dampening, neg_lr_undamped;
    bool use_momentum, nesterov, buffer_is_new, classic;

    Step(const double* o, std::int64_t /*step*/)
        : gradient(o[SGD::weight_decay], o[SGD::maximize] != 0.0),
          neg_lr(T(-o[SGD::lr])),
          momentum(T(o[SGD::momentum])),
          one_minus_dampening(T(1.0 - o[SGD::dampening])),
          neg_lr_undamped(T(-o[SGD::lr] * (1.0 - o[SGD::dampening]))),
          use_momentum(o[SGD::momentum] != 0.0),
          nesterov(o[SGD::nesterov] != 0.0),
          buffer_is_new(o[SGD::momentum_buffer_is_new] != 0.0),
          classic(o[SGD::classic_momentum] != 0.0) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT buf = state[momentum_buffer];
    with_flags(
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
        },
        s.gradient.coupled, s.use_momentum, s.nesterov && s.use_momentum, s.classic && s.use_momentum);
  }
};

PYOPTIM_END_NAMESPACE
