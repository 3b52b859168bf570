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

  enum Option : int { lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize, n_options };
  static constexpr const char* option_names[n_options] = {
      "lr", "beta1", "beta2", "eps", "weight_decay", "decoupled_weight_decay", "maximize"};

  enum State : int { exp_avg, exp_avg_sq, n_state };
  static constexpr const char* state_names[n_state] = {"exp_avg", "exp_avg_sq"};

  static bool uses_state(const double*, int) { return true; }

  template <class T>
  struct Step {
    AdamMoments<T> moments;
    T eps, coef;
    bool rectified;

    Step(const double* o, std::int64_t step)
        : moments(o[RAdam::lr], o[RAdam::beta1], o[RAdam::beta2], o[RAdam::weight_decay],
                  o[RAdam::decoupled_weight_decay] != 0.0, o[RAdam::maximize] != 0.0) {
      const double lr_ = o[RAdam::lr], b1 = o[RAdam::beta1], b2 = o[RAdam::beta2];
      const double t = double(step);
      const double bias_correction1 = 1.0 - std::pow(b1, t);
      const double bias_correction2 = 1.0 - std::pow(b2, t);
      const double rho_inf = 2.0 / (1.0 - b2) - 1.0;
      const double rho_t = rho_inf - 2.0 * t * std::pow(b2, t) / bias_correction2;
      eps = T(o[RAdam::eps]);
      rectified = rho_t > 5.0;
      if (rectified) {
        const double rect =
            std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
        coef = T(-lr_ * rect * std::sqrt(bias_correction2) / bias_correction1);
      } else {
        coef = T(-lr_ / bias_correction1);
      }
    }
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT m = state[exp_avg];
    T* PYOPTIM_RESTRICT v = state[exp_avg_sq];
    with_flags(
        [&](auto coupled_decay, auto rectified) {
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
        },
        s.moments.gradient.coupled, s.rectified);
  }
};

PYOPTIM_END_NAMESPACE
