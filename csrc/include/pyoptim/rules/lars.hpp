// LARS (You et al., 2017, "Large Batch Training of Convolutional Networks"),
// as optax.lars: the gradient plus weight decay, scaled per tensor by the
// trust ratio trust_coefficient * ||p|| / (||u|| + eps) and by lr, then heavy-ball
// (or Nesterov) momentum. Two passes: the first sums p^2 and u^2 over each
// tensor, the second updates the momentum and the parameter.
#pragma once

#include <cmath>

#include "../common.hpp"
#include "../reduction.hpp"
#include "trust_ratio.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct LARS : TrustRatio {
  static constexpr const char* name = "lars";

  enum class Option : int { lr, momentum, weight_decay, trust_coefficient, eps, nesterov, trust_ratio, maximize, count };
  static constexpr const char* option_names[] = {"lr", "momentum", "weight_decay", "trust_coefficient", "eps",
                                                 "nesterov", "trust_ratio", "maximize"};
  static constexpr int n_options = int(Option::count);

  enum State : int { momentum_buffer, n_state };
  static constexpr const char* state_names[] = {"momentum_buffer"};

  static bool uses_state(const double* options, int) { return Options<Option>(options)[Option::momentum] != 0.0; }

  template <class T>
  struct Step {
    T grad_sign, weight_decay, momentum;
    double lr, trust_coefficient, eps;
    bool use_momentum, nesterov, trust_ratio;

    Step(Options<Option> o, std::int64_t)
        : grad_sign(o.flag(Option::maximize) ? T(-1) : T(1)),
          weight_decay(T(o[Option::weight_decay])),
          momentum(T(o[Option::momentum])),
          lr(o[Option::lr]),
          trust_coefficient(o[Option::trust_coefficient]),
          eps(o[Option::eps]),
          use_momentum(o.flag(Option::momentum)),
          nesterov(o.flag(Option::nesterov)),
          trust_ratio(o.flag(Option::trust_ratio)) {}
  };

  template <class T, class Gradient>
  static T direction(const Step<T>& s, const Gradient& in, T grad, T p) {
    return in(grad) * s.grad_sign + s.weight_decay * p;
  }

  template <class T, class Gradient>
  static void reduce(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const*, double* sums) {
    double p2[kNormLanes] = {}, u2[kNormLanes] = {};
    for (std::size_t j = 0; j < n; j += kNormLanes) {
      const std::size_t lanes = lanes_at(j, n);
      PYOPTIM_SIMD
      for (std::size_t k = 0; k < lanes; ++k) {
        const std::size_t i = j + k;
        const T u = direction(s, in, grad[i], param[i]);
        p2[k] += double(param[i]) * double(param[i]);
        u2[k] += double(u) * double(u);
      }
    }
    sums[param_squares] = lane_total(p2);
    sums[update_squares] = lane_total(u2);
  }

  template <class T>
  static TensorStep<T> tensor_step(const Step<T>& s, const double* sums) {
    return scaled_step<T>(s.lr, s.trust_ratio, s.trust_coefficient, s.eps, sums);
  }

  template <class T, class Gradient>
  static void update(const Step<T>& s, const TensorStep<T>& t, const Gradient& in, std::size_t n,
                     T* PYOPTIM_RESTRICT param, const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT buf = state[momentum_buffer];
    with_flags({s.use_momentum, s.use_momentum && s.nesterov}, [&](auto use_momentum, auto nesterov) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const T step = t.neg_step * direction(s, in, grad[i], param[i]);
        if constexpr (use_momentum) {
          const T b = step + s.momentum * buf[i];
          buf[i] = b;
          param[i] = param[i] + (nesterov ? step + s.momentum * b : b);
        } else {
          param[i] = param[i] + step;
        }
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
