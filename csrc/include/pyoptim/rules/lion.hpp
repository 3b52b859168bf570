// Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms"):
// the sign of an interpolated momentum, with decoupled weight decay. No torch
// twin; follows the paper's Algorithm 2.
#pragma once

#include "../common.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct Lion {
  static constexpr const char* name = "lion";

  enum class Option : int { lr, beta1, beta2, weight_decay, maximize, count };
  static constexpr const char* option_names[] = {"lr", "beta1", "beta2", "weight_decay", "maximize"};
  static constexpr int n_options = int(Option::count);

  enum State : int { exp_avg, n_state };
  static constexpr const char* state_names[] = {"exp_avg"};

  static bool uses_state(const double*, int) { return true; }

  template <class T>
  struct Step {
    T grad_sign, param_scale, beta1, one_minus_beta1, beta2, one_minus_beta2, neg_lr;

    Step(Options<Option> o, std::int64_t)
        : grad_sign(o.flag(Option::maximize) ? T(-1) : T(1)),
          param_scale(T(1.0 - o[Option::lr] * o[Option::weight_decay])),
          beta1(T(o[Option::beta1])),
          one_minus_beta1(T(1.0 - o[Option::beta1])),
          beta2(T(o[Option::beta2])),
          one_minus_beta2(T(1.0 - o[Option::beta2])),
          neg_lr(T(-o[Option::lr])) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT m = state[exp_avg];
    PYOPTIM_SIMD
    for (std::size_t i = 0; i < n; ++i) {
      const T g = in(grad[i]) * s.grad_sign;
      const T c = s.beta1 * m[i] + s.one_minus_beta1 * g;
      // sign(c), keeping NaN as NaN so that a bad gradient stays visible
      const T direction = c > T(0) ? T(1) : (c < T(0) ? T(-1) : c);
      param[i] = param[i] * s.param_scale + s.neg_lr * direction;
      m[i] = s.beta2 * m[i] + s.one_minus_beta2 * g;
    }
  }
};

PYOPTIM_END_NAMESPACE
