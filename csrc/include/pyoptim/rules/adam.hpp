// Adam (Kingma & Ba) with AMSGrad, maximize, and coupled (Adam) or decoupled
// (AdamW, Loshchilov & Hutter) weight decay: torch.optim.Adam / AdamW.
// With eps_hat, eps is added to the uncorrected sqrt(v) and the bias
// correction moves into the step size (TensorFlow, Keras, scikit-learn).
#pragma once

#include <cmath>

#include "../common.hpp"
#include "adam_moments.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct Adam {
  static constexpr const char* name = "adam";

  enum class Option : int {
    lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay, eps_hat, count
  };
  static constexpr const char* option_names[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad",
                                                 "maximize", "decoupled_weight_decay", "eps_hat"};
  static constexpr int n_options = int(Option::count);

  enum State : int { exp_avg, exp_avg_sq, max_exp_avg_sq, n_state };
  static constexpr const char* state_names[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

  static bool uses_state(const double* options, int state) {
    return state != max_exp_avg_sq || Options<Option>(options).flag(Option::amsgrad);
  }

  // Per-step scalars: bias corrections and step size are formed once per step
  // in double (as torch does in Python), then rounded once to T.
  template <class T>
  struct Step {
    AdamMoments<T> moments;
    T inv_bias_correction2_sqrt, eps, neg_step_size;
    bool amsgrad;

    Step(Options<Option> o, std::int64_t step)
        : moments(o[Option::lr], o[Option::beta1], o[Option::beta2], o[Option::weight_decay],
                  o.flag(Option::decoupled_weight_decay), o.flag(Option::maximize)) {
      const double bias_correction1 = 1.0 - std::pow(o[Option::beta1], double(step));
      const double bias_correction2 = 1.0 - std::pow(o[Option::beta2], double(step));
      eps = T(o[Option::eps]);
      if (o.flag(Option::eps_hat)) {
        inv_bias_correction2_sqrt = T(1);
        neg_step_size = T(-(o[Option::lr] * std::sqrt(bias_correction2) / bias_correction1));
      } else {
        inv_bias_correction2_sqrt = T(1.0 / std::sqrt(bias_correction2));
        neg_step_size = T(-(o[Option::lr] / bias_correction1));
      }
      amsgrad = o.flag(Option::amsgrad);
    }
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT m = state[exp_avg];
    T* PYOPTIM_RESTRICT v = state[exp_avg_sq];
    T* PYOPTIM_RESTRICT vmax = state[max_exp_avg_sq];
    with_flags({s.moments.gradient.coupled, s.amsgrad}, [&](auto coupled_decay, auto amsgrad) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const auto [p, g, mi, v_new] = s.moments.template update<coupled_decay>(in, param[i], grad[i], m[i], v[i]);
        m[i] = mi;
        v[i] = v_new;
        T vi = v_new;  // AMSGrad may raise it to the running maximum
        if constexpr (amsgrad) {
          vi = vmax[i] > vi ? vmax[i] : vi;
          vmax[i] = vi;
        }
        const T denom = std::sqrt(vi) * s.inv_bias_correction2_sqrt + s.eps;
        param[i] = p + s.neg_step_size * (mi / denom);
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
