// The part Adam, NAdam and RAdam share: the gradient as they read it (maximize,
// coupled or decoupled weight decay) and the first and second moment updates.
#pragma once

#include "../common.hpp"
#include "decayed_gradient.hpp"

PYOPTIM_BEGIN_NAMESPACE

template <class T>
struct AdamMoments {
  DecayedGradient<T> gradient;
  T param_scale, w1, w1_minus_one, beta2, one_minus_beta2;
  bool lerp_small;

  // Scalars formed once per step in double, rounded once to T.
  AdamMoments(double lr, double beta1, double beta2_, double wd, bool decoupled, bool maximize)
      : gradient(wd, maximize, decoupled),
        param_scale(decoupled ? T(1.0 - lr * wd) : T(1)),
        w1(T(1.0 - beta1)),
        w1_minus_one(-(T(1) - w1)),
        beta2(T(beta2_)),
        one_minus_beta2(T(1.0 - beta2_)),
        lerp_small(w1 < T(0.5)) {}

  struct Values {
    T p;  // the parameter after decoupled decay
    T g;  // the gradient as the moments see it
    T m;  // lerp(m, g, 1 - beta1), torch's lerp
    T v;  // beta2 v + (1 - beta2) g g
  };

  // Pure values in and out (no references into the arrays): that keeps the
  // compiler's vectorised loop as tight as the hand-inlined one.
  template <bool CoupledDecay, class Gradient>
  Values update(const Gradient& in, T param, T grad, T m, T v) const {
    const T p = param * param_scale;
    const T g = gradient.template read<CoupledDecay>(in, grad, p);
    return {p, g, lerp(m, g, w1, w1_minus_one, lerp_small), v * beta2 + one_minus_beta2 * g * g};
  }
};

PYOPTIM_END_NAMESPACE
