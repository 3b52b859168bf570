// Adagrad (Duchi et al., 2011): torch.optim.Adagrad, plus eps inside the
// square root (Keras, many texts) as an option.
#pragma once

#include <cmath>

#include "../common.hpp"
#include "decayed_gradient.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct Adagrad {
  static constexpr const char* name = "adagrad";

  enum Option : int { lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt, n_options };
  static constexpr const char* option_names[n_options] = {"lr",       "lr_decay", "weight_decay",
                                                          "eps",      "maximize", "eps_inside_sqrt"};

  enum State : int { sum, n_state };
  static constexpr const char* state_names[n_state] = {"sum"};

  static bool uses_state(const double*, int) { return true; }

  template <class T>
  struct Step {
    DecayedGradient<T> gradient;
    T eps, neg_clr;
    bool eps_inside;

    Step(const double* o, std::int64_t step)
        : gradient(o[Adagrad::weight_decay], o[Adagrad::maximize] != 0.0),
          eps(T(o[Adagrad::eps])),
          neg_clr(T(-(o[Adagrad::lr] / (1.0 + double(step - 1) * o[Adagrad::lr_decay])))),
          eps_inside(o[Adagrad::eps_inside_sqrt] != 0.0) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT acc = state[sum];
    with_flags(
        [&](auto decay, auto eps_inside) {
          PYOPTIM_SIMD
          for (std::size_t i = 0; i < n; ++i) {
            const T g = s.gradient.template read<decay>(in, grad[i], param[i]);
            const T a = acc[i] + g * g;
            acc[i] = a;
            const T std_dev = eps_inside ? std::sqrt(a + s.eps) : std::sqrt(a) + s.eps;
            param[i] = param[i] + s.neg_clr * (g / std_dev);
          }
        },
        s.gradient.coupled, s.eps_inside);
  }
};

PYOPTIM_END_NAMESPACE
