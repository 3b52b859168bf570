// Adam (Kingma & Ba) with AMSGrad, maximize, and coupled (Adam) or decoupled
// (AdamW, Loshchilov & Hutter) weight decay: torch.optim.Adam / AdamW.
// With eps_hat, eps is added to the uncorrected sqrt(v) and the bias
// correction moves into the step size (TensorFlow, Keras, scikit-learn).
#pragma once

#include <cmath>

#include "../common.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct Adam {
  static constexpr const char* name = "adam";

  enum Option : int {
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    amsgrad,
    maximize,
    decoupled_weight_decay,
    eps_hat,
    n_options
  };
  static constexpr const char* option_names[n_options] = {
      "lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad", "maximize",
      "decoupled_weight_decay", "eps_hat"};

  enum State : int { exp_avg, exp_avg_sq, max_exp_avg_sq, n_state };
  static constexpr const char* state_names[n_state] = {"exp_avg", "exp_avg_sq",
                                                       "max_exp_avg_sq"};

  static bool uses_state(const double* options, int state) {
    return state != max_exp_avg_sq || options[amsgrad] != 0.0;
  }

  // Per-step scalars: bias corrections and step size are formed once per step
  // in double (as torch does in Python), then rounded once to T.
  template <class T>
  struct Step {
    T grad_sign, weight_decay, param_scale;
    T w1, w1_minus_one, beta2, one_minus_beta2;
    T inv_bias_correction2_sqrt, eps, neg_step_size;
    bool lerp_small, coupled_decay, amsgrad;

    Step(const double* o, std::int64_t step) {
      const double bias_correction1 = 1.0 - std::pow(o[Adam::beta1], double(step));
      const double bias_correction2 = 1.0 - std::pow(o[Adam::beta2], double(step));
      const bool decoupled = o[Adam::decoupled_weight_decay] != 0.0;
      grad_sign = o[Adam::maximize] != 0.0 ? T(-1) : T(1);
      weight_decay = T(o[Adam::weight_decay]);
      coupled_decay = !decoupled && o[Adam::weight_decay] != 0.0;
      param_scale = decoupled ? T(1.0 - o[Adam::lr] * o[Adam::weight_decay]) : T(1);
      w1 = T(1.0 - o[Adam::beta1]);
      w1_minus_one = -(T(1) - w1);
      lerp_small = w1 < T(0.5);
      beta2 = T(o[Adam::beta2]);
      one_minus_beta2 = T(1.0 - o[Adam::beta2]);
      eps = T(o[Adam::eps]);
      if (o[Adam::eps_hat] != 0.0) {
        inv_bias_correction2_sqrt = T(1);
        neg_step_size = T(-(o[Adam::lr] * std::sqrt(bias_correction2) / bias_correction1));
      } else {
        inv_bias_correction2_sqrt = T(1.0 / std::sqrt(bias_correction2));
        neg_step_size = T(-(o[Adam::lr] / bias_correction1));
      }
      amsgrad = o[Adam::amsgrad] != 0.0;
    }
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT m = state[exp_avg];
    T* PYOPTIM_RESTRICT v = state[exp_avg_sq];
    T* PYOPTIM_RESTRICT vmax = state[max_exp_avg_sq];
    with_flags(
        [&](auto coupled_decay, auto amsgrad) {
          PYOPTIM_SIMD
          for (std::size_t i = 0; i < n; ++i) {
            const T p = param[i] * s.param_scale;
            T g = in(grad[i]) * s.grad_sign;
            if constexpr (coupled_decay) g = g + s.weight_decay * p;
            const T mi = lerp(m[i], g, s.w1, s.w1_minus_one, s.lerp_small);
            T vi = v[i] * s.beta2 + s.one_minus_beta2 * g * g;
            m[i] = mi;
            v[i] = vi;
            if constexpr (amsgrad) {
              vi = vmax[i] > vi ? vmax[i] : vi;
              vmax[i] = vi;
            }
            const T denom = std::sqrt(vi) * s.inv_bias_correction2_sqrt + s.eps;
            param[i] = p + s.neg_step_size * (mi / denom);
          }
        },
        s.coupled_decay, s.amsgrad);
  }
};

PYOPTIM_END_NAMESPACE
