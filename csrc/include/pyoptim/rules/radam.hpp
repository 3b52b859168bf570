// RAdam (Liu et al., 2020): torch.optim.RAdam, Adam with the variance of the
// adaptive learning rate rectified; plain momentum SGD while that variance is
// intractable (rho_t <= 5).
#pragma once

#include <cmath>

#include "../common.hpp"
#include "adam_moments.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct RAdam {
  static constexpr const char* name = "radam";

  enum class Option : int { lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize, count };
  static constexpr const char* option_names[] = {"lr", "beta1", "beta2", "eps", "weight_decay",
                                                 "decoupled_weight_decay", "maximize"};
  static constexpr int n_options = int(Option::count);

  enum State : int { exp_avg, exp_avg_sq, n_state };
  static constexpr const char* state_names[] = {"exp_avg", "exp_avg_sq"};

  static bool uses_state(const double*, int) { return true; }

  template <class T>
  struct Step {
    AdamMoments<T> moments;
    T eps, coef;
    bool rectified;

    Step(Options<Option> o, std::int64_t step)
        : moments(o[Option::lr], o[Option::beta1], o[Option::beta2], o[Option::weight_decay],
                  o.flag(Option::decoupled_weight_decay), o.flag(Option::maximize)) {
      const double lr = o[Option::lr], b1 = o[Option::beta1], b2 = o[Option::beta2];
      const double t = double(step);
      const double bias_correction1 = 1.0 - std::pow(b1, t);
      const double bias_correction2 = 1.0 - std::pow(b2, t);
      const double rho_inf = 2.0 / (1.0 - b2) - 1.0;
      const double rho_t = rho_inf - 2.0 * t * std::pow(b2, t) / bias_correction2;
      eps = T(o[Option::eps]);
      rectified = rho_t > 5.0;
      if (rectified) {
        const double rect =
            std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
        coef = T(-lr * rect * std::sqrt(bias_correction2) / bias_correction1);
      } else {
        coef = T(-lr / bias_correction1);
      }
    }
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT m = state[exp_avg];
    T* PYOPTIM_RESTRICT v = state[exp_avg_sq];
    with_flags({s.moments.gradient.coupled, s.rectified}, [&](auto coupled_decay, auto rectified) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const auto [p, g, mi, vi] = s.moments.template update<coupled_decay>(in, param[i], grad[i], m[i], v[i]);
        m[i] = mi;
        v[i] = vi;
        if constexpr (rectified)
          param[i] = p + s.coef * (mi / (std::sqrt(vi) + s.eps));
        else
          param[i] = p + s.coef * mi;
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
