// Adadelta (Zeiler, 2012): torch.optim.Adadelta.
#pragma once

#include <cmath>

#include "../common.hpp"
#include "decayed_gradient.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct Adadelta {
  static constexpr const char* name = "adadelta";

  enum class Option : int { lr, rho, eps, weight_decay, maximize, count };
  static constexpr const char* option_names[] = {"lr", "rho", "eps", "weight_decay", "maximize"};
  static constexpr int n_options = int(Option::count);

  enum State : int { square_avg, acc_delta, n_state };
  static constexpr const char* state_names[] = {"square_avg", "acc_delta"};

  static bool uses_state(const double*, int) { return true; }

  template <class T>
  struct Step {
    DecayedGradient<T> gradient;
    T rho, one_minus_rho, eps, neg_lr;

    Step(Options<Option> o, std::int64_t)
        : gradient(o[Option::weight_decay], o.flag(Option::maximize)),
          rho(T(o[Option::rho])),
          one_minus_rho(T(1.0 - o[Option::rho])),
          eps(T(o[Option::eps])),
          neg_lr(T(-o[Option::lr])) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT sq = state[square_avg];
    T* PYOPTIM_RESTRICT acc = state[acc_delta];
    with_flags({s.gradient.coupled}, [&](auto decay) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const T g = s.gradient.template read<decay>(in, grad[i], param[i]);
        const T v = sq[i] * s.rho + s.one_minus_rho * g * g;
        sq[i] = v;
        const T delta = std::sqrt(acc[i] + s.eps) / std::sqrt(v + s.eps) * g;
        acc[i] = acc[i] * s.rho + s.one_minus_rho * delta * delta;
        param[i] = param[i] + s.neg_lr * delta;
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
