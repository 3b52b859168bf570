// Muon's element-wise parts (Jordan et al., 2024; as torch.optim.Muon). A step
// of a matrix is: this rule's momentum pass (the buffer, and the update it
// hands to the orthogonalisation), Newton-Schulz iterations of matrix products
// (BLAS, in pyoptim/optim/muon.py), then this rule's apply pass. The momentum
// pass writes the update into the plan's param slot (a workspace); the apply
// pass reads the orthogonalised update from its grad slot.
#pragma once

#include "../common.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct Muon {
  static constexpr const char* name = "muon";

  enum class Option : int { lr, weight_decay, momentum, nesterov, apply, adjusted_lr, count };
  static constexpr const char* option_names[] = {"lr", "weight_decay", "momentum", "nesterov", "apply",
                                                 "adjusted_lr"};
  static constexpr int n_options = int(Option::count);

  enum State : int { momentum_buffer, n_state };
  static constexpr const char* state_names[] = {"momentum_buffer"};

  static bool uses_state(const double* options, int) { return options[int(Option::apply)] == 0.0; }

  template <class T>
  struct Step {
    T w, w_minus_one, mu, mu_minus_one, decay, neg_lr;
    bool small_w, small_mu, nesterov, apply;

    Step(Options<Option> o, std::int64_t)
        : w(T(1.0 - o[Option::momentum])),
          w_minus_one(-(T(1) - w)),
          mu(T(o[Option::momentum])),
          mu_minus_one(-(T(1) - mu)),
          decay(T(1.0 - o[Option::lr] * o[Option::weight_decay])),
          neg_lr(T(-o[Option::adjusted_lr])),
          small_w(w < T(0.5)),
          small_mu(mu < T(0.5)),
          nesterov(o.flag(Option::nesterov)),
          apply(o.flag(Option::apply)) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    if (s.apply) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) param[i] = param[i] * s.decay + s.neg_lr * grad[i];
      return;
    }
    T* PYOPTIM_RESTRICT buf = state[momentum_buffer];
    with_flags({s.nesterov}, [&](auto nesterov) {
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const T g = in(grad[i]);
        const T b = lerp(buf[i], g, s.w, s.w_minus_one, s.small_w);
        buf[i] = b;
        param[i] = nesterov ? lerp(g, b, s.mu, s.mu_minus_one, s.small_mu) : b;  // the update, into the workspace
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
