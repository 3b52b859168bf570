// ASGD (Polyak and Juditsky, 1992; the schedule of Bottou, 2012, "Stochastic
// gradient descent tricks"): torch.optim.ASGD. Plain SGD with a decaying step
// eta and a decay term, plus a running average `ax` of the iterates that starts
// after step t0.
#pragma once

#include <algorithm>
#include <cmath>

#include "../common.hpp"
#include "decayed_gradient.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct ASGD {
  static constexpr const char* name = "asgd";

  enum class Option : int { lr, lambd, alpha, t0, weight_decay, maximize, count };
  static constexpr const char* option_names[] = {"lr", "lambd", "alpha", "t0", "weight_decay", "maximize"};
  static constexpr int n_options = int(Option::count);

  enum State : int { ax, n_state };
  static constexpr const char* state_names[] = {"ax"};

  static bool uses_state(const double*, int) { return true; }

  // eta: the step size; mu: the averaging weight. A step uses the values the
  // previous step left and then sets them from the step count (torch's order).
  enum Scalar : int { eta, mu, n_scalars };
  static constexpr const char* scalar_names[] = {"eta", "mu"};
  static constexpr bool advance_after_update = true;
  static void initial_scalars(const double* options, double* scalars) {
    scalars[eta] = Options<Option>(options)[Option::lr];
    scalars[mu] = 1.0;
  }
  template <class S>
  static void advance_scalars(const double* options, std::int64_t step, S* scalars) {
    const Options<Option> o(options);
    const double lr = o[Option::lr], t = double(step);
    scalars[eta] = S(lr / std::pow(1.0 + o[Option::lambd] * lr * t, o[Option::alpha]));
    scalars[mu] = S(1.0 / std::max(1.0, t - o[Option::t0]));
  }

  template <class T>
  struct Step {
    DecayedGradient<T> gradient;
    T param_scale, neg_eta, mu;
    bool averaging;  // mu != 1; else ax just copies the parameter

    Step(Options<Option> o, std::int64_t, const double* scalars)
        : gradient(o[Option::weight_decay], o.flag(Option::maximize)),
          param_scale(T(1.0 - o[Option::lambd] * scalars[ASGD::eta])),
          neg_eta(T(-scalars[ASGD::eta])),
          mu(T(scalars[ASGD::mu])),
          averaging(scalars[ASGD::mu] != 1.0) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT avg = state[ax];
    with_flags({s.gradient.coupled, s.averaging}, [&](auto decay, auto averaging) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const T g = s.gradient.template read<decay>(in, grad[i], param[i]);
        const T p = param[i] * s.param_scale + s.neg_eta * g;
        param[i] = p;
        avg[i] = averaging ? avg[i] + (p - avg[i]) * s.mu : p;
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
