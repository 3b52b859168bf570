// RAdam (Liu et al., 2020): torch.optim.RAdam, Adam with the variance of the
// adaptive learning rate rectified; plain momentum SGD while that variance is
// intractable (rho_t <= 5).
#pragma once

#include <cmath>

#include "../common.hpp"

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
    T grad_sign, weight_decay, param_scale, w1, w1_minus_one, beta2, one_minus_beta2, eps, coef;
    bool coupled_decay, lerp_small, rectified;

    Step(const double* o, std::int64_t step) {
      const double lr_ = o[RAdam::lr], wd = o[RAdam::weight_decay], b1 = o[RAdam::beta1], b2 = o[RAdam::beta2];
      const bool decoupled = o[RAdam::decoupled_weight_decay] != 0.0;
      const double t = double(step);
      const double bias_correction1 = 1.0 - std::pow(b1, t);
      const double bias_correction2 = 1.0 - std::pow(b2, t);
      const double rho_inf = 2.0 / (1.0 - b2) - 1.0;
      const double rho_t = rho_inf - 2.0 * t * std::pow(b2, t) / bias_correction2;
      grad_sign = o[RAdam::maximize] != 0.0 ? T(-1) : T(1);
      weight_decay = T(wd);
      coupled_decay = !decoupled && wd != 0.0;
      param_scale = decoupled ? T(1.0 - lr_ * wd) : T(1);
      w1 = T(1.0 - b1);
      w1_minus_one = -(T(1) - w1);
      lerp_small = w1 < T(0.5);
      beta2 = T(b2);
      one_minus_beta2 = T(1.0 - b2);
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
            const T p = param[i] * s.param_scale;
            T g = in(grad[i]) * s.grad_sign;
            if constexpr (coupled_decay) g = g + s.weight_decay * p;
            const T mi = lerp(m[i], g, s.w1, s.w1_minus_one, s.lerp_small);
            const T vi = v[i] * s.beta2 + s.one_minus_beta2 * g * g;
            m[i] = mi;
            v[i] = vi;
            if constexpr (rectified)
              param[i] = p + s.coef * (mi / (std::sqrt(vi) + s.eps));
            else
              param[i] = p + s.coef * mi;
          }
        },
        s.coupled_decay, s.rectified);
  }
};

PYOPTIM_END_NAMESPACE
