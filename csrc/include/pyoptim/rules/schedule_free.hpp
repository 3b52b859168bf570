// Schedule-Free AdamW and SGD (Defazio et al., 2024, "The Road Less Scheduled"),
// as the authors' schedulefree package (AdamWScheduleFree, SGDScheduleFree):
// the parameter holds y, the point where gradients are taken; the state holds
// z, the base optimizer's iterate; x, the average of the z's that evaluation
// uses, is y and z combined (x = (y - (1 - beta1) z) / beta1), so it is not
// stored. A step, with c the weight of this step in the average:
//   u = g / (sqrt(v / (1 - beta2^t)) + eps)  (AdamW; v = beta2 v + (1 - beta2) g^2)
//   u = g                                    (SGD)
//   u = u + weight_decay * y
//   y = lerp(y, z, c) + lr (beta1 (1 - c) - 1) u   (lerp as torch.lerp computes it)
//   z = z - lr u
#pragma once

#include <algorithm>
#include <cmath>

#include "../common.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct ScheduleFree {
  static constexpr const char* name = "schedule_free";

  // adaptive: AdamW (else SGD). z_is_new: z starts from the parameter this step.
  enum class Option : int {
    lr, beta1, beta2, eps, weight_decay, warmup_steps, r, weight_lr_power, adaptive, z_is_new, count
  };
  static constexpr const char* option_names[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "warmup_steps",
                                                 "r", "weight_lr_power", "adaptive", "z_is_new"};
  static constexpr int n_options = int(Option::count);

  enum State : int { z, exp_avg_sq, n_state };
  static constexpr const char* state_names[] = {"z", "exp_avg_sq"};

  static bool uses_state(const double* options, int state) {
    return state == z || Options<Option>(options).flag(Option::adaptive);
  }

  // The largest scheduled lr so far and the sum of the average's weights (the
  // package keeps both in each param group).
  enum Scalar : int { lr_max, weight_sum, n_scalars };
  static constexpr const char* scalar_names[] = {"lr_max", "weight_sum"};
  static void initial_scalars(const double*, double* scalars) {
    scalars[lr_max] = -1.0;
    scalars[weight_sum] = 0.0;
  }

  // The warmed-up lr of step `step` (from 1).
  static double scheduled_lr(Options<Option> o, std::int64_t step) {
    const double warmup = o[Option::warmup_steps];
    return o[Option::lr] * (double(step) <= warmup ? double(step) / warmup : 1.0);
  }
  static double weight(Options<Option> o, std::int64_t step, double lr_max_now) {
    return std::pow(double(step), o[Option::r]) * std::pow(lr_max_now, o[Option::weight_lr_power]);
  }
  template <class S>
  static void advance_scalars(const double* options, std::int64_t step, S* scalars) {
    const Options<Option> o(options);
    scalars[lr_max] = S(std::max(scheduled_lr(o, step), double(scalars[lr_max])));
    scalars[weight_sum] = S(double(scalars[weight_sum]) + weight(o, step, double(scalars[lr_max])));
  }

  template <class T>
  struct Step {
    T beta2, one_minus_beta2, bias_correction2, eps, weight_decay, average, average_minus_one, y_step, z_step;
    bool adaptive, decay, z_is_new, lerp_small;

    Step(Options<Option> o, std::int64_t step, const double* scalars) {
      const double lr = scheduled_lr(o, step), w = weight(o, step, scalars[lr_max]);
      const double c = scalars[weight_sum] == 0.0 ? 0.0 : w / scalars[weight_sum];
      beta2 = T(o[Option::beta2]);
      one_minus_beta2 = T(1.0 - o[Option::beta2]);
      bias_correction2 = T(1.0 - std::pow(o[Option::beta2], double(step)));
      eps = T(o[Option::eps]);
      weight_decay = T(o[Option::weight_decay]);
      average = T(c);
      average_minus_one = -(T(1) - average);
      lerp_small = average < T(0.5);
      y_step = T(lr * (o[Option::beta1] * (1.0 - c) - 1.0));
      z_step = T(-lr);
      adaptive = o.flag(Option::adaptive);
      decay = o[Option::weight_decay] != 0.0;
      z_is_new = o.flag(Option::z_is_new);
    }
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT zs = state[z];
    T* PYOPTIM_RESTRICT v = state[exp_avg_sq];
    with_flags({s.adaptive, s.decay, s.z_is_new}, [&](auto adaptive, auto decay, auto z_is_new) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const T y = param[i], g = in(grad[i]);
        T u = g;
        if constexpr (adaptive) {
          const T vi = v[i] * s.beta2 + s.one_minus_beta2 * (g * g);
          v[i] = vi;
          u = g / (std::sqrt(vi / s.bias_correction2) + s.eps);
        }
        if constexpr (decay) u = u + s.weight_decay * y;
        const T zi = z_is_new ? y : zs[i];
        param[i] = lerp(y, zi, s.average, s.average_minus_one, s.lerp_small) + s.y_step * u;
        zs[i] = zi + s.z_step * u;
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
