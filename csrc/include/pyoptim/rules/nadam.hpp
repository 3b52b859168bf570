// NAdam (Dozat, 2016): torch.optim.NAdam, with momentum decay and optional
// decoupled weight decay.
#pragma once

#include <cmath>

#include "../common.hpp"
#include "adam_moments.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct NAdam {
  static constexpr const char* name = "nadam";

  enum class Option : int {
    lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize, momentum_decay, count
  };
  static constexpr const char* option_names[] = {"lr", "beta1", "beta2", "eps", "weight_decay",
                                                 "decoupled_weight_decay", "maximize", "momentum_decay"};
  static constexpr int n_options = int(Option::count);

  enum State : int { exp_avg, exp_avg_sq, n_state };
  static constexpr const char* state_names[] = {"exp_avg", "exp_avg_sq"};

  static bool uses_state(const double*, int) { return true; }

  // The product mu_1 ... mu_t of the momentum coefficients so far, kept per
  // parameter (torch keeps it as a 0-d tensor in the parameter's state).
  enum Scalar : int { mu_product, n_scalars };
  static constexpr const char* scalar_names[] = {"mu_product"};
  static void initial_scalars(const double*, double* scalars) { scalars[mu_product] = 1.0; }

  // Dozat's momentum schedule: mu_t = beta1 (1 - 0.96^(t psi) / 2).
  static double momentum_coefficient(Options<Option> o, std::int64_t step) {
    return o[Option::beta1] * (1.0 - 0.5 * std::pow(0.96, double(step) * o[Option::momentum_decay]));
  }

  // mu_product after step `step`, in the precision S it is kept in.
  template <class S>
  static void advance_scalars(const double* options, std::int64_t step, S* scalars) {
    scalars[mu_product] = scalars[mu_product] * S(momentum_coefficient(options, step));
  }

  template <class T>
  struct Step {
    AdamMoments<T> moments;
    T inv_bias_correction2_sqrt, eps, grad_coef, exp_avg_coef;

    Step(Options<Option> o, std::int64_t step, const double* scalars)
        : moments(o[Option::lr], o[Option::beta1], o[Option::beta2], o[Option::weight_decay],
                  o.flag(Option::decoupled_weight_decay), o.flag(Option::maximize)) {
      const double lr = o[Option::lr];
      const double bias_correction2 = 1.0 - std::pow(o[Option::beta2], double(step));
      const double mu = momentum_coefficient(o, step), mu_next = momentum_coefficient(o, step + 1);
      const double product = scalars[mu_product];
      inv_bias_correction2_sqrt = T(1.0 / std::sqrt(bias_correction2));
      eps = T(o[Option::eps]);
      grad_coef = T(-lr * (1.0 - mu) / (1.0 - product));
      exp_avg_coef = T(-lr * mu_next / (1.0 - product * mu_next));
    }
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT m = state[exp_avg];
    T* PYOPTIM_RESTRICT v = state[exp_avg_sq];
    with_flags({s.moments.gradient.coupled}, [&](auto coupled_decay) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const auto [p, g, mi, vi] = s.moments.template update<coupled_decay>(in, param[i], grad[i], m[i], v[i]);
        m[i] = mi;
        v[i] = vi;
        const T denom = std::sqrt(vi) * s.inv_bias_correction2_sqrt + s.eps;
        param[i] = p + (s.grad_coef * g + s.exp_avg_coef * mi) / denom;
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
