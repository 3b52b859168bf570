// LAMB (You et al., 2019, "Large Batch Optimization for Deep Learning"), as
// optax.lamb: Adam's direction plus decoupled weight decay, scaled per tensor
// by the trust ratio ||p|| / ||u||. Two passes: the first updates the moments
// and sums p^2 and u^2 over each tensor; the second recomputes u (the same
// bits) and moves the parameter by lr * ratio * u.
#pragma once

#include <cmath>

#include "../common.hpp"
#include "../reduction.hpp"
#include "trust_ratio.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct LAMB : TrustRatio {
  static constexpr const char* name = "lamb";

  enum class Option : int { lr, beta1, beta2, eps, weight_decay, bias_correction, trust_ratio, maximize, count };
  static constexpr const char* option_names[] = {"lr", "beta1", "beta2", "eps", "weight_decay",
                                                 "bias_correction", "trust_ratio", "maximize"};
  static constexpr int n_options = int(Option::count);

  enum State : int { exp_avg, exp_avg_sq, n_state };
  static constexpr const char* state_names[] = {"exp_avg", "exp_avg_sq"};

  static bool uses_state(const double*, int) { return true; }

  template <class T>
  struct Step {
    T grad_sign, beta1, one_minus_beta1, beta2, one_minus_beta2, correction1, correction2, eps, weight_decay;
    double lr;
    bool trust_ratio;

    Step(Options<Option> o, std::int64_t step)
        : grad_sign(o.flag(Option::maximize) ? T(-1) : T(1)),
          beta1(T(o[Option::beta1])),
          one_minus_beta1(T(1.0 - o[Option::beta1])),
          beta2(T(o[Option::beta2])),
          one_minus_beta2(T(1.0 - o[Option::beta2])),
          correction1(T(o.flag(Option::bias_correction) ? 1.0 / (1.0 - std::pow(o[Option::beta1], double(step))) : 1.0)),
          correction2(T(o.flag(Option::bias_correction) ? 1.0 / (1.0 - std::pow(o[Option::beta2], double(step))) : 1.0)),
          eps(T(o[Option::eps])),
          weight_decay(T(o[Option::weight_decay])),
          lr(o[Option::lr]),
          trust_ratio(o.flag(Option::trust_ratio)) {}
  };

  // The update direction from the (already updated) moments.
  template <class T>
  static T direction(const Step<T>& s, T m, T v, T p) {
    return (m * s.correction1) / (std::sqrt(v * s.correction2) + s.eps) + s.weight_decay * p;
  }

  template <class T, class Gradient>
  static void reduce(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state, double* sums) {
    T* PYOPTIM_RESTRICT m = state[exp_avg];
    T* PYOPTIM_RESTRICT v = state[exp_avg_sq];
    double p2[kNormLanes] = {}, u2[kNormLanes] = {};
    for (std::size_t j = 0; j < n; j += kNormLanes) {
      const std::size_t lanes = lanes_at(j, n);
      PYOPTIM_SIMD
      for (std::size_t k = 0; k < lanes; ++k) {
        const std::size_t i = j + k;
        const T g = in(grad[i]) * s.grad_sign;
        const T mi = s.beta1 * m[i] + s.one_minus_beta1 * g;
        const T vi = s.beta2 * v[i] + s.one_minus_beta2 * (g * g);
        m[i] = mi;
        v[i] = vi;
        const T u = direction(s, mi, vi, param[i]);
        p2[k] += double(param[i]) * double(param[i]);
        u2[k] += double(u) * double(u);
      }
    }
    sums[param_squares] = lane_total(p2);
    sums[update_squares] = lane_total(u2);
  }

  template <class T>
  static TensorStep<T> tensor_step(const Step<T>& s, const double* sums) {
    return scaled_step<T>(s.lr, s.trust_ratio, 1.0, 0.0, sums);  // ||p|| / ||u||
  }

  template <class T, class Gradient>
  static void update(const Step<T>& s, const TensorStep<T>& t, const Gradient&, std::size_t n,
                     T* PYOPTIM_RESTRICT param, const T* PYOPTIM_RESTRICT, T* const* state) {
    const T* PYOPTIM_RESTRICT m = state[exp_avg];
    const T* PYOPTIM_RESTRICT v = state[exp_avg_sq];
    PYOPTIM_SIMD
    for (std::size_t i = 0; i < n; ++i) param[i] = param[i] + t.neg_step * direction(s, m[i], v[i], param[i]);
  }
};

PYOPTIM_END_NAMESPACE
