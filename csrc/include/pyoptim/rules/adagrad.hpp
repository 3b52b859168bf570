// Adagrad (Duchi et al., 2011): torch.optim.Adagrad, plus eps inside the
// square root (Keras, many texts) as an option.
#pragma once

#include <cmath>

#include "../common.hpp"
#include "decayed_gradient.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct Adagrad {
  static constexpr const char* name = "adagrad";

  enum class Option : int { lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt, count };
  static constexpr const char* option_names[] = {"lr", "lr_decay", "weight_decay", "eps", "maximize",
                                                 "eps_inside_sqrt"};
  static constexpr int n_options = int(Option::count);

  enum State : int { sum, n_state };
  static constexpr const char* state_names[] = {"sum"};

  static bool uses_state(const double*, int) { return true; }

  template <class T>
  struct Step {
    DecayedGradient<T> gradient;
    T eps, neg_clr;
    bool eps_inside;

    Step(Options<Option> o, std::int64_t step)
        : gradient(o[Option::weight_decay], o.flag(Option::maximize)),
          eps(T(o[Option::eps])),
          neg_clr(T(-(o[Option::lr] / (1.0 + double(step - 1) * o[Option::lr_decay])))),
          eps_inside(o.flag(Option::eps_inside_sqrt)) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT acc = state[sum];
    with_flags({s.gradient.coupled, s.eps_inside}, [&](auto decay, auto eps_inside) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const T g = s.gradient.template read<decay>(in, grad[i], param[i]);
        const T a = acc[i] + g * g;
        acc[i] = a;
        const T std_dev = eps_inside ? std::sqrt(a + s.eps) : std::sqrt(a) + s.eps;
        param[i] = param[i] + s.neg_clr * (g / std_dev);
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
