// RMSprop (Hinton's lecture 6e): torch.optim.RMSprop with momentum and the
// centered variant, plus eps inside the square root (Keras) as an option.
#pragma once

#include <cmath>

#include "../common.hpp"
#include "decayed_gradient.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct RMSprop {
  static constexpr const char* name = "rmsprop";

  enum class Option : int { lr, alpha, eps, weight_decay, momentum, centered, maximize, eps_inside_sqrt, count };
  static constexpr const char* option_names[] = {
      "lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize", "eps_inside_sqrt"};
  static constexpr int n_options = int(Option::count);

  enum State : int { square_avg, momentum_buffer, grad_avg, n_state };
  static constexpr const char* state_names[] = {"square_avg", "momentum_buffer", "grad_avg"};

  static bool uses_state(const double* options, int state) {
    const Options<Option> o(options);
    if (state == momentum_buffer) return o[Option::momentum] > 0.0;
    if (state == grad_avg) return o.flag(Option::centered);
    return true;
  }

  template <class T>
  struct Step {
    DecayedGradient<T> gradient;
    T alpha, one_minus_alpha, w, w_minus_one, eps, momentum, neg_lr;
    bool use_momentum, centered, eps_inside, lerp_small;

    Step(Options<Option> o, std::int64_t)
        : gradient(o[Option::weight_decay], o.flag(Option::maximize)),
          alpha(T(o[Option::alpha])),
          one_minus_alpha(T(1.0 - o[Option::alpha])),
          w(one_minus_alpha),
          w_minus_one(-(T(1) - one_minus_alpha)),
          eps(T(o[Option::eps])),
          momentum(T(o[Option::momentum])),
          neg_lr(T(-o[Option::lr])),
          use_momentum(o[Option::momentum] > 0.0),
          centered(o.flag(Option::centered)),
          eps_inside(o.flag(Option::eps_inside_sqrt)),
          lerp_small(one_minus_alpha < T(0.5)) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT sq = state[square_avg];
    T* PYOPTIM_RESTRICT buf = state[momentum_buffer];
    T* PYOPTIM_RESTRICT ga = state[grad_avg];
    with_flags({s.gradient.coupled, s.use_momentum, s.centered}, [&](auto decay, auto use_momentum, auto centered) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const T g = s.gradient.template read<decay>(in, grad[i], param[i]);
        const T v = sq[i] * s.alpha + s.one_minus_alpha * g * g;
        sq[i] = v;
        T var = v;
        if constexpr (centered) {
          const T mean = lerp(ga[i], g, s.w, s.w_minus_one, s.lerp_small);
          ga[i] = mean;
          var = v - mean * mean;
        }
        const T avg = s.eps_inside ? std::sqrt(var + s.eps) : std::sqrt(var) + s.eps;
        if constexpr (use_momentum) {
          const T b = buf[i] * s.momentum + g / avg;
          buf[i] = b;
          param[i] = param[i] + s.neg_lr * b;
        } else {
          param[i] = param[i] + s.neg_lr * (g / avg);
        }
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
