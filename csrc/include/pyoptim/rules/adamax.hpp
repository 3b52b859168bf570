// Adamax (Kingma & Ba, 2015, section 7.1): torch.optim.Adamax, Adam with the
// infinity norm in place of the second moment.
#pragma once

#include <cmath>

#include "../common.hpp"
#include "decayed_gradient.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct Adamax {
  static constexpr const char* name = "adamax";

  enum class Option : int { lr, beta1, beta2, eps, weight_decay, maximize, count };
  static constexpr const char* option_names[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "maximize"};
  static constexpr int n_options = int(Option::count);

  enum State : int { exp_avg, exp_inf, n_state };
  static constexpr const char* state_names[] = {"exp_avg", "exp_inf"};

  static bool uses_state(const double*, int) { return true; }

  template <class T>
  struct Step {
    DecayedGradient<T> gradient;
    T w1, w1_minus_one, beta2, eps, neg_clr;
    bool lerp_small;

    Step(Options<Option> o, std::int64_t step)
        : gradient(o[Option::weight_decay], o.flag(Option::maximize)),
          w1(T(1.0 - o[Option::beta1])),
          w1_minus_one(-(T(1) - w1)),
          beta2(T(o[Option::beta2])),
          eps(T(o[Option::eps])),
          neg_clr(T(-(o[Option::lr] / (1.0 - std::pow(o[Option::beta1], double(step)))))),
          lerp_small(w1 < T(0.5)) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT m = state[exp_avg];
    T* PYOPTIM_RESTRICT u = state[exp_inf];
    with_flags({s.gradient.coupled}, [&](auto decay) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const T g = s.gradient.template read<decay>(in, grad[i], param[i]);
        const T mi = lerp(m[i], g, s.w1, s.w1_minus_one, s.lerp_small);
        m[i] = mi;
        const T decayed = u[i] * s.beta2, fresh = std::fabs(g) + s.eps;
        const T ui = decayed > fresh ? decayed : fresh;
        u[i] = ui;
        param[i] = param[i] + s.neg_clr * (mi / ui);
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
